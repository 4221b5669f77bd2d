package pipeline

import (
	"bytes"
	"context"
	"io"
	"testing"
	"time"
)

// fakeClock advances only when the limiter sleeps, so token accounting is
// checked without a wall clock.
type fakeClock struct {
	now   time.Time
	slept time.Duration
}

func (c *fakeClock) Now() time.Time { return c.now }

func (c *fakeClock) Sleep(_ context.Context, d time.Duration) error {
	c.now = c.now.Add(d)
	c.slept += d
	return nil
}

// hooksFor builds the hooks a fan-out over n discarding targets would get.
func hooksFor(t *testing.T, n int, bw Bandwidth, c clock) []*targetWriter {
	t.Helper()
	f := &fanout{ctx: context.Background()}
	for range n {
		f.writers = append(f.writers, &targetWriter{})
	}
	f.setHooks(nopObserver{}, bw, c)
	return f.writers
}

func TestLimiterAccounting(t *testing.T) {
	const mib = 1 << 20
	for _, tc := range []struct {
		name    string
		bw      Bandwidth
		targets int
		perEach int     // bytes written to each target
		want    float64 // seconds of fake time the writes must take
	}{
		// The first burst is free; the rest is paced at the rate.
		{"per target", Bandwidth{PerTarget: mib}, 1, 10 * mib, 10 - 0.25},
		// Per-target limiters are independent: writing to one does not
		// slow the other, so two targets in turn take twice as long on
		// this sequential clock.
		{"per target, two targets", Bandwidth{PerTarget: mib}, 2, 4 * mib, 2 * (4 - 0.25)},
		// The total limiter is shared: 2 × 4 MiB at 2 MiB/s.
		{"total", Bandwidth{Total: 2 * mib}, 2, 4 * mib, 4 - 0.125},
		// Both: the tighter one wins.
		{"both", Bandwidth{Total: 8 * mib, PerTarget: mib / 2}, 1, 3 * mib, 6 - 0.5},
		{"unlimited", Bandwidth{}, 3, 10 * mib, 0},
	} {
		t.Run(tc.name, func(t *testing.T) {
			c := &fakeClock{now: time.Unix(1e9, 0)}
			writers := hooksFor(t, tc.targets, tc.bw, c)
			data := bytes.Repeat([]byte{'x'}, 64<<10)
			for _, tw := range writers {
				for sent := 0; sent < tc.perEach; sent += len(data) {
					if _, err := tw.hooks.write(io.Discard, data); err != nil {
						t.Fatal(err)
					}
				}
			}
			got := c.slept.Seconds()
			if got < tc.want-0.01 || got > tc.want+0.01 {
				t.Fatalf("writes took %.3fs of fake time, want %.3fs", got, tc.want)
			}
		})
	}
}

func TestLimiterCancel(t *testing.T) {
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	f := &fanout{ctx: ctx, writers: []*targetWriter{{}}}
	f.setHooks(nopObserver{}, Bandwidth{PerTarget: 1024}, realClock{})
	_, err := f.writers[0].hooks.write(io.Discard, make([]byte, 10<<10))
	if err != context.Canceled {
		t.Fatalf("write under a cancelled context: %v, want context.Canceled", err)
	}
}

// BenchmarkBandwidthLimit measures the rate the limiter achieves against
// the real clock: 4 MiB through a 16 MiB/s limit should report close to
// 16 MiB/s (the first burst is free, so slightly above).
func BenchmarkBandwidthLimit(b *testing.B) {
	const limit = 16 << 20
	data := make([]byte, 1<<20)
	for b.Loop() {
		f := &fanout{ctx: context.Background(), writers: []*targetWriter{{}}}
		f.setHooks(nopObserver{}, Bandwidth{PerTarget: limit}, realClock{})
		start := time.Now()
		for range 4 {
			f.writers[0].hooks.write(io.Discard, data)
		}
		b.ReportMetric(4/time.Since(start).Seconds(), "MiB/s")
	}
}
