package proc

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"time"
)

// Defaults for Cmd's zero values.
const (
	// DefaultOutputLimit keeps the last 64 KiB of output: enough for the error a proxy
	// prints before exiting, small enough to keep one per process for a whole run.
	DefaultOutputLimit = 64 << 10
	// DefaultGrace is how long a group has between SIGTERM and SIGKILL. haproxy and nginx
	// stop in milliseconds; 5 s covers a loaded Envoy draining its listeners.
	DefaultGrace = 5 * time.Second
	// drainTimeout bounds the wait for the output pipes to close once the group is dead.
	// Only a grandchild that escaped the group can hold them open that long.
	drainTimeout = 2 * time.Second
	// killTimeout bounds the wait for a SIGKILLed leader to be reaped.
	killTimeout = 10 * time.Second
)

// Cmd describes a program to run. The zero value of every optional field means the
// documented default.
type Cmd struct {
	// Name labels the process in errors, e.g. "svc-1-proxy". Default: the base name of Path.
	Name string
	// Path is the program: a path, or a name looked up on PATH.
	Path string
	// Args are the arguments, without the program name.
	Args []string
	// Env is added to smp's own environment ("KEY=value"); a later entry wins.
	Env []string
	// Dir is the working directory. Default: smp's.
	Dir string
	// Stdout and Stderr, when set, also receive the child's output as it arrives (for
	// example to read a ready line). A writer that fails stops receiving; the capture
	// goes on. A writer that blocks blocks the child once the pipe is full. When they
	// differ, stdout and stderr travel through separate pipes, so their interleaving in
	// the captured output is only as exact as the scheduler makes it.
	Stdout, Stderr io.Writer
	// OutputLimit is how many bytes of combined output are kept (the tail).
	// Default DefaultOutputLimit.
	OutputLimit int
	// Grace is how long the group has between SIGTERM and SIGKILL. Default DefaultGrace.
	Grace time.Duration
}

// Process is a started program. Its methods are safe for concurrent use.
type Process struct {
	cmd     *exec.Cmd
	name    string
	command string
	grace   time.Duration
	out     *ring
	pgid    int

	readers []*os.File
	copiers sync.WaitGroup

	done    chan struct{}
	waitErr error // set before done is closed

	// why records who ended the process first: 0 nobody, 1 Stop, 2 the context.
	why      atomic.Int32
	ctxErr   error // written before why is set to whyContext
	termOnce sync.Once
}

const (
	whyNone = iota
	whyStop
	whyContext
)

// Start launches c in its own process group and returns once the program runs. The
// process is bound to ctx: when ctx is done the group gets SIGTERM, then SIGKILL after
// the grace period, and Wait reports a *RunError wrapping ctx.Err(). A program that
// cannot be started is a *RunError too (wrapping exec.ErrNotFound when it is missing).
func Start(ctx context.Context, c Cmd) (*Process, error) {
	if c.Path == "" {
		return nil, errors.New("proc: Cmd.Path is empty")
	}
	p := &Process{
		name:    c.Name,
		command: commandLine(c),
		grace:   c.Grace,
		out:     newRing(c.OutputLimit),
		done:    make(chan struct{}),
	}
	if p.name == "" {
		p.name = filepath.Base(c.Path)
	}
	if p.grace <= 0 {
		p.grace = DefaultGrace
	}
	if err := ctx.Err(); err != nil {
		return nil, &RunError{Command: p.command, Err: fmt.Errorf("start %s: %w", p.name, err)}
	}

	cmd := exec.Command(c.Path, c.Args...)
	cmd.Dir = c.Dir
	if len(c.Env) > 0 {
		cmd.Env = append(os.Environ(), c.Env...)
	}
	cmd.SysProcAttr = sysProcAttr()
	cmd.Stdin = nil // /dev/null

	// Pipes are ours (not exec's) so that Wait returns as soon as the leader exits,
	// whoever still holds the write ends; see the drain in wait. Without separate
	// destinations both streams share one pipe and keep their exact interleaving.
	shared := c.Stdout == c.Stderr
	pipes := 2
	if shared {
		pipes = 1
	}
	var readers, writers []*os.File
	closeAll := func(fs []*os.File) {
		for _, f := range fs {
			f.Close()
		}
	}
	for range pipes {
		r, w, err := os.Pipe()
		if err != nil {
			closeAll(readers)
			closeAll(writers)
			return nil, &RunError{Command: p.command, Err: fmt.Errorf("start %s: %w", p.name, err)}
		}
		readers, writers = append(readers, r), append(writers, w)
	}
	cmd.Stdout, cmd.Stderr = writers[0], writers[len(writers)-1]
	err := cmd.Start()
	closeAll(writers)
	if err != nil {
		closeAll(readers)
		return nil, &RunError{Command: p.command, Err: fmt.Errorf("start %s: %w", p.name, err)}
	}
	p.cmd = cmd
	p.pgid = cmd.Process.Pid
	p.readers = readers
	p.copiers.Add(pipes)
	go p.copy(readers[0], c.Stdout)
	if !shared {
		go p.copy(readers[1], c.Stderr)
	}
	go p.wait()
	go p.supervise(ctx)
	return p, nil
}

// PID is the process id of the leader, which is also its process group id.
func (p *Process) PID() int { return p.pgid }

// Name is the label given in Cmd.Name (or the program's base name).
func (p *Process) Name() string { return p.name }

// Command is the pasteable, shell-quoted command line.
func (p *Process) Command() string { return p.command }

// Done is closed once the process has exited and its output is drained.
func (p *Process) Done() <-chan struct{} { return p.done }

// Output returns the tail of the combined stdout and stderr captured so far.
func (p *Process) Output() string { return p.out.String() }

// Wait blocks until the process has exited and returns:
//   - nil if it exited with status 0, or if Stop ended it (a requested stop is not a
//     failure, whatever status the program chose on SIGTERM);
//   - a *RunError wrapping ctx.Err() if Start's context ended it;
//   - a *RunError wrapping the *exec.ExitError otherwise.
func (p *Process) Wait() error {
	<-p.done
	return p.waitErr
}

// Stop ends the process group: SIGTERM, then SIGKILL once the grace period or ctx is
// over, whichever comes first (a ctx that is already done means SIGKILL at once). It
// returns when the process has exited, and is safe to call any number of times, also
// after the process has exited on its own. The error is non-nil only if the process
// could not be ended.
func (p *Process) Stop(ctx context.Context) error {
	p.why.CompareAndSwap(whyNone, whyStop)
	return p.terminate(ctx)
}

func (p *Process) terminate(ctx context.Context) error {
	select {
	case <-p.done:
		return nil
	default:
	}
	if ctx.Err() == nil {
		p.termOnce.Do(func() { p.signal(syscall.SIGTERM) })
		t := time.NewTimer(p.grace)
		select {
		case <-p.done:
			t.Stop()
			return nil
		case <-ctx.Done():
		case <-t.C:
		}
		t.Stop()
	}
	p.signal(syscall.SIGKILL)
	t := time.NewTimer(killTimeout)
	defer t.Stop()
	select {
	case <-p.done:
		return nil
	case <-t.C:
		return fmt.Errorf("stop %s (pid %d): still running %s after SIGKILL", p.name, p.pgid, killTimeout)
	}
}

// signal sends sig to the whole process group.
func (p *Process) signal(sig syscall.Signal) {
	_ = syscall.Kill(-p.pgid, sig) // ESRCH: the group is already gone
}

// supervise turns the end of Start's context into a stop.
func (p *Process) supervise(ctx context.Context) {
	select {
	case <-p.done:
	case <-ctx.Done():
		p.ctxErr = ctx.Err()
		if p.why.CompareAndSwap(whyNone, whyContext) {
			_ = p.terminate(context.Background())
		}
	}
}

// wait reaps the leader, kills whatever is left of its group, drains the output and
// records the result.
func (p *Process) wait() {
	// Wait for the leader to exit without reaping it, so that its pid (the group id)
	// cannot be reused while we kill the rest of the group.
	var err error
	if waitExited(p.pgid) {
		p.signal(syscall.SIGKILL)
		err = p.cmd.Wait()
	} else {
		err = p.cmd.Wait()
		p.signal(syscall.SIGKILL)
	}

	drained := make(chan struct{})
	go func() {
		p.copiers.Wait()
		close(drained)
	}()
	select {
	case <-drained:
	case <-time.After(drainTimeout):
		for _, r := range p.readers {
			r.Close() // unblocks the copiers' reads
		}
		<-drained
	}
	for _, r := range p.readers {
		r.Close()
	}

	switch p.why.Load() {
	case whyStop:
		err = nil
	case whyContext:
		cause := p.ctxErr
		if err != nil {
			err = fmt.Errorf("%w (%v)", cause, err)
		} else {
			err = cause
		}
	}
	if err != nil {
		p.waitErr = &RunError{Command: p.command, Output: p.out.String(), Err: fmt.Errorf("%s: %w", p.name, err)}
	}
	close(p.done)
}

func (p *Process) copy(r *os.File, tee io.Writer) {
	defer p.copiers.Done()
	buf := make([]byte, 32<<10)
	for {
		n, err := r.Read(buf)
		if n > 0 {
			p.out.Write(buf[:n])
			if tee != nil {
				if _, werr := tee.Write(buf[:n]); werr != nil {
					tee = nil
				}
			}
		}
		if err != nil {
			return
		}
	}
}

// Output runs c to completion and returns what it wrote to stdout. A non-zero exit is
// a *RunError carrying the combined output.
func Output(ctx context.Context, c Cmd) ([]byte, error) {
	var stdout lockedBuffer
	if c.Stdout != nil {
		c.Stdout = io.MultiWriter(&stdout, c.Stdout)
	} else {
		c.Stdout = &stdout
	}
	p, err := Start(ctx, c)
	if err != nil {
		return nil, err
	}
	if err := p.Wait(); err != nil {
		return stdout.Bytes(), err
	}
	return stdout.Bytes(), nil
}

type lockedBuffer struct {
	mu sync.Mutex
	b  bytes.Buffer
}

func (l *lockedBuffer) Write(p []byte) (int, error) {
	l.mu.Lock()
	defer l.mu.Unlock()
	return l.b.Write(p)
}

func (l *lockedBuffer) Bytes() []byte {
	l.mu.Lock()
	defer l.mu.Unlock()
	return bytes.Clone(l.b.Bytes())
}

// RunError is a program that failed: to start, with a non-zero status, or because its
// context ended. Like kind's exec.RunError, it carries what is needed to reproduce it.
type RunError struct {
	// Command is the shell-quoted command line, pasteable into sh (working directory and
	// added environment included).
	Command string
	// Output is the tail of the combined stdout and stderr.
	Output string
	// Err is the cause: *exec.ExitError, a context error, or a start error.
	Err error
}

// errorTailLines is how many output lines Error includes; the rest stays in Output.
const errorTailLines = 10

func (e *RunError) Error() string {
	var b strings.Builder
	fmt.Fprintf(&b, "%v\n  command: %s", e.Err, e.Command)
	if tail := lastLines(e.Output, errorTailLines); tail != "" {
		b.WriteString("\n  output (last lines):")
		for _, l := range strings.Split(tail, "\n") {
			b.WriteString("\n    ")
			b.WriteString(l)
		}
	}
	return b.String()
}

func (e *RunError) Unwrap() error { return e.Err }

func lastLines(s string, n int) string {
	s = strings.TrimRight(s, "\n")
	if s == "" {
		return ""
	}
	i := len(s)
	for ; n > 0 && i > 0; n-- {
		i = strings.LastIndexByte(s[:i], '\n')
		if i < 0 {
			return s
		}
	}
	return s[i+1:]
}

// NotFoundError is a program missing from PATH, with how to install it.
type NotFoundError struct {
	Name string
	// Hint is how to install it, e.g. "apt-get install haproxy".
	Hint string
	Err  error
}

func (e *NotFoundError) Error() string {
	if e.Hint == "" {
		return fmt.Sprintf("%s not found on PATH", e.Name)
	}
	return fmt.Sprintf("%s not found on PATH; install it with: %s", e.Name, e.Hint)
}

func (e *NotFoundError) Unwrap() error { return e.Err }

// LookPath finds name on PATH (or checks it, if it contains a slash). A missing
// program is a *NotFoundError naming it and installHint, and wrapping exec.ErrNotFound.
func LookPath(name, installHint string) (string, error) {
	path, err := exec.LookPath(name)
	if err != nil {
		if errors.Is(err, exec.ErrDot) {
			return "", err
		}
		return "", &NotFoundError{Name: name, Hint: installHint, Err: exec.ErrNotFound}
	}
	return path, nil
}

// commandLine renders c as a line to paste into sh.
func commandLine(c Cmd) string {
	var parts []string
	if c.Dir != "" {
		parts = append(parts, "cd", Quote(c.Dir), "&&")
	}
	for _, kv := range c.Env {
		k, v, _ := strings.Cut(kv, "=")
		parts = append(parts, k+"="+Quote(v))
	}
	parts = append(parts, Quote(c.Path))
	for _, a := range c.Args {
		parts = append(parts, Quote(a))
	}
	return strings.Join(parts, " ")
}

// Quote returns s quoted for a POSIX shell: unchanged when it is made only of safe
// characters, in single quotes otherwise.
func Quote(s string) string {
	if s == "" {
		return "''"
	}
	safe := true
	for _, r := range s {
		if !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("@%+=:,./-_", r)) {
			safe = false
			break
		}
	}
	if safe {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ring keeps the last limit bytes written to it.
type ring struct {
	mu      sync.Mutex
	buf     []byte
	limit   int
	dropped int64
}

func newRing(limit int) *ring {
	if limit <= 0 {
		limit = DefaultOutputLimit
	}
	return &ring{limit: limit}
}

func (r *ring) Write(b []byte) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if len(b) >= r.limit {
		r.dropped += int64(len(r.buf) + len(b) - r.limit)
		r.buf = append(r.buf[:0], b[len(b)-r.limit:]...)
		return
	}
	if over := len(r.buf) + len(b) - r.limit; over > 0 {
		r.dropped += int64(over)
		n := copy(r.buf, r.buf[over:])
		r.buf = r.buf[:n]
	}
	r.buf = append(r.buf, b...)
}

// String returns the kept output; when some was dropped, it starts at a line boundary
// after a marker saying how much.
func (r *ring) String() string {
	r.mu.Lock()
	defer r.mu.Unlock()
	if r.dropped == 0 {
		return string(r.buf)
	}
	b := r.buf
	if i := bytes.IndexByte(b, '\n'); i >= 0 && i+1 < len(b) {
		b = b[i+1:]
	}
	return fmt.Sprintf("[… %d earlier bytes dropped]\n%s", r.dropped+int64(len(r.buf)-len(b)), b)
}
