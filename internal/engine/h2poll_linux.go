package engine

import (
	"errors"
	"fmt"
	"io"
	"os"
	"runtime"
	"sync"
	"syscall"
	"time"
	"unsafe"

	"github.com/service-mesh-performance/smp/internal/rawio"
)

// h2PollNap is how long a closed-loop poller that found nothing to read
// sleeps, holding its thread, before it looks again; the kernel's timer
// slack (h2TimerSlack) stretches it. Why, measured against nginx on the
// 2-core bench machine (16 connections × 10 streams, closed loop): with one
// reader goroutine per connection parked in the netpoller, the process went
// idle ~13,000 times a second for ~11µs, and nginx paid for waking it on
// every write that found it asleep (sched_wakeup from nginx: 0.15-0.26 per
// request against h2load's 0.03-0.06) and for writing into sockets the
// client was reading at that moment: 1.04-1.11× the nginx CPU per request
// that h2load cost. Polling through the gaps instead (no nap) removed the
// wake-ups but not the second cost (1.02×). A poller that naps is not woken
// by the server's writes and then reads everything that came meanwhile in
// one pass: nginx 0.91-0.98× h2load's CPU per request, the client 8µs
// against 14µs before (bench/README.md).
const h2PollNap = 10 * time.Microsecond

// h2TimerSlack is the kernel's default timer slack for a thread (see
// prctl(2), PR_SET_TIMERSLACK): a nap may last this much longer.
const h2TimerSlack = 50 * time.Microsecond

// h2PollBacklog is how many naps the requests in flight must keep the
// server busy for before a poller naps. A nap only delays what arrives
// during it, by less than a nap, and then that delay is at most 1/16 of the
// time a request is in flight (at 16 × 10 against nginx, 60µs against
// 1.9ms); and the server, with that much queued, never runs dry meanwhile.
const h2PollBacklog = 16

// h2Poller reads the plain-TCP links of a run from one epoll set, as an
// event loop (h2load's design, with the engine's workers beside it). Each
// link's frames are handled as by readLoop (absorb, end). After a pass that
// read nothing, a closed-loop poller whose streams keep the server busy for
// h2PollBacklog naps (see h2PollNap) naps once and looks again; otherwise, or
// when there is still nothing, it parks in the runtime's netpoller on the
// epoll descriptor itself, as the readers' goroutines would.
type h2Poller struct {
	f    *h2Factory
	file *os.File        // the epoll descriptor, pollable by the runtime
	rc   syscall.RawConn // its RawConn, so no call outlives a close
	wake int             // eventfd: a link closed elsewhere, or stop

	mu     sync.Mutex
	byID   map[uint64]*h2Link
	nextID uint64
	closed []*h2Link // closed by another goroutine: read them to their end
	stop   bool

	evs [64]syscall.EpollEvent
	n   int // events in evs from the last epoll_wait

	// The server's pace as this poller sees it, for the nap rule: responses
	// completed since paceStart, and the time per response over the last
	// window (0 = not measured yet). streams is how many requests its links
	// keep in flight (closed loop: every worker always has one); 0 = never nap.
	served    int
	paceStart time.Time
	perResp   time.Duration
	streams   int
}

// h2PaceWindow is how many responses one measurement of the pace spans.
const h2PaceWindow = 1024

const h2PollWakeID = 0 // the eventfd's id in the epoll set

// newH2Pollers starts n pollers, or returns nil when this system cannot
// (the links then read in goroutines of their own).
// streams is how many requests each keeps in flight in closed loop (0: open
// loop, never nap).
func newH2Pollers(f *h2Factory, n, streams int) []*h2Poller {
	var ps []*h2Poller
	for range n {
		p, err := newH2Poller(f, streams)
		if err != nil {
			for _, p := range ps {
				p.shutdown()
			}
			return nil
		}
		ps = append(ps, p)
	}
	return ps
}

func newH2Poller(f *h2Factory, streams int) (*h2Poller, error) {
	epfd, err := syscall.EpollCreate1(syscall.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("h2 poller: epoll_create1: %w", err)
	}
	wake, _, e := syscall.RawSyscall(syscall.SYS_EVENTFD2, 0, syscall.O_NONBLOCK|syscall.O_CLOEXEC, 0)
	if e != 0 {
		syscall.Close(epfd)
		return nil, fmt.Errorf("h2 poller: eventfd: %w", e)
	}
	ev := syscall.EpollEvent{Events: syscall.EPOLLIN}
	*(*uint64)(unsafe.Pointer(&ev.Fd)) = h2PollWakeID
	if err := syscall.EpollCtl(epfd, syscall.EPOLL_CTL_ADD, int(wake), &ev); err != nil {
		syscall.Close(epfd)
		syscall.Close(int(wake))
		return nil, fmt.Errorf("h2 poller: epoll_ctl: %w", err)
	}
	_ = syscall.SetNonblock(epfd, true) // so os.NewFile hands it to the netpoller
	file := os.NewFile(uintptr(epfd), "h2-epoll")
	rc, err := file.SyscallConn()
	if err != nil {
		file.Close()
		syscall.Close(int(wake))
		return nil, err
	}
	p := &h2Poller{f: f, file: file, rc: rc, wake: int(wake), byID: map[uint64]*h2Link{}, nextID: h2PollWakeID + 1, streams: streams}
	f.readers.Add(1)
	go p.run()
	return p, nil
}

// add registers a link whose handshake is done; false when it cannot be
// polled (TLS, or not a raw connection), and the caller reads it itself.
func (p *h2Poller) add(l *h2Link) bool {
	p.mu.Lock()
	id := p.nextID
	p.nextID++
	p.byID[id] = l
	p.mu.Unlock()
	var cerr error
	ok, err := rawio.Control(l.nc, func(fd uintptr) {
		ev := syscall.EpollEvent{Events: syscall.EPOLLIN | syscall.EPOLLRDHUP}
		*(*uint64)(unsafe.Pointer(&ev.Fd)) = id
		cerr = p.rc.Control(func(epfd uintptr) {
			cerr = syscall.EpollCtl(int(epfd), syscall.EPOLL_CTL_ADD, int(fd), &ev)
		})
	})
	if !ok || err != nil || cerr != nil {
		p.mu.Lock()
		delete(p.byID, id)
		p.mu.Unlock()
		return false
	}
	l.poller = p
	// Frames that came with the server's SETTINGS are already buffered.
	p.closedLater(l)
	return true
}

// closedLater has the poller read l once more even without an event: l's
// connection was closed elsewhere (and left the epoll set with it), or
// holds data read before it joined.
func (p *h2Poller) closedLater(l *h2Link) {
	p.mu.Lock()
	p.closed = append(p.closed, l)
	p.mu.Unlock()
	p.kick()
}

func (p *h2Poller) kick() {
	one := uint64(1)
	_, _, _ = syscall.RawSyscall(syscall.SYS_WRITE, uintptr(p.wake), uintptr(unsafe.Pointer(&one)), 8)
}

// shutdown ends the poller once every link it holds has ended.
func (p *h2Poller) shutdown() {
	p.mu.Lock()
	p.stop = true
	p.mu.Unlock()
	p.kick()
}

// poll fills evs with what is ready, waiting in the netpoller when block.
func (p *h2Poller) poll(block bool) error {
	p.n = 0
	var errno syscall.Errno
	read := func(epfd uintptr) bool {
		for {
			n, _, e := syscall.RawSyscall6(syscall.SYS_EPOLL_WAIT, epfd, uintptr(unsafe.Pointer(&p.evs[0])), uintptr(len(p.evs)), 0, 0, 0)
			switch e {
			case syscall.EINTR:
				continue
			case 0:
				p.n = int(n)
				return n > 0 || !block
			}
			errno = e
			return true
		}
	}
	if err := p.rc.Read(read); err != nil {
		return err
	}
	if errno != 0 {
		return errno
	}
	return nil
}

func (p *h2Poller) run() {
	defer p.f.readers.Done()
	defer func() {
		p.file.Close()
		syscall.Close(p.wake)
	}()
	for {
		err := p.poll(false)
		if err == nil && p.n == 0 && p.mayNap() {
			// Let every goroutine that is ready run first (workers
			// flushing their requests), then nap if still nothing came.
			runtime.Gosched()
			if err = p.poll(false); err == nil && p.n == 0 {
				ts := syscall.NsecToTimespec(int64(h2PollNap))
				_, _, _ = syscall.RawSyscall(syscall.SYS_NANOSLEEP, uintptr(unsafe.Pointer(&ts)), 0, 0)
				err = p.poll(false)
			}
		}
		if err == nil && p.n == 0 {
			err = p.poll(true)
		}
		if err != nil {
			p.endAll(err)
			return
		}
		for i := range p.n {
			id := *(*uint64)(unsafe.Pointer(&p.evs[i].Fd))
			if id == h2PollWakeID {
				if p.woken() {
					return
				}
				continue
			}
			p.mu.Lock()
			l := p.byID[id]
			p.mu.Unlock()
			if l != nil {
				p.serve(id, l)
			}
		}
	}
}

// mayNap reports whether the requests in flight keep the server busy for
// h2PollBacklog naps (timer slack included) at the pace measured.
func (p *h2Poller) mayNap() bool {
	return p.streams > 0 && p.perResp > 0 &&
		time.Duration(p.streams)*p.perResp >= h2PollBacklog*(h2PollNap+h2TimerSlack)
}

// count adds n completed responses to the pace measurement.
func (p *h2Poller) count(n int) {
	if n == 0 {
		return
	}
	if p.served == 0 {
		p.paceStart = time.Now()
	}
	p.served += n
	if p.served >= h2PaceWindow {
		p.perResp = time.Since(p.paceStart) / time.Duration(p.served)
		p.served = 0
	}
}

// woken handles the eventfd: links to read without an event, and stop. It
// reports whether the poller is done.
func (p *h2Poller) woken() bool {
	var b [8]byte
	_, _, _ = syscall.RawSyscall(syscall.SYS_READ, uintptr(p.wake), uintptr(unsafe.Pointer(&b[0])), 8)
	p.mu.Lock()
	closed := p.closed
	p.closed = nil
	p.mu.Unlock()
	for _, l := range closed {
		if id, ok := p.idOf(l); ok {
			p.serve(id, l)
		}
	}
	p.mu.Lock()
	done := p.stop && len(p.byID) == 0
	stop := p.stop
	p.mu.Unlock()
	if stop && !done {
		// Every link was closed by abortAll: read each to its end.
		p.endAll(errAborted)
		return true
	}
	return done
}

func (p *h2Poller) idOf(l *h2Link) (uint64, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	for id, m := range p.byID {
		if m == l {
			return id, true
		}
	}
	return 0, false
}

// serve reads what l has and handles it; a link whose reading ended leaves.
func (p *h2Poller) serve(id uint64, l *h2Link) {
	woke, err := l.absorb()
	if err == nil {
		n, _, rerr := rawio.ReadNow(l.nc, l.rbuf[l.w:])
		l.w += n
		switch {
		case n > 0:
			woke, err = l.absorb()
			p.count(woke)
		case errors.Is(rerr, syscall.EAGAIN):
		case rerr == nil:
			err = io.ErrUnexpectedEOF
		default:
			err = rerr
		}
	}
	if err != nil {
		p.mu.Lock()
		delete(p.byID, id)
		p.mu.Unlock()
		l.end(err)
	}
}

// endAll ends every link still held, reading what each has left.
func (p *h2Poller) endAll(err error) {
	p.mu.Lock()
	links := p.byID
	p.byID = map[uint64]*h2Link{}
	p.mu.Unlock()
	for _, l := range links {
		_, _ = l.absorb()
		l.end(err)
	}
}
