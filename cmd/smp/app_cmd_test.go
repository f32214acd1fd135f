package main

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/service-mesh-performance/smp/internal/app"
)

// TestAppCommand runs `smp app` in-process, as the local platform runs it
// as a process: one ready line on stdout, a service that answers, and a
// clean stop (exit 0, nothing more on stdout, the port closed) when its
// context ends, which is what SIGTERM does through main.
func TestAppCommand(t *testing.T) {
	cfg := filepath.Join(t.TempDir(), "svc-1.json")
	if err := os.WriteFile(cfg, []byte(`{"name": "svc-1", "http_addr": "127.0.0.1:0", "grpc_addr": "127.0.0.1:0",
		"response_size": 3, "cpu_time": "1ms"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	stdout, w := io.Pipe()
	var stderr bytes.Buffer
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	done := make(chan error, 1)
	go func() {
		cmd := newAppCommand(streams{in: strings.NewReader(""), out: w, err: &stderr})
		cmd.SetArgs([]string{"--config", cfg})
		err := cmd.ExecuteContext(ctx)
		w.Close()
		done <- err
	}()

	out := bufio.NewReader(stdout)
	line, err := out.ReadString('\n')
	if err != nil {
		t.Fatalf("no ready line: %v (stderr: %s)", err, stderr.String())
	}
	if !strings.HasPrefix(line, `{"ready":true,"http":"127.0.0.1:`) || !strings.HasSuffix(line, `,"tls":""}`+"\n") {
		t.Errorf("ready line %q", line)
	}
	var ready app.ReadyLine
	if err := json.Unmarshal([]byte(line), &ready); err != nil {
		t.Fatalf("ready line %q: %v", line, err)
	}
	if !ready.Ready || ready.HTTP == "" || ready.GRPC == "" || ready.TLS != "" {
		t.Errorf("ready line %+v: want http and grpc addresses, no tls", ready)
	}

	c := &http.Client{Transport: &http.Transport{}}
	for _, tc := range []struct{ path, body string }{{"/healthz", "ok\n"}, {"/anything", "abc"}} {
		resp, err := c.Get("http://" + ready.HTTP + tc.path)
		if err != nil {
			t.Fatal(err)
		}
		body, err := io.ReadAll(resp.Body)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 || string(body) != tc.body {
			t.Errorf("GET %s: %d %q (%v), want 200 %q", tc.path, resp.StatusCode, body, err, tc.body)
		}
	}
	c.CloseIdleConnections()

	cancel()
	rest, _ := io.ReadAll(out)
	if err := <-done; err != nil {
		t.Errorf("smp app: %v", err)
	}
	if len(rest) > 0 {
		t.Errorf("more on stdout after the ready line: %q", rest)
	}
	if stderr.Len() > 0 {
		t.Errorf("stderr is not quiet without --verbose: %q", stderr.String())
	}
	if conn, err := net.Dial("tcp", ready.HTTP); err == nil {
		conn.Close()
		t.Error("the service still listens after the command returned")
	}
}

func TestAppCommandErrors(t *testing.T) {
	dir := t.TempDir()
	write := func(name, content string) string {
		p := filepath.Join(dir, name)
		if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	for _, tc := range []struct {
		name string
		args []string
		code int // 0: not an exitError
		want string
	}{
		{"no config", nil, 0, `required flag(s) "config" not set`},
		{"missing file", []string{"--config", filepath.Join(dir, "nope.json")}, 0, "no such file"},
		{"unknown field", []string{"--config", write("typo.json", `{"name": "a", "http_adr": ":0"}`)}, exitUsage, `unknown field "http_adr"`},
		{"invalid", []string{"--config", write("invalid.json", `{"name": "a"}`)}, exitUsage, "http_addr: required"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			var out, errOut bytes.Buffer
			cmd := newAppCommand(streams{in: strings.NewReader(""), out: &out, err: &errOut})
			cmd.SetArgs(tc.args)
			cmd.SilenceUsage, cmd.SilenceErrors = true, true
			err := cmd.ExecuteContext(context.Background())
			if err == nil || !strings.Contains(err.Error(), tc.want) {
				t.Fatalf("error %v, want one containing %q", err, tc.want)
			}
			var ee *exitError
			if got := errors.As(err, &ee); got != (tc.code != 0) || got && ee.code != tc.code {
				t.Errorf("error %#v: want exit code %d", err, tc.code)
			}
			if out.Len() > 0 {
				t.Errorf("stdout %q, want nothing", out.String())
			}
		})
	}
}
