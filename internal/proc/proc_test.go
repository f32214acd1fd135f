package proc

import (
	"bufio"
	"context"
	"errors"
	"io"
	"os"
	"os/exec"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"go.uber.org/goleak"
)

func TestMain(m *testing.M) { goleak.VerifyTestMain(m) }

// alive reports whether pid is a running (not zombie) process.
func alive(pid int) bool {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return false
	}
	s := string(b)
	i := strings.LastIndexByte(s, ')')
	if i < 0 || i+2 >= len(s) {
		return false
	}
	state := s[i+2]
	return state != 'Z' && state != 'X'
}

// waitGone polls until pid is no longer running; a reparented orphan is reaped by
// whoever is init, which takes a moment.
func waitGone(t *testing.T, pid int) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for alive(pid) {
		if time.Now().After(deadline) {
			t.Fatalf("pid %d is still running", pid)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

// startWithPID starts a shell script that prints a grandchild's pid on its first
// stdout line and returns the process and that pid.
func startWithPID(ctx context.Context, t *testing.T, script string, grace time.Duration) (*Process, int) {
	t.Helper()
	pr, pw := io.Pipe()
	p, err := Start(ctx, Cmd{Name: "script", Path: "sh", Args: []string{"-c", script}, Stdout: pw, Grace: grace})
	if err != nil {
		t.Fatal(err)
	}
	line, err := bufio.NewReader(pr).ReadString('\n')
	if err != nil {
		t.Fatalf("reading the grandchild's pid: %v", err)
	}
	pr.Close() // later writes fail, and the tee is dropped
	pid, err := strconv.Atoi(strings.TrimSpace(line))
	if err != nil {
		t.Fatalf("bad pid line %q", line)
	}
	if !alive(pid) {
		t.Fatalf("grandchild %d is not running", pid)
	}
	return p, pid
}

func TestExitZero(t *testing.T) {
	p, err := Start(context.Background(), Cmd{Path: "true"})
	if err != nil {
		t.Fatal(err)
	}
	if p.PID() <= 0 {
		t.Errorf("PID() = %d", p.PID())
	}
	if err := p.Wait(); err != nil {
		t.Fatalf("Wait() = %v, want nil", err)
	}
	select {
	case <-p.Done():
	default:
		t.Fatal("Done() not closed after Wait")
	}
	if err := p.Stop(context.Background()); err != nil {
		t.Errorf("Stop after exit = %v", err)
	}
}

func TestRunErrorCarriesCommandAndOutput(t *testing.T) {
	p, err := Start(context.Background(), Cmd{
		Name: "failing",
		Path: "sh",
		Args: []string{"-c", "echo to stdout; echo to stderr >&2; exit 3"},
		Env:  []string{"SMP_TEST=a b"},
	})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Wait()
	var re *RunError
	if !errors.As(err, &re) {
		t.Fatalf("Wait() = %v (%T), want *RunError", err, err)
	}
	if want := `SMP_TEST='a b' sh -c 'echo to stdout; echo to stderr >&2; exit 3'`; re.Command != want {
		t.Errorf("Command = %q, want %q", re.Command, want)
	}
	for _, want := range []string{"to stdout", "to stderr"} {
		if !strings.Contains(re.Output, want) {
			t.Errorf("Output %q lacks %q", re.Output, want)
		}
		if !strings.Contains(re.Error(), want) {
			t.Errorf("Error() %q lacks %q", re.Error(), want)
		}
	}
	var ee *exec.ExitError
	if !errors.As(err, &ee) || ee.ExitCode() != 3 {
		t.Errorf("want an *exec.ExitError with code 3, got %v", err)
	}
	if !strings.Contains(re.Error(), "failing") {
		t.Errorf("Error() %q does not name the process", re.Error())
	}
}

func TestStartMissingProgram(t *testing.T) {
	_, err := Start(context.Background(), Cmd{Path: "/nonexistent/smp-no-such-program", Args: []string{"x"}})
	var re *RunError
	if !errors.As(err, &re) {
		t.Fatalf("Start() = %v, want *RunError", err)
	}
	if re.Command != "/nonexistent/smp-no-such-program x" {
		t.Errorf("Command = %q", re.Command)
	}
}

func TestStartWithDoneContext(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Start(ctx, Cmd{Path: "sleep", Args: []string{"60"}}); !errors.Is(err, context.Canceled) {
		t.Fatalf("Start() = %v, want context.Canceled", err)
	}
}

func TestCancelKillsTheWholeGroup(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	p, grandchild := startWithPID(ctx, t, "sleep 300 & echo $!; wait", time.Second)
	cancel()
	err := p.Wait()
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("Wait() = %v, want context.Canceled", err)
	}
	var re *RunError
	if !errors.As(err, &re) || !strings.Contains(re.Command, "sleep 300") {
		t.Errorf("want a *RunError with the command, got %v", err)
	}
	if alive(p.PID()) {
		t.Errorf("leader %d still running", p.PID())
	}
	waitGone(t, grandchild)
}

func TestStopEscalatesToSIGKILL(t *testing.T) {
	// The shell and its sleep both ignore SIGTERM; only SIGKILL ends them.
	p, grandchild := startWithPID(context.Background(), t, `trap "" TERM; sleep 300 & echo $!; wait`, 200*time.Millisecond)
	start := time.Now()
	if err := p.Stop(context.Background()); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 3*time.Second {
		t.Errorf("Stop took %v, want about the 200ms grace", d)
	}
	if err := p.Wait(); err != nil {
		t.Errorf("Wait() after Stop = %v, want nil", err)
	}
	waitGone(t, grandchild)
}

func TestStopWithDoneContextKillsAtOnce(t *testing.T) {
	p, _ := startWithPID(context.Background(), t, `trap "" TERM; sleep 300 & echo $!; wait`, time.Minute)
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	start := time.Now()
	if err := p.Stop(ctx); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Stop with a done context took %v", d)
	}
}

func TestStopIsIdempotentAndConcurrent(t *testing.T) {
	p, err := Start(context.Background(), Cmd{Path: "sleep", Args: []string{"300"}})
	if err != nil {
		t.Fatal(err)
	}
	errs := make(chan error, 3)
	for range 3 {
		go func() { errs <- p.Stop(context.Background()) }()
	}
	for range 3 {
		if err := <-errs; err != nil {
			t.Error(err)
		}
	}
	if err := p.Stop(context.Background()); err != nil {
		t.Error(err)
	}
	if err := p.Wait(); err != nil {
		t.Errorf("Wait() = %v", err)
	}
}

func TestLeaderExitKillsStragglers(t *testing.T) {
	// The background sleep keeps stdout open; without the group kill, Wait would block
	// on the pipe for five minutes.
	p, grandchild := startWithPID(context.Background(), t, "sleep 300 & echo $!; sleep 0.5", time.Second)
	done := make(chan error, 1)
	go func() { done <- p.Wait() }()
	select {
	case err := <-done:
		if err != nil {
			t.Fatalf("Wait() = %v", err)
		}
	case <-time.After(10 * time.Second):
		t.Fatal("Wait blocked on a straggler")
	}
	waitGone(t, grandchild)
}

func TestOutputKeepsTheTail(t *testing.T) {
	p, err := Start(context.Background(), Cmd{
		Path:        "sh",
		Args:        []string{"-c", `i=0; while [ $i -lt 2000 ]; do echo "line $i"; i=$((i+1)); done; echo last >&2; exit 1`},
		OutputLimit: 1024,
	})
	if err != nil {
		t.Fatal(err)
	}
	err = p.Wait()
	out := p.Output()
	if len(out) > 1100 {
		t.Errorf("Output is %d bytes, want about 1024", len(out))
	}
	if !strings.HasPrefix(out, "[… ") || !strings.Contains(out, "earlier bytes dropped]\nline ") {
		t.Errorf("Output does not start with the drop marker and a whole line: %q", out[:min(80, len(out))])
	}
	if !strings.HasSuffix(out, "line 1999\nlast\n") {
		t.Errorf("Output does not end with the last lines: %q", out[max(0, len(out)-40):])
	}
	var re *RunError
	if !errors.As(err, &re) || !strings.HasSuffix(re.Output, "last\n") {
		t.Errorf("RunError.Output lacks the tail: %v", err)
	}
	if n := strings.Count(re.Error(), "\n    "); n != errorTailLines {
		t.Errorf("Error() shows %d output lines, want %d", n, errorTailLines)
	}
}

func TestOutputHelper(t *testing.T) {
	out, err := Output(context.Background(), Cmd{Path: "sh", Args: []string{"-c", "echo out; echo err >&2"}})
	if err != nil {
		t.Fatal(err)
	}
	if string(out) != "out\n" {
		t.Errorf("Output() = %q, want only stdout", out)
	}
}

func TestEnvAndDir(t *testing.T) {
	dir := t.TempDir()
	out, err := Output(context.Background(), Cmd{Path: "sh", Args: []string{"-c", `echo "$SMP_X $(pwd)"`}, Env: []string{"SMP_X=1"}, Dir: dir})
	if err != nil {
		t.Fatal(err)
	}
	if got, want := strings.TrimSpace(string(out)), "1 "+dir; got != want {
		t.Errorf("got %q, want %q", got, want)
	}
}

func TestOwnProcessGroup(t *testing.T) {
	p, err := Start(context.Background(), Cmd{Path: "sleep", Args: []string{"300"}})
	if err != nil {
		t.Fatal(err)
	}
	defer p.Stop(context.Background())
	pgid, err := syscall.Getpgid(p.PID())
	if err != nil {
		t.Fatal(err)
	}
	if pgid != p.PID() || pgid == syscall.Getpgrp() {
		t.Errorf("pgid = %d, want the child's own pid %d (ours is %d)", pgid, p.PID(), syscall.Getpgrp())
	}
}

func TestLookPath(t *testing.T) {
	if _, err := LookPath("sh", "apt-get install dash"); err != nil {
		t.Errorf("LookPath(sh) = %v", err)
	}
	_, err := LookPath("smp-no-such-program", "apt-get install smp-no-such-program")
	if !errors.Is(err, exec.ErrNotFound) {
		t.Errorf("want exec.ErrNotFound, got %v", err)
	}
	const want = "smp-no-such-program not found on PATH; install it with: apt-get install smp-no-such-program"
	if err == nil || err.Error() != want {
		t.Errorf("error = %q, want %q", err, want)
	}
}

func TestQuote(t *testing.T) {
	for _, tc := range []struct{ in, want string }{
		{"", "''"},
		{"plain", "plain"},
		{"/usr/sbin/haproxy", "/usr/sbin/haproxy"},
		{"-f=a.cfg", "-f=a.cfg"},
		{"daemon off;", "'daemon off;'"},
		{"it's", `'it'\''s'`},
		{"$HOME", "'$HOME'"},
	} {
		if got := Quote(tc.in); got != tc.want {
			t.Errorf("Quote(%q) = %q, want %q", tc.in, got, tc.want)
		}
	}
}

func TestRingBoundaries(t *testing.T) {
	r := newRing(8)
	r.Write([]byte("abc"))
	r.Write([]byte("defgh"))
	if got := r.String(); got != "abcdefgh" {
		t.Errorf("full ring = %q", got)
	}
	r.Write([]byte("0123456789"))
	if got := r.String(); !strings.HasSuffix(got, "23456789") {
		t.Errorf("overflowing write = %q", got)
	}
}
