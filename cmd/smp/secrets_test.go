package main

import (
	"bufio"
	"bytes"
	"context"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"testing"
)

// output collects everything the commands of a test printed, by command line.
type output struct {
	mu    sync.Mutex
	texts map[string]string
}

func (o *output) add(what, text string) {
	o.mu.Lock()
	defer o.mu.Unlock()
	o.texts[what] += text
}

// cli runs a command line and records what it printed; it fails the test on an exit code
// other than want.
func (o *output) cli(t *testing.T, want int, args ...string) string {
	t.Helper()
	code, stdout, stderr := runCLI(t, args...)
	o.add(strings.Join(args, " "), stdout+stderr)
	if code != want {
		t.Fatalf("smp %s: exit %d, want %d\n%s\n%s", strings.Join(args, " "), code, want, stdout, stderr)
	}
	return stdout
}

// TestNoSecretIsWrittenOrPrinted plants secrets in every way smp takes them — a plan's
// headers from the environment and a file, its cookies and URL (userinfo and a token
// parameter), and -H headers and a URL on smp load's command line — and greps every
// format smp writes or prints for them: result documents, the HTML report written with
// the run, reports in every format (stdout and -o), SMP (JSON and YAML) and fortio
// exports, compare, results list/show, validate, status lines, error messages and an
// agent's log.
func TestNoSecretIsWrittenOrPrinted(t *testing.T) {
	secrets := []string{
		"planted-env-token-1", "planted-file-key-2", "planted-cookie-3", "planted-url-pass-4", "planted-url-token-5",
		"planted-cli-bearer-6", "planted-cli-cookie-7", "planted-cli-pass-8", "planted-cli-token-9",
		"planted-cli-proxy-10", "planted-cli-xtoken-11", "planted-plan-proxy-12", "planted-plan-token-13",
	}
	t.Setenv("SMP_TEST_PLANTED_TOKEN", secrets[0])
	dir := t.TempDir()
	write := func(name, text string) string {
		path := filepath.Join(dir, name)
		if err := os.WriteFile(path, []byte(text), 0o600); err != nil {
			t.Fatal(err)
		}
		return path
	}
	write("api-key", secrets[1]+"\n")
	srv, _ := countingServer(t, http.StatusOK)
	host := strings.TrimPrefix(srv.URL, "http://")
	plan := write("plan.yaml", `name: secrets
arms: [baseline]
workload:
  rate: 100
  connections: 2
  duration: 300ms
  warmup: 0s
  headers:
    Authorization: "Bearer ${env:SMP_TEST_PLANTED_TOKEN}"
    X-Api-Key: "${file:api-key}"
    Proxy-Authorization: "Basic `+secrets[11]+`"
    Private-Token: `+secrets[12]+`
  cookies: {session: `+secrets[2]+`}
  endpoint_urls: ["http://bench:`+secrets[3]+`@`+host+`/x?token=`+secrets[4]+`&page=1"]
`)
	results := filepath.Join(dir, "results")
	run := filepath.Join(results, "run.json")
	load := filepath.Join(dir, "load.json")
	o := &output{texts: map[string]string{}}

	o.cli(t, 0, "validate", plan)
	o.cli(t, 0, "validate", "-o", "json", plan)
	o.cli(t, 0, "run", plan, "-o", run, "--html", "--progress", "lines", "--allow-rate-miss")
	o.cli(t, 0, "load", "http://bench:"+secrets[7]+"@"+host+"/y?access_token="+secrets[8], "--rate", "100", "-c", "1",
		"-d", "300ms", "--warmup", "0s", "-H", "Authorization: Bearer "+secrets[5], "-H", "Cookie: sid="+secrets[6],
		"-H", "Proxy-Authorization: Basic "+secrets[9], "-H", "X-Auth-Token: "+secrets[10], "-o", load, "--progress", "lines", "--allow-rate-miss")
	// A target that refuses connections (exit 1: nothing was measured): its errors carry the URL.
	o.cli(t, 1, "load", "http://bench:"+secrets[7]+"@127.0.0.1:1/?token="+secrets[8], "--rate", "20", "-c", "1",
		"-d", "200ms", "--warmup", "0s", "-H", "Authorization: Bearer "+secrets[5], "-o", filepath.Join(dir, "refused.json"))
	for _, doc := range []string{run, load} {
		for _, format := range []string{"table", "markdown", "html", "csv", "json"} {
			o.cli(t, 0, "report", doc, "--format", format)
			o.cli(t, 0, "report", doc, "--format", format, "-o", filepath.Join(dir, filepath.Base(doc)+"."+format))
		}
		o.cli(t, 0, "export", doc, "--format", "smp")
		o.cli(t, 0, "export", doc, "--format", "smp", "-o", filepath.Join(dir, filepath.Base(doc)+".smp.yaml"))
		o.cli(t, 0, "export", doc, "--format", "fortio", "-o", filepath.Join(dir, filepath.Base(doc)+".fortio.json"))
	}
	for _, format := range []string{"table", "markdown", "csv", "json"} {
		o.cli(t, 0, "compare", run, load, "--format", format)
		o.cli(t, 0, "compare", run, load, "--format", format, "-o", filepath.Join(dir, "compare."+format))
	}
	o.cli(t, 0, "results", "list", "--dir", results)
	o.cli(t, 0, "results", "show", "--dir", results, "2")
	agentLog := agentRun(t, o, host, secrets, "10.255.255.1:80", filepath.Join(dir, "refused-by-agent.json"))
	agentLog += agentRun(t, o, host, secrets, host, filepath.Join(dir, "agent.json"))

	var leaks []string
	check := func(where, text string) {
		for _, s := range secrets {
			if strings.Contains(text, s) {
				leaks = append(leaks, where+": "+s)
			}
		}
	}
	for what, text := range o.texts {
		check("output of smp "+what, text)
	}
	check("agent log", agentLog)
	files := 0
	err := filepath.WalkDir(dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || path == plan || filepath.Base(path) == "api-key" {
			return err
		}
		b, err := os.ReadFile(path)
		check(path, string(b))
		files++
		return err
	})
	if err != nil {
		t.Fatal(err)
	}
	if len(leaks) > 0 {
		t.Errorf("secrets written or printed:\n%s", strings.Join(leaks, "\n"))
	}
	if files < 24 {
		t.Errorf("checked only %d files", files)
	}
	// Redaction left markers in their place, the same for the same secret.
	doc, _ := os.ReadFile(run)
	marker := regexp.MustCompile(`"Authorization": "Bearer (redacted-[0-9a-f]{12})"`).FindSubmatch(doc)
	if marker == nil || !strings.Contains(o.texts["validate -o json "+plan]+string(doc), "redacted-") {
		t.Errorf("no marker for the plan's Authorization header in %s", run)
	}
	// Results and reports are private to their owner.
	for path, want := range map[string]fs.FileMode{run: 0o600, results: 0o700, filepath.Join(results, "run.html"): 0o600,
		filepath.Join(dir, "run.json.html"): 0o600, filepath.Join(dir, "load.json.smp.yaml"): 0o600} {
		if st, err := os.Stat(path); err != nil || st.Mode().Perm() != want {
			t.Errorf("%s: mode %v (%v), want %v", path, st.Mode().Perm(), err, want)
		}
	}
}

// agentRun runs `smp agent` allowed to load allow, drives it with a URL and headers full
// of secrets (they cross the agent wire, which they must: the agent sends them), writes
// the result to out, and returns the agent's log. An agent that refuses the target
// fails the load with exit 1, and prints no summary of nothing before its refusal.
func agentRun(t *testing.T, o *output, host string, secrets []string, allow, out string) string {
	t.Helper()
	certs := filepath.Join(t.TempDir(), "certs")
	o.cli(t, 0, "agent", "certs", "--dir", certs)
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	var log bytes.Buffer
	done := make(chan struct{})
	go func() {
		defer close(done)
		run(ctx, []string{"agent", "--listen", "127.0.0.1:0", "--certs", certs, "--allow-target", allow},
			streams{in: strings.NewReader(""), out: io.Discard, err: pw})
		pw.Close()
	}()
	lines := bufio.NewScanner(pr)
	addr := ""
	listening := regexp.MustCompile(`listening on https://(127\.0\.0\.1:\d+)`)
	for addr == "" && lines.Scan() {
		log.WriteString(lines.Text() + "\n")
		if m := listening.FindStringSubmatch(lines.Text()); m != nil {
			addr = m[1]
		}
	}
	if addr == "" {
		t.Fatal("the agent did not say where it listens")
	}
	copied := make(chan struct{})
	go func() { _, _ = io.Copy(&log, pr); close(copied) }()
	refused := allow != host
	want := 0
	if refused {
		want = 1
	}
	stdout := o.cli(t, want, "load", "http://bench:"+secrets[7]+"@"+host+"/?token="+secrets[8], "--rate", "20", "-c", "1",
		"-d", "200ms", "--warmup", "0s", "-H", "Authorization: Bearer "+secrets[5], "-H", "X-Auth-Token: "+secrets[10],
		"--agents", addr, "--agent-certs", certs, "-o", out, "--allow-rate-miss")
	if refused && stdout != "" {
		t.Errorf("an agent's refusal is preceded by a summary of nothing:\n%s", stdout)
	}
	cancel()
	<-done
	<-copied
	// The agent refuses when its controller first asks it to check the share.
	if refused && !strings.Contains(log.String(), "refused reach check") {
		t.Errorf("the agent did not log its refusal:\n%s", log.String())
	}
	return log.String()
}

// TestHelpIsPrintedAsWritten: help is smp's own words, printed past the redactor. Its
// example header and the --token-file note read as credentials to the redactor, which
// replaced the rest of their lines with a marker ("-H 'Authorization: Bearer
// redacted-…" without the flags after it). Secrets on the same command line still do not
// appear: help does not print flag values.
func TestHelpIsPrintedAsWritten(t *testing.T) {
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"load", "--help", "-H", "Authorization: Bearer planted-help-secret-1"},
			"-H 'Authorization: Bearer x' --rate 50 -o result.json"},
		{[]string{"help", "agent"}, "from the controller too (Authorization: Bearer)"},
	} {
		code, stdout, stderr := runCLI(t, c.args...)
		if code != exitOK || !strings.Contains(stdout, c.want) || strings.Contains(stdout+stderr, "planted-help-secret-1") {
			t.Errorf("smp %s: exit %d, want help with %q and no secret:\n%s\n%s", strings.Join(c.args, " "), code, c.want, stdout, stderr)
		}
	}
}
