package certify

import (
	"math"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strings"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/internal/hist"
	"github.com/service-mesh-performance/smp/result"
	"github.com/service-mesh-performance/smp/spec"
)

var now = time.Date(2026, 11, 26, 12, 0, 0, 0, time.UTC)

func host() result.CertificateHost {
	return result.CertificateHost{Hostname: "bench-1", OS: "linux", Arch: "amd64", Kernel: "6.8.0", CPUModel: "AMD EPYC 7B13", Cores: 2, MemoryBytes: 24 << 30}
}

func cert(checks []result.Check, cal *result.Calibration) *result.Certificate {
	return New("local", host(), checks, cal, "test", now)
}

func TestCV(t *testing.T) {
	// mean 10, sample sd sqrt(((−2)²+0+2²)/2) = 2: CV 0.2.
	if got := CV([]float64{8, 10, 12}); math.Abs(got-0.2) > 1e-12 {
		t.Errorf("CV = %v, want 0.2", got)
	}
	if !math.IsNaN(CV([]float64{1})) || !math.IsNaN(CV([]float64{0, 0})) {
		t.Error("CV of one value or of zeros must be NaN")
	}
}

func TestCalibrateBands(t *testing.T) {
	sample := func(p50, p99, tput float64) result.CalibrationSample {
		return result.CalibrationSample{P50MS: p50, P99MS: p99, ThroughputRPS: tput}
	}
	steady := Calibrate([]result.CalibrationSample{sample(0.1, 0.3, 9000), sample(0.101, 0.31, 9050), sample(0.099, 0.29, 8990)}, time.Second, "d")
	noisy := Calibrate([]result.CalibrationSample{sample(0.1, 0.3, 9000), sample(0.13, 0.9, 7000), sample(0.08, 0.35, 9500)}, time.Second, "d")
	verdicts := func(c *result.Calibration) string {
		var s []string
		for _, ch := range c.Checks {
			s = append(s, ch.Name+"="+string(ch.Verdict))
		}
		return strings.Join(s, " ")
	}
	if got := verdicts(steady); got != "calibration.p50=pass calibration.p99=pass calibration.throughput=pass" {
		t.Errorf("steady: %s (CV %+v)", got, steady.CV)
	}
	// p50 CV 0.24 > 0.15, p99 0.66 > 0.3, throughput 0.16 > 0.1: all fail.
	if got := verdicts(noisy); got != "calibration.p50=fail calibration.p99=fail calibration.throughput=fail" {
		t.Errorf("noisy: %s (CV %+v)", got, noisy.CV)
	}
	one := Calibrate([]result.CalibrationSample{sample(1, 1, 1)}, time.Second, "d")
	if one.Error == "" || one.Checks[0].Verdict != result.VerdictFail {
		t.Errorf("one sample: %+v", one)
	}
}

func TestParseCalibrate(t *testing.T) {
	for _, tc := range []struct {
		in   string
		reps int
		d    time.Duration
		bad  bool
	}{
		{"5x10s", 5, 10 * time.Second, false},
		{"3X1m", 3, time.Minute, false},
		{"none", 0, 0, false},
		{"0", 0, 0, false},
		{"1x10s", 0, 0, true},
		{"5x500ms", 0, 0, true},
		{"5", 0, 0, true},
		{"ax10s", 0, 0, true},
	} {
		reps, d, err := ParseCalibrate(tc.in)
		if (err != nil) != tc.bad || reps != tc.reps || d != tc.d {
			t.Errorf("ParseCalibrate(%q) = %d, %v, %v", tc.in, reps, d, err)
		}
	}
}

func TestCalibrationPlan(t *testing.T) {
	p, err := CalibrationPlan(spec.PlatformLocal, 4, 3*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	w := p.Workload
	if p.Repetitions != 4 || len(p.Arms) != 1 || !p.Arms[0].Mesh.IsBaseline() || w.App.Services != 1 || *w.Rate != 0 ||
		w.Connections != 1 || w.Duration.D() != 3*time.Second || w.Warmup.D() != time.Second || len(p.Metrics.Collectors) != 0 {
		t.Errorf("plan %+v workload %+v collectors %v", p, w, p.Metrics.Collectors)
	}
}

// histDist records samples into a real histogram, as a trial would carry it.
func histDist(t *testing.T, d ...time.Duration) result.Distribution {
	h := hist.New()
	for _, x := range d {
		h.Record(x)
	}
	enc, err := h.Encode()
	if err != nil {
		t.Fatal(err)
	}
	dist, err := result.NewDistribution(enc, 0, []float64{50, 99}, nil)
	if err != nil {
		t.Fatal(err)
	}
	return dist
}

func TestSamplesOf(t *testing.T) {
	start := now
	doc := &result.Document{Trials: []result.Trial{
		{ID: "baseline-1", Status: result.StatusComplete, StartTime: start, EndTime: start.Add(2 * time.Second),
			Counts: result.Counts{Requests: 4, Succeeded: 4}, Latency: histDist(t, time.Millisecond, time.Millisecond, time.Millisecond, 5*time.Millisecond)},
	}}
	s, err := SamplesOf(doc)
	if err != nil {
		t.Fatal(err)
	}
	if len(s) != 1 || s[0].P50MS != 1 || math.Abs(s[0].P99MS-5) > 0.01 || s[0].ThroughputRPS != 2 { // HDR: 3 significant digits
		t.Errorf("samples %+v", s)
	}
	// A trial that sent nothing (a round trip longer than the trial) says so; one whose
	// requests all failed names the errors.
	idle := result.Trial{ID: "baseline-2", Status: result.StatusComplete, StartTime: start, EndTime: start.Add(time.Second), Latency: histDist(t)}
	if _, err := SamplesOf(&result.Document{Trials: []result.Trial{idle}}); err == nil || !strings.Contains(err.Error(), "baseline-2 sent no request in its 1s") {
		t.Errorf("a trial that sent nothing: err %v", err)
	}
	failing := idle
	failing.Counts, failing.ErrorsByClass = result.Counts{Requests: 3, Failed: 3}, map[string]int64{"connect": 3}
	if _, err := SamplesOf(&result.Document{Trials: []result.Trial{failing}}); err == nil || !strings.Contains(err.Error(), "measured nothing (3 errors: map[connect:3])") {
		t.Errorf("a trial whose requests failed: err %v", err)
	}
	doc.Trials = append(doc.Trials, result.Trial{ID: "baseline-2", Status: result.StatusFailed, Error: "deploy failed"})
	if _, err := SamplesOf(doc); err == nil || !strings.Contains(err.Error(), "deploy failed") {
		t.Errorf("a failed trial: err %v", err)
	}
}

func TestNewVerdictAndHash(t *testing.T) {
	gov := Governors(map[string][]byte{"cpu0": []byte("performance")})
	steal := check("cpu.steal", result.VerdictPass, "0.1%", "", "ok")
	skip := check("cpu.smt", result.VerdictSkip, "unknown", "", "n/a")
	c := cert([]result.Check{gov, steal, skip}, nil)
	if c.Verdict != result.VerdictPass || c.Kind != result.CertificateKind || !strings.HasPrefix(c.ID, FilePrefix) {
		t.Errorf("certificate %+v", c)
	}
	if !regexp.MustCompile(`^sha256:[0-9a-f]{32}$`).MatchString(c.EnvironmentHash) {
		t.Errorf("hash %q", c.EnvironmentHash)
	}
	// Transient values do not change the hash; settings do.
	steal2 := steal
	steal2.Value = "3.0%"
	steal2.Verdict = result.VerdictWarn
	c2 := cert([]result.Check{gov, steal2, skip}, nil)
	if c2.EnvironmentHash != c.EnvironmentHash || c2.Verdict != result.VerdictWarn {
		t.Errorf("steal changed the hash (%s vs %s) or the verdict is %s", c2.EnvironmentHash, c.EnvironmentHash, c2.Verdict)
	}
	c3 := cert([]result.Check{Governors(map[string][]byte{"cpu0": []byte("powersave")}), steal, skip}, nil)
	if c3.EnvironmentHash == c.EnvironmentHash {
		t.Error("the governor did not change the hash")
	}
	// The calibration's verdicts count.
	bad := &result.Calibration{Checks: []result.Check{check("calibration.p99", result.VerdictFail, "40%", "", "noisy")}}
	if got := cert([]result.Check{gov}, bad).Verdict; got != result.VerdictFail {
		t.Errorf("a failed calibration gives %s", got)
	}
}

func TestApplies(t *testing.T) {
	c := cert([]result.Check{check("cpu.steal", result.VerdictPass, "0%", "", "ok")}, nil)
	env := result.Environment{Platform: "local", Kernel: "6.8.0", CPUModel: "AMD EPYC 7B13", Cores: 2, MemoryBytes: 24 << 30}
	if w := Applies(c, env, now.Add(time.Hour)); len(w) != 0 {
		t.Errorf("same machine, fresh, pass: %v", w)
	}
	other := env
	other.Cores, other.Kernel = 8, "6.9.1"
	if w := Applies(c, other, now); len(w) != 1 || !strings.Contains(w[0], "cores 2 vs 8") || !strings.Contains(w[0], "kernel 6.8.0 vs 6.9.1") {
		t.Errorf("another machine: %v", w)
	}
	if w := Applies(c, env, now.Add(25*time.Hour)); len(w) != 1 || !strings.Contains(w[0], "old") {
		t.Errorf("stale: %v", w)
	}
	warned := cert([]result.Check{check("cpu.smt", result.VerdictWarn, "active", "", "x")}, nil)
	if w := Applies(warned, env, now); len(w) != 1 || !strings.Contains(w[0], `certified "warn": cpu.smt active (warn)`) {
		t.Errorf("warned: %v", w)
	}
	ext := env
	ext.Platform = "external"
	if w := Applies(c, ext, now); len(w) != 0 {
		t.Errorf("an external-app run on the certified machine: %v", w)
	}
}

func TestCompatible(t *testing.T) {
	gov := func(g string) result.Check { return Governors(map[string][]byte{"cpu0": []byte(g)}) }
	doc := func(id string, c *result.Certificate) *result.Document {
		return &result.Document{ID: id, Certificate: c}
	}
	a := cert([]result.Check{gov("performance")}, nil)
	if w := Compatible(doc("a", a), doc("b", a)); len(w) != 0 {
		t.Errorf("same certificate: %v", w)
	}
	if w := Compatible(doc("a", a), doc("b", nil)); len(w) != 1 || !strings.Contains(w[0], "b comes from an uncertified environment") {
		t.Errorf("one uncertified: %v", w)
	}
	b := cert([]result.Check{gov("powersave")}, nil)
	w := Compatible(doc("a", a), doc("b", b))
	if len(w) != 1 || !strings.Contains(w[0], `cpu.governor "performance" vs "powersave"`) {
		t.Errorf("different governors: %v", w)
	}
	failed := cert([]result.Check{gov("performance"), check("cpu.steal", result.VerdictFail, "9%", "", "x")}, nil)
	if w := Compatible(doc("a", a), doc("f", failed)); len(w) != 1 || !strings.Contains(w[0], "failed certification: cpu.steal 9% (fail)") {
		t.Errorf("failed: %v", w)
	}
	noisy := cert([]result.Check{gov("performance")}, &result.Calibration{Checks: []result.Check{check("calibration.p99", result.VerdictWarn, "20.0%", "", "x")}})
	if w := Compatible(doc("a", a), doc("n", noisy)); len(w) != 1 || !strings.Contains(w[0], "n: identical runs varied by 20.0%") {
		t.Errorf("noisy (same environment, only the calibration warns): %v", w)
	}
}

func TestFindAndSave(t *testing.T) {
	dir := t.TempDir()
	if c, p, err := Find(dir); c != nil || p != "" || err != nil {
		t.Fatalf("empty folder: %v %q %v", c, p, err)
	}
	older := New("local", host(), nil, nil, "t", now)
	newer := New("local", host(), nil, nil, "t", now.Add(time.Hour))
	// Written in the opposite order to their times, with names that sort the other way.
	if err := newer.Save(filepath.Join(dir, FilePrefix+"a.json")); err != nil {
		t.Fatal(err)
	}
	if err := older.Save(filepath.Join(dir, FilePrefix+"b.json")); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "run-1.json"), []byte(`{"kind":"Result"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	c, p, err := Find(dir)
	if err != nil || c == nil || !c.CreatedAt.Equal(newer.CreatedAt) || filepath.Base(p) != FilePrefix+"a.json" {
		t.Fatalf("Find = %+v %q %v", c, p, err)
	}
	if c.EnvironmentHash != newer.EnvironmentHash || !reflect.DeepEqual(c.Host, newer.Host) {
		t.Errorf("round trip changed the certificate: %+v", c)
	}
	if err := os.WriteFile(filepath.Join(dir, FilePrefix+"broken.json"), []byte(`{"kind":"Result","api_version":"smp.dev/v1alpha1"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, _, err := Find(dir); err == nil || !strings.Contains(err.Error(), "not \"Certificate\"") {
		t.Errorf("a file named like a certificate that is not one: %v", err)
	}
}

func TestWriteText(t *testing.T) {
	cal := Calibrate([]result.CalibrationSample{{P50MS: 0.1, P99MS: 0.3, ThroughputRPS: 9000}, {P50MS: 0.1, P99MS: 0.3, ThroughputRPS: 9000}}, 10*time.Second, CalibrationDescription)
	c := cert([]result.Check{Somaxconn([]byte("128"))}, cal)
	var b strings.Builder
	if err := WriteText(&b, c); err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{"fail  net.somaxconn", "calibration: 2 × 10s", "run 2: p50 0.100ms", "CV: p50 0.0%", "verdict: FAIL", c.EnvironmentHash} {
		if !strings.Contains(b.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, b.String())
		}
	}
}
