package spec_test

import (
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/service-mesh-performance/smp/spec"
)

// TestReferences: a plan takes its secrets from the environment and from files, so that
// the plan itself holds none; the values are listed by Secrets for redaction.
func TestReferences(t *testing.T) {
	dir := t.TempDir()
	if err := os.MkdirAll(filepath.Join(dir, "secrets"), 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "secrets", "key"), []byte("key-from-a-file\r\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	t.Setenv("SMP_TEST_TOKEN", "token-from-env")
	t.Setenv("SMP_TEST_PASSWORD", "pass-from-env")
	plan := `
arms: [baseline]
workload:
  headers:
    Authorization: "Bearer ${env:SMP_TEST_TOKEN}"
    X-Api-Key: "${file:secrets/key}"
    X-Literal: "$${env:NOT_A_REFERENCE}"
  cookies: {sid: "${env:SMP_TEST_TOKEN}"}
  endpoint_urls: ["http://bench:${env:SMP_TEST_PASSWORD}@127.0.0.1:8080/"]
`
	path := filepath.Join(dir, "plan.yaml")
	if err := os.WriteFile(path, []byte(plan), 0o600); err != nil {
		t.Fatal(err)
	}
	p, err := spec.Load(path)
	if err != nil {
		t.Fatal(err)
	}
	w := p.Workload
	for _, c := range []struct{ got, want string }{
		{w.Headers["Authorization"], "Bearer token-from-env"},
		{w.Headers["X-Api-Key"], "key-from-a-file"},
		{w.Headers["X-Literal"], "${env:NOT_A_REFERENCE}"},
		{w.Cookies["sid"], "token-from-env"},
		{w.EndpointURLs[0], "http://bench:pass-from-env@127.0.0.1:8080/"},
	} {
		if c.got != c.want {
			t.Errorf("got %q, want %q", c.got, c.want)
		}
	}
	secrets := p.Secrets()
	for _, s := range []string{"token-from-env", "key-from-a-file", "pass-from-env"} {
		if !slices.Contains(secrets, s) {
			t.Errorf("Secrets() = %q lacks %q", secrets, s)
		}
	}
	t.Setenv("SMP_TEST_TOKEN", "")
	_, err = spec.Load(path)
	if err == nil || !strings.Contains(err.Error(), "plan.yaml:5:20: workload.headers.Authorization: environment variable SMP_TEST_TOKEN is empty") {
		t.Errorf("an empty variable: %v", err)
	}
}

// TestZerosWithMeaning: zeros that mean something are kept, unset values (left out or
// null) take their defaults, and SMP and Meshery files keep protobuf's "0 is unset".
func TestZerosWithMeaning(t *testing.T) {
	p, err := spec.Parse("z.yaml", []byte("workload:\n  rate: 0\n  warmup: 0s\n  duration: ~\n  app: {response_size: 0}\n"))
	if err != nil {
		t.Fatal(err)
	}
	if *p.Workload.Rate != 0 || *p.Workload.Warmup != 0 || p.Workload.Duration.D().String() != "30s" || *p.Workload.App.ResponseSize != 0 {
		t.Errorf("rate %v, warmup %v, duration %v, response_size %v", *p.Workload.Rate, *p.Workload.Warmup, p.Workload.Duration, *p.Workload.App.ResponseSize)
	}
	smp := "test:\n  name: x\n  duration: 0s\n  clients:\n    - connections: 0\n      endpoint_urls: [http://h:8080/]\nmesh: {type: ISTIO}\n"
	if _, err := spec.Parse("meshery.yaml", []byte(smp)); err != nil {
		t.Errorf("a Meshery file with protobuf zeros: %v", err)
	}
}
