package pipeline

import (
	"context"
	"fmt"
	"io"
	"time"

	"golang.org/x/time/rate"
)

// An Observer follows a running backup: a progress display, JSON events,
// metrics. Its methods are called from the backup's goroutines, some
// concurrently (Wrote for different targets, Read from an encoder
// goroutine); they must be safe for that and return quickly, since they
// sit on the data path. Observers count; they never see the data.
type Observer interface {
	// Started is called once, after the targets were opened and before
	// data moves.
	Started(BackupStart)
	// Read reports n more bytes read from the source.
	Read(n int)
	// Wrote reports n more bytes written to target i, an index into
	// BackupStart.Targets.
	Wrote(i, n int)
	// TargetDone reports the outcome on target i, once per target, when
	// the run has settled it.
	TargetDone(i int, r TargetResult)
}

// BackupStart describes a backup about to move data.
type BackupStart struct {
	Object     string // object name with extensions
	SourceSize int64  // bytes the source holds, or -1 when unknown (stdin, directories)
	// ExpectedSize is, when SourceSize is unknown, the length expected:
	// Backup.ExpectedSize, or a directory's tar stream as measured just
	// before; -1 when there is none. The source may turn out longer or
	// shorter.
	ExpectedSize int64
	Targets      []string // display URLs, in Backup.Targets order
}

// Bandwidth limits uploads, in bytes per second; zero means unlimited.
// Total caps the bytes sent to all targets together (what a shared line
// sees); PerTarget caps each target. Fan-out writes every chunk to every
// target, so with both set each target runs at min(PerTarget, Total/N).
// The source is read only as fast as the slowest target accepts data.
type Bandwidth struct {
	Total     int64
	PerTarget int64
}

// limitBurst is the most bytes one limiter wait covers: writes are split
// into pieces of this size so a slow limit paces smoothly.
const limitBurst = 256 << 10

// clock abstracts time for the limiter, so tests can check its token
// accounting without sleeping.
type clock interface {
	Now() time.Time
	Sleep(ctx context.Context, d time.Duration) error
}

type realClock struct{}

func (realClock) Now() time.Time { return time.Now() }

func (realClock) Sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return context.Cause(ctx)
	}
}

// newLimiter returns a limiter for bytesPerSec, or nil for no limit.
func newLimiter(bytesPerSec int64) *rate.Limiter {
	if bytesPerSec <= 0 {
		return nil
	}
	return rate.NewLimiter(rate.Limit(bytesPerSec), int(min(bytesPerSec, limitBurst)))
}

// targetHooks sit between the fan-out and one target's writer: they pace
// writes by the bandwidth limiters and report written bytes to the
// observer. The zero value does nothing.
type targetHooks struct {
	ctx      context.Context
	index    int
	observer Observer
	limiters []*rate.Limiter // per-target and shared; nil entries skipped
	clock    clock
}

// write writes p to w, waiting for the limiters before each piece.
func (h *targetHooks) write(w io.Writer, p []byte) (int, error) {
	if len(h.limiters) == 0 {
		n, err := w.Write(p)
		h.wrote(n)
		return n, err
	}
	var done int
	for len(p) > 0 {
		piece := p[:min(len(p), h.burst())]
		if err := h.wait(len(piece)); err != nil {
			return done, err
		}
		n, err := w.Write(piece)
		done += n
		h.wrote(n)
		if err != nil {
			return done, err
		}
		p = p[n:]
	}
	return done, nil
}

func (h *targetHooks) wrote(n int) {
	if h.observer != nil && n > 0 {
		h.observer.Wrote(h.index, n)
	}
}

// burst is the largest piece every limiter accepts at once.
func (h *targetHooks) burst() int {
	b := limitBurst
	for _, l := range h.limiters {
		b = min(b, l.Burst())
	}
	return b
}

// wait reserves n bytes on every limiter and sleeps for the longest delay.
func (h *targetHooks) wait(n int) error {
	now := h.clock.Now()
	var delay time.Duration
	var reserved []*rate.Reservation
	for _, l := range h.limiters {
		r := l.ReserveN(now, n)
		if !r.OK() {
			for _, r := range reserved {
				r.CancelAt(now)
			}
			return fmt.Errorf("bandwidth limit: %d bytes exceed the burst of %d", n, l.Burst())
		}
		reserved = append(reserved, r)
		delay = max(delay, r.DelayFrom(now))
	}
	if delay <= 0 {
		return nil
	}
	if err := h.clock.Sleep(h.ctx, delay); err != nil {
		for _, r := range reserved {
			r.CancelAt(h.clock.Now())
		}
		return err
	}
	return nil
}

// setHooks attaches observer and bandwidth limits to every writer of f.
func (f *fanout) setHooks(o Observer, bw Bandwidth, c clock) {
	total := newLimiter(bw.Total)
	for i, tw := range f.writers {
		tw.hooks = targetHooks{ctx: f.ctx, index: i, observer: o, clock: c}
		if l := newLimiter(bw.PerTarget); l != nil {
			tw.hooks.limiters = append(tw.hooks.limiters, l)
		}
		if total != nil {
			tw.hooks.limiters = append(tw.hooks.limiters, total)
		}
	}
}

// observer returns b's observer, or one that ignores everything.
func (b *Backup) observer() Observer {
	if b.Observer == nil {
		return nopObserver{}
	}
	return b.Observer
}

type nopObserver struct{}

func (nopObserver) Started(BackupStart)          {}
func (nopObserver) Read(int)                     {}
func (nopObserver) Wrote(int, int)               {}
func (nopObserver) TargetDone(int, TargetResult) {}

func reportTargets(o Observer, results []TargetResult) {
	for i, r := range results {
		o.TargetDone(i, r)
	}
}

func targetURLs(ts []*Target) []string {
	urls := make([]string, len(ts))
	for i, t := range ts {
		urls[i] = t.URL
	}
	return urls
}
