package spec

import (
	"fmt"
	"os"
	"path/filepath"
	"syscall"
)

// maxBodyFile bounds workload.body_file: the body is held in memory and sent with every
// request.
const maxBodyFile = 64 << 20

// fileField is a field of a plan that names a file or a folder smp reads (or, for
// targets_file, writes).
type fileField struct {
	path   string  // canonical plan path
	value  *string // the field
	folder bool    // it names a folder
	writes bool    // smp writes the file: its folder must exist
	limit  int64   // largest file accepted (0: any)
}

func (p *Plan) fileFields() []fileField {
	w := &p.Workload
	fs := []fileField{
		{path: "workload.body_file", value: &w.BodyFile, limit: maxBodyFile},
		{path: "workload.agent_certs", value: &w.AgentCerts, folder: true},
		{path: "workload.tls.ca_file", value: &w.TLS.CAFile},
		{path: "workload.tls.cert_file", value: &w.TLS.CertFile},
		{path: "workload.tls.key_file", value: &w.TLS.KeyFile},
		{path: "environment.kubeconfig", value: &p.Environment.Kubeconfig},
	}
	for i := range p.Metrics.Collectors {
		c := &p.Metrics.Collectors[i]
		at := fmt.Sprintf("metrics.collectors[%d]", i)
		fs = append(fs, fileField{path: at + ".bearer_token_file", value: &c.BearerTokenFile},
			fileField{path: at + ".targets_file", value: &c.TargetsFile, writes: true})
	}
	return fs
}

// resolvePaths makes the files the plan names absolute: relative to baseDir (the plan's
// folder), "~/" to the home folder. Everything downstream then opens them as they are.
func (p *Plan) resolvePaths(baseDir string) {
	for _, f := range p.fileFields() {
		if *f.value == "" {
			continue
		}
		path := resolvePath(baseDir, *f.value)
		if abs, err := filepath.Abs(path); err == nil {
			path = abs
		}
		*f.value = path
	}
}

// CheckFiles checks that every file the plan names can be used: request bodies, CA and
// client certificates and keys, the kubeconfig, bearer tokens and agent credentials
// exist and are files (agent_certs: a folder), and the folder of a targets_file exists.
// Relative paths are taken from baseDir ("" for the working folder). It returns Errors
// with the position of each field; Load calls it, after which paths are absolute.
func (p *Plan) CheckFiles(baseDir string) error {
	var errs Errors
	for _, f := range p.fileFields() {
		if *f.value == "" {
			continue
		}
		path := resolvePath(baseDir, *f.value)
		if f.writes {
			path = filepath.Dir(path)
		}
		st, err := os.Stat(path)
		switch {
		case os.IsNotExist(err) && f.writes:
			errs = append(errs, p.Errorf(f.path, "create the folder, or write the file elsewhere", "folder %s does not exist", path))
		case os.IsNotExist(err) && f.folder:
			errs = append(errs, p.Errorf(f.path, "correct the path (relative to the plan's folder), or write the folder with `smp agent certs`", "folder %s does not exist", path))
		case os.IsNotExist(err):
			errs = append(errs, p.Errorf(f.path, "correct the path (relative to the plan's folder), or create the file", "%s does not exist", path))
		case err != nil:
			errs = append(errs, p.Errorf(f.path, "make it readable", "%v", err))
		case (f.folder || f.writes) && !st.IsDir():
			errs = append(errs, p.Errorf(f.path, "name the folder (for agent_certs, the one `smp agent certs` wrote)", "%s is not a folder", path))
		case !(f.folder || f.writes) && st.IsDir():
			errs = append(errs, p.Errorf(f.path, "name a file in that folder", "%s is a folder, not a file", path))
		case f.limit > 0 && st.Size() > f.limit:
			errs = append(errs, p.Errorf(f.path, "use a smaller file, or generate the body with request_size",
				"%s is %s, more than the %s a body may have", path, Size(st.Size()), Size(f.limit)))
		case !f.folder && !f.writes:
			// O_NONBLOCK: a named pipe would hold validation until a writer came.
			if fh, err := os.OpenFile(path, os.O_RDONLY|syscall.O_NONBLOCK, 0); err != nil {
				errs = append(errs, p.Errorf(f.path, "make it readable", "%v", err))
			} else {
				fh.Close()
			}
		}
	}
	return errs.err()
}
