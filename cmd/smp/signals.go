package main

import (
	"context"
	"errors"
	"os"
	"os/signal"
	"syscall"
)

// interruption is the cause of a context that SIGINT or SIGTERM cancelled: the command
// stops, writes what it has, and smp exits 128 + the signal's number (130, 143), as a
// shell reports a program the signal ended, so that CI and `make` tell an interrupted
// run from one that failed.
type interruption struct{ sig syscall.Signal }

func (i interruption) Error() string { return i.sig.String() }

// Is makes an interruption a cancellation to errors.Is, like the context's own error.
func (i interruption) Is(target error) bool { return target == context.Canceled }

// exitCode is the shells' 128 + signal number.
func (i interruption) exitCode() int { return 128 + int(i.sig) }

// interruptedBy returns the signal that cancelled ctx, if one did.
func interruptedBy(ctx context.Context) (interruption, bool) {
	var i interruption
	ok := errors.As(context.Cause(ctx), &i)
	return i, ok
}

// notifyContext is signal.NotifyContext with the signal kept as the context's cause
// (interruption), so that run can exit with its number. The signals stay caught until
// stop: a second Ctrl-C does not kill smp halfway through its teardown.
func notifyContext(parent context.Context) (ctx context.Context, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 1)
	signal.Notify(ch, os.Interrupt, syscall.SIGTERM)
	go func() {
		select {
		case s := <-ch:
			sig, _ := s.(syscall.Signal) // always, on the systems smp runs on
			cancel(interruption{sig})
		case <-ctx.Done():
		}
	}()
	return ctx, func() {
		signal.Stop(ch)
		cancel(nil)
	}
}
