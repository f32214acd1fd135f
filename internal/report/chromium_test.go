//go:build unix

package report

import (
	"bufio"
	"bytes"
	"context"
	"encoding/base64"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/service-mesh-performance/smp/result"
)

// TestHTMLInChromium opens the HTML report of the rich fixture (and of the captured real
// result) in headless Chromium, driven over the DevTools protocol on a pipe (no port, no
// websocket): the page must load with no console error, warning or uncaught exception,
// its script must run, every chart must have drawn content of a real size, and a legend
// click must hide and show its lines. It saves a full-page screenshot (and the page) to
// $SMP_ARTIFACTS when set, else to the test's temporary folder (logged, then removed).
//
// It skips when Chromium is not installed, unless SMP_INTEGRATION=1 (scripts/test and CI),
// where a missing browser fails: the Debian package chromium is in scripts/debian-packages.
func TestHTMLInChromium(t *testing.T) {
	bin := chromiumBinary()
	if bin == "" {
		if os.Getenv("SMP_INTEGRATION") == "1" {
			t.Fatal("chromium is not installed; scripts/test installs it (scripts/debian-packages)")
		}
		t.Skip("chromium is not installed (Debian package chromium)")
	}
	artifacts := os.Getenv("SMP_ARTIFACTS")
	if artifacts == "" {
		artifacts = t.TempDir()
	}
	if err := os.MkdirAll(artifacts, 0o755); err != nil {
		t.Fatal(err)
	}
	docs := map[string]func() ([]byte, error){
		"report-fixture": func() ([]byte, error) {
			var buf bytes.Buffer
			err := Render(&buf, richDoc(t), FormatHTML)
			return buf.Bytes(), err
		},
		"report-quickstart-local": func() ([]byte, error) {
			doc, err := result.Load("testdata/quickstart-local.json")
			if err != nil {
				return nil, err
			}
			var buf bytes.Buffer
			err = Render(&buf, doc, FormatHTML)
			return buf.Bytes(), err
		},
	}
	for _, name := range []string{"report-fixture", "report-quickstart-local"} {
		t.Run(name, func(t *testing.T) {
			page, err := docs[name]()
			if err != nil {
				t.Fatal(err)
			}
			got, problems := inspect(t, bin, artifacts, name, page)
			for _, m := range problems {
				t.Errorf("console: %s", m)
			}
			if got.Ready != "true" {
				t.Errorf("the page's script did not run to its end (data-ready %q)", got.Ready)
			}
			for _, id := range []string{"meshmark", "histogram", "spectrum", "latency-time", "throughput", "cpu", "memory"} {
				c, ok := got.Charts[id]
				switch {
				case !ok:
					t.Errorf("chart %s is not on the page", id)
				case c.Width < 300 || c.Height < 50:
					t.Errorf("chart %s is %.0f×%.0f pixels", id, c.Width, c.Height)
				case c.Series == 0 || c.Drawn != c.Series:
					t.Errorf("chart %s: %d of %d series have drawn content", id, c.Drawn, c.Series)
				}
			}
			if !got.Hidden || !got.Shown {
				t.Errorf("legend click: lines hidden %v, shown again %v", got.Hidden, got.Shown)
			}
			if got.Tables < 8 {
				t.Errorf("%d tables on the page, want at least 8", got.Tables)
			}
		})
	}

	// The checks above can fail: a page whose script throws, logs an error and draws a
	// chart with nothing in it is caught on every count.
	t.Run("broken page", func(t *testing.T) {
		page := []byte(`<!DOCTYPE html><html><head><meta charset="utf-8"><title>broken</title></head><body>
<figure class="chart" id="chart-histogram"><svg class="plot" data-chart="histogram" viewBox="0 0 640 360" width="640" height="360">
<path class="series" data-series="a" d=""/></svg><ul class="legend"><li data-series="a">a</li></ul></figure>
<script>console.error("drawing failed"); undefinedFunction();</script></body></html>`)
		got, problems := inspect(t, bin, artifacts, "broken-page", page)
		var exception, consoleError bool
		for _, p := range problems {
			exception = exception || strings.Contains(p, "undefinedFunction")
			consoleError = consoleError || strings.Contains(p, "drawing failed")
		}
		if !exception || !consoleError {
			t.Errorf("the exception (%v) or the console error (%v) went unnoticed: %q", exception, consoleError, problems)
		}
		if got.Ready == "true" {
			t.Error("data-ready is set on a page without smp's script")
		}
		if c := got.Charts["histogram"]; c.Series != 1 || c.Drawn != 0 {
			t.Errorf("an empty path counted as drawn: %+v", c)
		}
	})
}

// inspect opens page in a fresh headless Chromium, returns what checkScript found and the
// console problems, and saves the page and a full-page screenshot in dir.
func inspect(t *testing.T, bin, dir, name string, page []byte) (pageCheck, []string) {
	t.Helper()
	path := filepath.Join(dir, name+".html")
	if err := os.WriteFile(path, page, 0o644); err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 90*time.Second)
	defer cancel()
	b, err := startChromium(ctx, t, bin)
	if err != nil {
		t.Fatal(err)
	}
	defer b.close(t)
	got, shot, err := b.check(ctx, "file://"+path)
	if err != nil {
		t.Fatalf("%v\nbrowser output:\n%s", err, b.stderr.String())
	}
	png := filepath.Join(dir, name+".png")
	if err := os.WriteFile(png, shot, 0o644); err != nil {
		t.Fatal(err)
	}
	t.Logf("page %s, screenshot %s (%d bytes)", path, png, len(shot))
	if len(shot) < 1000 || !bytes.HasPrefix(shot, []byte("\x89PNG")) {
		t.Errorf("screenshot: %d bytes, not a PNG", len(shot))
	}
	return got, b.problems()
}

func chromiumBinary() string {
	if p := os.Getenv("SMP_CHROMIUM"); p != "" {
		return p
	}
	for _, n := range []string{"chromium", "chromium-browser", "google-chrome", "google-chrome-stable"} {
		if p, err := exec.LookPath(n); err == nil {
			return p
		}
	}
	return ""
}

// browser is a headless Chromium driven over --remote-debugging-pipe: requests go to its
// fd 3 and answers come from its fd 4, each a JSON message ended by a NUL byte.
type browser struct {
	cmd    *exec.Cmd
	in     io.WriteCloser
	stderr bytes.Buffer
	done   chan error // the process's exit

	mu      sync.Mutex
	nextID  int
	waiting map[int]chan cdpMessage
	events  []cdpMessage
	eventCh chan cdpMessage
	readErr error
}

type cdpMessage struct {
	ID        int             `json:"id,omitempty"`
	Method    string          `json:"method,omitempty"`
	SessionID string          `json:"sessionId,omitempty"`
	Params    json.RawMessage `json:"params,omitempty"`
	Result    json.RawMessage `json:"result,omitempty"`
	Error     *struct {
		Code    int    `json:"code"`
		Message string `json:"message"`
	} `json:"error,omitempty"`
}

func startChromium(ctx context.Context, t *testing.T, bin string) (*browser, error) {
	profile := t.TempDir()
	toChrome, ourEnd, err := os.Pipe() // chrome reads requests from toChrome (its fd 3)
	if err != nil {
		return nil, err
	}
	fromChrome, chromeEnd, err := os.Pipe() // chrome writes answers to chromeEnd (its fd 4)
	if err != nil {
		return nil, err
	}
	b := &browser{in: ourEnd, done: make(chan error, 1), waiting: map[int]chan cdpMessage{}, eventCh: make(chan cdpMessage, 1024)}
	b.cmd = exec.Command(bin, "--headless", "--no-sandbox", "--disable-gpu", "--disable-background-networking",
		"--disable-component-update", "--disable-sync", "--no-first-run", "--no-default-browser-check",
		"--disable-extensions", "--disable-crash-reporter", "--hide-scrollbars", "--mute-audio",
		"--window-size=1280,2000", "--user-data-dir="+profile, "--remote-debugging-pipe", "about:blank")
	b.cmd.ExtraFiles = []*os.File{toChrome, chromeEnd}
	b.cmd.Stderr = &b.stderr
	b.cmd.Env = append(os.Environ(), "HOME="+profile) // keep ~/.config and caches out of the user's home
	b.cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := b.cmd.Start(); err != nil {
		return nil, fmt.Errorf("start %s: %w", bin, err)
	}
	toChrome.Close()
	chromeEnd.Close()
	go func() { b.done <- b.cmd.Wait() }()
	go b.read(fromChrome)
	context.AfterFunc(ctx, func() { _ = syscall.Kill(-b.cmd.Process.Pid, syscall.SIGKILL) })
	return b, nil
}

// read dispatches the browser's messages: answers to their callers, events to eventCh.
func (b *browser) read(r io.ReadCloser) {
	defer r.Close()
	br := bufio.NewReader(r)
	for {
		raw, err := br.ReadBytes(0)
		if err != nil {
			b.mu.Lock()
			b.readErr = err
			for id, ch := range b.waiting {
				close(ch)
				delete(b.waiting, id)
			}
			b.mu.Unlock()
			close(b.eventCh)
			return
		}
		var m cdpMessage
		if err := json.Unmarshal(raw[:len(raw)-1], &m); err != nil {
			continue
		}
		b.mu.Lock()
		if m.ID != 0 {
			if ch, ok := b.waiting[m.ID]; ok {
				ch <- m
				delete(b.waiting, m.ID)
			}
			b.mu.Unlock()
			continue
		}
		b.events = append(b.events, m)
		b.mu.Unlock()
		select {
		case b.eventCh <- m:
		default: // nobody waits for it; it is kept in events
		}
	}
}

// call sends one command (to a page session when session is set) and waits for its answer.
func (b *browser) call(ctx context.Context, session, method string, params any, out any) error {
	b.mu.Lock()
	if b.readErr != nil {
		b.mu.Unlock()
		return fmt.Errorf("%s: the browser is gone: %w", method, b.readErr)
	}
	b.nextID++
	id := b.nextID
	ch := make(chan cdpMessage, 1)
	b.waiting[id] = ch
	b.mu.Unlock()
	msg := map[string]any{"id": id, "method": method}
	if params != nil {
		msg["params"] = params
	}
	if session != "" {
		msg["sessionId"] = session
	}
	data, err := json.Marshal(msg)
	if err != nil {
		return err
	}
	if _, err := b.in.Write(append(data, 0)); err != nil {
		return fmt.Errorf("%s: %w", method, err)
	}
	select {
	case <-ctx.Done():
		return fmt.Errorf("%s: %w", method, ctx.Err())
	case m, ok := <-ch:
		switch {
		case !ok:
			return fmt.Errorf("%s: the browser closed the pipe", method)
		case m.Error != nil:
			return fmt.Errorf("%s: %s (%d)", method, m.Error.Message, m.Error.Code)
		case out != nil:
			return json.Unmarshal(m.Result, out)
		}
		return nil
	}
}

// waitEvent waits for an event of a session.
func (b *browser) waitEvent(ctx context.Context, session, method string) error {
	for {
		select {
		case <-ctx.Done():
			return fmt.Errorf("waiting for %s: %w", method, ctx.Err())
		case m, ok := <-b.eventCh:
			if !ok {
				return fmt.Errorf("waiting for %s: the browser closed the pipe", method)
			}
			if m.Method == method && m.SessionID == session {
				return nil
			}
		}
	}
}

// pageCheck is what the page reports about itself.
type pageCheck struct {
	Ready  string `json:"ready"`
	Charts map[string]struct {
		Width  float64 `json:"w"`
		Height float64 `json:"h"`
		Drawn  int     `json:"drawn"`
		Series int     `json:"series"`
	} `json:"charts"`
	Hidden bool `json:"hidden"`
	Shown  bool `json:"shown"`
	Tables int  `json:"tables"`
}

const checkScript = `(() => {
  const out = {ready: document.documentElement.getAttribute("data-ready"), charts: {}, tables: document.querySelectorAll("table").length};
  document.querySelectorAll("figure.chart svg").forEach(svg => {
    const box = svg.getBoundingClientRect();
    const series = svg.querySelectorAll(".series");
    let drawn = 0;
    series.forEach(el => { const b = el.getBBox(); if (b.width > 0 || b.height > 0) drawn++; });
    out.charts[svg.getAttribute("data-chart")] = {w: box.width, h: box.height, drawn: drawn, series: series.length};
  });
  const item = document.querySelector("#chart-histogram ul.legend li");
  if (!item) return JSON.stringify(out);
  const key = item.getAttribute("data-series");
  const lines = () => Array.from(document.querySelectorAll("#chart-histogram svg [data-series]")).filter(e => e.getAttribute("data-series") === key);
  item.click();
  out.hidden = lines().length > 0 && lines().every(e => getComputedStyle(e).display === "none");
  item.click();
  out.shown = lines().every(e => getComputedStyle(e).display !== "none");
  return JSON.stringify(out);
})()`

// check opens url in a new tab, runs checkScript once the page has loaded, and takes a
// screenshot of the whole page.
func (b *browser) check(ctx context.Context, url string) (pageCheck, []byte, error) {
	var got pageCheck
	var target struct {
		TargetID string `json:"targetId"`
	}
	if err := b.call(ctx, "", "Target.createTarget", map[string]any{"url": "about:blank"}, &target); err != nil {
		return got, nil, err
	}
	var attached struct {
		SessionID string `json:"sessionId"`
	}
	if err := b.call(ctx, "", "Target.attachToTarget", map[string]any{"targetId": target.TargetID, "flatten": true}, &attached); err != nil {
		return got, nil, err
	}
	s := attached.SessionID
	for _, m := range []string{"Runtime.enable", "Log.enable", "Page.enable"} {
		if err := b.call(ctx, s, m, nil, nil); err != nil {
			return got, nil, err
		}
	}
	if err := b.call(ctx, s, "Emulation.setDeviceMetricsOverride", map[string]any{"width": 1280, "height": 2000, "deviceScaleFactor": 1, "mobile": false}, nil); err != nil {
		return got, nil, err
	}
	var nav struct {
		ErrorText string `json:"errorText"`
	}
	if err := b.call(ctx, s, "Page.navigate", map[string]any{"url": url}, &nav); err != nil {
		return got, nil, err
	}
	if nav.ErrorText != "" {
		return got, nil, fmt.Errorf("navigate to %s: %s", url, nav.ErrorText)
	}
	if err := b.waitEvent(ctx, s, "Page.loadEventFired"); err != nil {
		return got, nil, err
	}
	var eval struct {
		Result struct {
			Value string `json:"value"`
		} `json:"result"`
		ExceptionDetails *struct {
			Text string `json:"text"`
		} `json:"exceptionDetails"`
	}
	if err := b.call(ctx, s, "Runtime.evaluate", map[string]any{"expression": checkScript, "returnByValue": true}, &eval); err != nil {
		return got, nil, err
	}
	if eval.ExceptionDetails != nil {
		return got, nil, fmt.Errorf("the check script failed: %s", eval.ExceptionDetails.Text)
	}
	if err := json.Unmarshal([]byte(eval.Result.Value), &got); err != nil {
		return got, nil, fmt.Errorf("the check script's answer %q: %w", eval.Result.Value, err)
	}
	var metrics struct {
		Content struct {
			Height float64 `json:"height"`
		} `json:"cssContentSize"`
	}
	if err := b.call(ctx, s, "Page.getLayoutMetrics", nil, &metrics); err != nil {
		return got, nil, err
	}
	var shot struct {
		Data string `json:"data"`
	}
	clip := map[string]any{"x": 0, "y": 0, "width": 1280, "height": max(metrics.Content.Height, 2000), "scale": 1}
	if err := b.call(ctx, s, "Page.captureScreenshot", map[string]any{"format": "png", "captureBeyondViewport": true, "clip": clip}, &shot); err != nil {
		return got, nil, err
	}
	png, err := base64.StdEncoding.DecodeString(shot.Data)
	return got, png, err
}

// problems lists the console errors and warnings, uncaught exceptions and browser log
// errors the page caused.
func (b *browser) problems() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for _, e := range b.events {
		switch e.Method {
		case "Runtime.exceptionThrown":
			out = append(out, "uncaught exception: "+string(e.Params))
		case "Runtime.consoleAPICalled":
			var p struct {
				Type string `json:"type"`
			}
			_ = json.Unmarshal(e.Params, &p)
			if p.Type == "error" || p.Type == "warning" || p.Type == "assert" {
				out = append(out, "console."+p.Type+": "+string(e.Params))
			}
		case "Log.entryAdded":
			var p struct {
				Entry struct {
					Level, Text, URL string
				} `json:"entry"`
			}
			_ = json.Unmarshal(e.Params, &p)
			if p.Entry.Level == "error" || p.Entry.Level == "warning" {
				out = append(out, fmt.Sprintf("log %s: %s %s", p.Entry.Level, p.Entry.Text, p.Entry.URL))
			}
		}
	}
	return out
}

// close asks the browser to quit, waits for it, and makes sure that no process of its
// group is left.
func (b *browser) close(t *testing.T) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 15*time.Second)
	defer cancel()
	_ = b.call(ctx, "", "Browser.close", nil, nil)
	b.in.Close()
	pgid := b.cmd.Process.Pid
	select {
	case <-b.done:
	case <-ctx.Done():
		t.Errorf("chromium did not quit after Browser.close; killing it")
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
		<-b.done
	}
	// Helpers (zygote, renderers) share the browser's process group and quit with it.
	// One that still runs is a leak: report it and kill it. (Exited helpers can linger
	// as zombies until init reaps them; they hold nothing.)
	if left := groupMembers(pgid); len(left) > 0 {
		t.Errorf("chromium left processes behind: %s", strings.Join(left, "; "))
		_ = syscall.Kill(-pgid, syscall.SIGKILL)
	}
}

// groupMembers lists the live (not zombie) processes of a process group, from /proc.
func groupMembers(pgid int) []string {
	stats, _ := filepath.Glob("/proc/[0-9]*/stat")
	var out []string
	for _, path := range stats {
		data, err := os.ReadFile(path)
		if err != nil {
			continue // exited meanwhile
		}
		// pid (comm) state ppid pgrp …; comm may hold spaces and parentheses.
		s := string(data)
		i := strings.LastIndexByte(s, ')')
		if i < 0 {
			continue
		}
		f := strings.Fields(s[i+1:])
		if len(f) < 3 || f[0] == "Z" || f[0] == "X" || f[2] != fmt.Sprint(pgid) {
			continue
		}
		out = append(out, strings.TrimSpace(s[:i+1])+" "+f[0])
	}
	return out
}
