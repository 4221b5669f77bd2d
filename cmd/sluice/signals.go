package main

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"sync"
	"syscall"
)

// errInterrupted is the cause of a context cancelled by a signal.
var errInterrupted = errors.New("interrupted")

// stopSignals are the signals that stop a run after cleaning up: Ctrl-C,
// a service manager's stop, and the hang-up of a terminal or ssh session
// that goes away under a long backup. A signal the process started out
// ignoring is left alone: nohup (or trap "" HUP) asks for the run to
// outlive its terminal, and a shell ignores SIGINT for a command it runs
// in the background.
var stopSignals = notIgnored(os.Interrupt, syscall.SIGTERM, syscall.SIGHUP)

// notIgnored returns those of sigs the process does not ignore, as it
// was started (it is called before any signal.Notify).
func notIgnored(sigs ...os.Signal) []os.Signal {
	var out []os.Signal
	for _, s := range sigs {
		if !signal.Ignored(s) {
			out = append(out, s)
		}
	}
	return out
}

// signalStatus returns the exit status for a run stopped by sig, as shells
// report a command a signal ended: 128 + the signal number (130 for
// SIGINT, 143 for SIGTERM, 129 for SIGHUP). The process itself dies by the
// signal once it has cleaned up (see [exitProcess]).
func signalStatus(sig os.Signal) int {
	if s, ok := sig.(syscall.Signal); ok {
		return 128 + int(s)
	}
	return 128 + int(syscall.SIGINT)
}

// interruptContext returns a context that the first of [stopSignals]
// cancels, so every open write is aborted and every temporary file
// removed. A second signal exits at once with exit, without cleaning up.
// caught reports the first signal (nil if none); stop stops listening.
// Each signal is announced on stderr: as a "signal" event when asJSON
// reports the command runs with --json, else as a text line.
func interruptContext(parent context.Context, stderr io.Writer, exit func(int), asJSON func() bool) (ctx context.Context, caught func() os.Signal, stop func()) {
	ctx, cancel := context.WithCancelCause(parent)
	ch := make(chan os.Signal, 2)
	signal.Notify(ch, stopSignals...)
	done := make(chan struct{})
	var (
		mu    sync.Mutex
		first os.Signal
	)
	go func() {
		for {
			select {
			case <-done:
				return
			case sig := <-ch:
				mu.Lock()
				again := first != nil
				if !again {
					first = sig
				}
				mu.Unlock()
				action := "stopping and cleaning up (send it again to exit at once)"
				if again {
					action = "exiting now, without cleaning up"
				}
				if asJSON() {
					writeJSONEvent(stderr, signalEvent{eventHeader: header("signal"), Signal: sig.String(), Action: action})
				} else if again {
					fmt.Fprintf(stderr, "sluice: %v again: %s\n", sig, action)
				} else {
					fmt.Fprintf(stderr, "sluice: %v: %s\n", sig, action)
				}
				if again {
					exit(signalStatus(sig))
					return
				}
				cancel(fmt.Errorf("%w by %v", errInterrupted, sig))
			}
		}
	}()
	caught = func() os.Signal {
		mu.Lock()
		defer mu.Unlock()
		return first
	}
	var once sync.Once
	stop = func() {
		once.Do(func() {
			signal.Stop(ch)
			close(done)
			cancel(nil)
		})
	}
	return ctx, caught, stop
}

// cancelReader lets a Read blocked on a stalled producer (stdin fed by a
// command that hangs) return ctx's error once ctx is done, so a signal
// stops the run even then. Reads happen in a goroutine into a buffer the
// reader owns; after cancellation a still-blocked read is abandoned (the
// process is about to exit).
type cancelReader struct {
	ctx     context.Context
	r       io.Reader
	buf     []byte
	rest    []byte
	err     error
	pending chan readResult
}

type readResult struct {
	n   int
	err error
}

func newCancelReader(ctx context.Context, r io.Reader) *cancelReader {
	return &cancelReader{ctx: ctx, r: r, buf: make([]byte, 256<<10)}
}

func (c *cancelReader) Read(p []byte) (int, error) {
	if len(c.rest) > 0 {
		n := copy(p, c.rest)
		c.rest = c.rest[n:]
		return n, nil
	}
	if c.err != nil {
		return 0, c.err
	}
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	if c.pending == nil {
		ch := make(chan readResult, 1)
		c.pending = ch
		buf := c.buf
		go func() {
			n, err := c.r.Read(buf)
			ch <- readResult{n, err}
		}()
	}
	select {
	case res := <-c.pending:
		c.pending = nil
		c.err = res.err
		n := copy(p, c.buf[:res.n])
		c.rest = c.buf[n:res.n]
		if n == 0 && c.err != nil {
			return 0, c.err
		}
		return n, nil
	case <-c.ctx.Done():
		return 0, c.ctx.Err()
	}
}

// cancelWriter lets a Write blocked on a reader that stopped reading (the
// far end of a pipe that never drains, `restore --to - | stuck`) return
// ctx's error once ctx is done, so a signal stops the run even then, as
// cancelReader does for a stalled stdin. Each Write happens in a goroutine
// and is waited for; after cancellation a still-blocked write is abandoned
// with the slice it holds (the process is about to exit, and the caller
// writes nothing more).
type cancelWriter struct {
	ctx  context.Context
	w    io.Writer
	done chan writeResult
}

type writeResult struct {
	n   int
	err error
}

func newCancelWriter(ctx context.Context, w io.Writer) *cancelWriter {
	return &cancelWriter{ctx: ctx, w: w, done: make(chan writeResult, 1)}
}

func (c *cancelWriter) Write(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	go func() {
		n, err := c.w.Write(p)
		c.done <- writeResult{n, err}
	}()
	select {
	case res := <-c.done:
		return res.n, res.err
	case <-c.ctx.Done():
		return 0, c.ctx.Err()
	}
}
