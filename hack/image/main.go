// Command smp-image writes a container image as a tarball that `ctr images import` (and
// `docker load`) reads, without a container daemon: one layer holding a static binary and
// the few files a non-root image needs, and a config naming the entrypoint and the user.
// scripts/kube-node uses it for smp's image (what the repository's Dockerfile describes:
// static smp at /smp, user nonroot 65532, distroless's layout) and for the pod sandbox's
// pause image. It is a separate module so that go-containerregistry stays out of smp's
// go.mod.
//
//	smp-image -binary /path/to/smp -path /smp -tag ghcr.io/service-mesh-performance/smp:latest -o smp.tar
//	smp-image -binary /path/to/pause -path /pause -user 65535:65535 -tag registry.k8s.io/pause:3.10 -o pause.tar
package main

import (
	"archive/tar"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/google/go-containerregistry/pkg/name"
	v1 "github.com/google/go-containerregistry/pkg/v1"
	"github.com/google/go-containerregistry/pkg/v1/empty"
	"github.com/google/go-containerregistry/pkg/v1/mutate"
	"github.com/google/go-containerregistry/pkg/v1/tarball"
)

func main() {
	if err := run(os.Args[1:]); err != nil {
		fmt.Fprintln(os.Stderr, "smp-image:", err)
		os.Exit(1)
	}
}

type options struct {
	binary, path, tag, out, user, workdir string
	tags                                  []string
}

func run(args []string) error {
	var o options
	var extra string
	fs := flag.NewFlagSet("smp-image", flag.ContinueOnError)
	fs.StringVar(&o.binary, "binary", "", "the static binary to put in the image (required)")
	fs.StringVar(&o.path, "path", "/smp", "where the binary goes in the image; it is the entrypoint")
	fs.StringVar(&o.tag, "tag", "", "the image's name (required)")
	fs.StringVar(&extra, "also", "", "more names for the same image, comma-separated")
	fs.StringVar(&o.out, "o", "", "the tarball to write (required)")
	fs.StringVar(&o.user, "user", "65532:65532", "uid:gid the image runs as")
	fs.StringVar(&o.workdir, "workdir", "/home/nonroot", "working directory (created, owned by the user)")
	if err := fs.Parse(args); err != nil {
		return err
	}
	if o.binary == "" || o.tag == "" || o.out == "" {
		return errors.New("-binary, -tag and -o are required")
	}
	if extra != "" {
		o.tags = strings.Split(extra, ",")
	}
	return build(o)
}

func build(o options) error {
	uid, gid, err := parseUser(o.user)
	if err != nil {
		return err
	}
	bin, err := os.ReadFile(o.binary)
	if err != nil {
		return err
	}
	layerTar, err := rootfs(o, bin, uid, gid)
	if err != nil {
		return err
	}
	layer, err := tarball.LayerFromOpener(func() (io.ReadCloser, error) {
		return io.NopCloser(bytes.NewReader(layerTar)), nil
	})
	if err != nil {
		return fmt.Errorf("layer: %w", err)
	}
	img, err := mutate.AppendLayers(empty.Image, layer)
	if err != nil {
		return fmt.Errorf("append layer: %w", err)
	}
	cf, err := img.ConfigFile()
	if err != nil {
		return err
	}
	cf = cf.DeepCopy()
	cf.OS, cf.Architecture = "linux", "amd64"
	cf.Created = v1.Time{Time: time.Unix(0, 0).UTC()} // reproducible: same binary, same image
	cf.Config.Entrypoint = []string{o.path}
	cf.Config.User = o.user
	cf.Config.WorkingDir = o.workdir
	cf.Config.Env = []string{"PATH=/usr/local/bin:/usr/bin:/bin", "HOME=" + o.workdir}
	if img, err = mutate.ConfigFile(img, cf); err != nil {
		return fmt.Errorf("image config: %w", err)
	}
	refs := map[name.Reference]v1.Image{}
	for _, t := range append([]string{o.tag}, o.tags...) {
		ref, err := name.NewTag(t)
		if err != nil {
			return fmt.Errorf("image name %q: %w", t, err)
		}
		refs[ref] = img
	}
	tmp := o.out + ".tmp"
	f, err := os.Create(tmp)
	if err != nil {
		return err
	}
	if err := tarball.MultiRefWrite(refs, f); err != nil {
		f.Close()
		os.Remove(tmp)
		return fmt.Errorf("write %s: %w", o.out, err)
	}
	if err := f.Close(); err != nil {
		return err
	}
	return os.Rename(tmp, o.out)
}

func parseUser(s string) (uid, gid int, err error) {
	u, g, ok := strings.Cut(s, ":")
	if !ok {
		g = u
	}
	if uid, err = strconv.Atoi(u); err != nil {
		return 0, 0, fmt.Errorf("-user %q: want uid:gid", s)
	}
	if gid, err = strconv.Atoi(g); err != nil {
		return 0, 0, fmt.Errorf("-user %q: want uid:gid", s)
	}
	return uid, gid, nil
}

// rootfs is the layer: distroless static's users and folders, and the binary.
func rootfs(o options, bin []byte, uid, gid int) ([]byte, error) {
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	epoch := time.Unix(0, 0)
	dir := func(p string, mode int64, owner int) error {
		return tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: p + "/", Mode: mode, Uid: owner, Gid: owner, ModTime: epoch})
	}
	file := func(p string, mode int64, data []byte) error {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: p, Mode: mode, Size: int64(len(data)), ModTime: epoch}); err != nil {
			return err
		}
		_, err := tw.Write(data)
		return err
	}
	passwd := fmt.Sprintf("root:x:0:0:root:/root:/sbin/nologin\nnobody:x:65534:65534:nobody:/nonexistent:/sbin/nologin\nnonroot:x:%d:%d:nonroot:%s:/sbin/nologin\n", uid, gid, o.workdir)
	group := fmt.Sprintf("root:x:0:\nnobody:x:65534:\nnonroot:x:%d:\n", gid)
	steps := []func() error{
		func() error { return dir("etc", 0o755, 0) },
		func() error { return file("etc/passwd", 0o644, []byte(passwd)) },
		func() error { return file("etc/group", 0o644, []byte(group)) },
		func() error { return dir("tmp", 0o1777, 0) },
		func() error { return dir("home", 0o755, 0) },
	}
	for _, s := range steps {
		if err := s(); err != nil {
			return nil, err
		}
	}
	if strings.HasPrefix(o.workdir, "/home/") {
		if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeDir, Name: strings.TrimPrefix(o.workdir, "/") + "/", Mode: 0o700,
			Uid: uid, Gid: gid, ModTime: epoch}); err != nil {
			return nil, err
		}
	}
	p := strings.TrimPrefix(o.path, "/")
	if i := strings.LastIndex(p, "/"); i > 0 {
		if err := dir(p[:i], 0o755, 0); err != nil {
			return nil, err
		}
	}
	if err := file(p, 0o755, bin); err != nil {
		return nil, err
	}
	if err := tw.Close(); err != nil {
		return nil, err
	}
	return buf.Bytes(), nil
}
