package main

import (
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"
	"golang.org/x/term"

	"github.com/sluice-backup/sluice/pipeline"
)

// showBars decides whether backup or restore draws progress bars on
// stderr: never with --json (stderr then carries only JSON lines), always
// with --progress always, and with auto only when stderr is a terminal.
func showBars(mode string, asJSON bool, stderr io.Writer) bool {
	if asJSON {
		return false
	}
	switch mode {
	case "always":
		return true
	case "never":
		return false
	}
	f, ok := stderr.(*os.File)
	return ok && term.IsTerminal(int(f.Fd()))
}

// checkProgressMode checks a --progress value.
func checkProgressMode(mode string) error {
	switch mode {
	case "auto", "always", "never":
		return nil
	}
	return usageErrorf("--progress %q: want auto, always or never", mode)
}

// reporter follows a backup (it is its [pipeline.Observer]) and shows
// progress as bars, as JSON "progress" events, or not at all. Counting
// happens on the data path with atomics; drawing and emitting happen in
// the reporter's own goroutine every interval.
type reporter struct {
	*display
	json     bool
	bars     bool
	interval time.Duration
	start    time.Time

	read    atomic.Int64
	wrote   []atomic.Int64 // per target; allocated by Started
	info    pipeline.BackupStart
	started chan struct{}
	stop    chan struct{}
	done    chan struct{}
	failed  bool // set by finish before stop closes
	// pipeline names the pipeline in every event (sluice run); empty
	// for sluice backup.
	pipeline string
}

// display is stderr as both reporters share it with the command's log:
// writes are serialised, and log lines print above the bars while there
// are bars.
type display struct {
	out      io.Writer
	mu       sync.Mutex    // serialises writes to out
	progress *mpb.Progress // the bars' container while they are drawn
}

// setBars records the bars' container, so log lines print above it.
func (d *display) setBars(p *mpb.Progress) {
	d.mu.Lock()
	d.progress = p
	d.mu.Unlock()
}

// emit writes one JSON line.
func (d *display) emit(ev any) {
	d.mu.Lock()
	defer d.mu.Unlock()
	writeJSONEvent(d.out, ev)
}

// emitLine writes one text line.
func (d *display) emitLine(s string) {
	d.mu.Lock()
	defer d.mu.Unlock()
	io.WriteString(d.out, s)
}

// logHandler is where the command's log records go while a reporter
// runs (see [logRouter.divert]): JSON lines serialised with its events
// with asJSON, text printed above its bars when it draws them, and nil
// (no change) otherwise.
func (d *display) logHandler(asJSON, bars bool, level slog.Level) slog.Handler {
	opts := &slog.HandlerOptions{Level: level}
	switch {
	case asJSON:
		return slog.NewJSONHandler(logSink{d}, opts)
	case bars:
		return slog.NewTextHandler(logSink{d}, opts)
	}
	return nil
}

// logSink writes log lines above the bars while they are drawn, and
// straight to out otherwise.
type logSink struct{ d *display }

func (l logSink) Write(p []byte) (int, error) {
	l.d.mu.Lock()
	p2 := l.d.progress
	l.d.mu.Unlock()
	if p2 != nil {
		if n, err := p2.Write(p); err == nil {
			return n, nil
		}
	}
	l.d.mu.Lock()
	defer l.d.mu.Unlock()
	return l.d.out.Write(p)
}

var _ pipeline.Observer = (*reporter)(nil)

// newReporter returns a reporter writing to out. Call run in a goroutine
// and finish once the backup returned.
func newReporter(out io.Writer, asJSON, bars bool, interval time.Duration) *reporter {
	return &reporter{
		display: &display{out: out}, json: asJSON, bars: bars, interval: interval, start: time.Now(),
		started: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{}),
	}
}

// Started implements [pipeline.Observer].
func (r *reporter) Started(s pipeline.BackupStart) {
	r.info = s
	r.wrote = make([]atomic.Int64, len(s.Targets))
	if r.json {
		ev := startEvent{eventHeader: header("start"), Pipeline: r.pipeline, Object: s.Object, Targets: s.Targets}
		if s.SourceSize >= 0 {
			ev.SourceSize = &s.SourceSize
		}
		if s.ExpectedSize >= 0 {
			ev.ExpectedSize = &s.ExpectedSize
		}
		r.emit(ev)
	}
	close(r.started)
}

// Read implements [pipeline.Observer].
func (r *reporter) Read(n int) { r.read.Add(int64(n)) }

// Wrote implements [pipeline.Observer].
func (r *reporter) Wrote(i, n int) { r.wrote[i].Add(int64(n)) }

// TargetDone implements [pipeline.Observer].
func (r *reporter) TargetDone(i int, res pipeline.TargetResult) {
	if !r.json {
		return
	}
	ev := targetDoneEvent{eventHeader: header("target"), Pipeline: r.pipeline, Target: res.Target, URL: res.URL, OK: res.Err == nil}
	if i < len(r.wrote) {
		ev.Bytes = r.wrote[i].Load()
	}
	if res.Err != nil {
		ev.eventHeader.Event = "target_failed"
		ev.Error = res.Err.Error()
	} else {
		ev.eventHeader.Event = "target_done"
	}
	r.emit(ev)
}

// run shows progress until finish is called.
func (r *reporter) run() {
	defer close(r.done)
	if !r.json && !r.bars {
		return
	}
	var readBar *mpb.Bar
	var targetBars []*mpb.Bar
	showLoop(r.started, r.stop, r.interval, func() {
		if r.bars {
			readBar, targetBars = r.newBars()
		}
	}, func() {
		if r.json {
			r.emit(r.progressEvent())
		}
		if r.bars {
			r.updateBars(readBar, targetBars, false)
		}
	}, func() {
		if r.bars {
			r.updateBars(readBar, targetBars, true)
			r.progress.Wait()
		}
	})
}

// showLoop drives a progress display: once ready closes it calls begin,
// then tick every interval until stop closes, then end. If stop closes
// first, it returns without calling any of them.
func showLoop(ready, stop <-chan struct{}, interval time.Duration, begin, tick, end func()) {
	select {
	case <-ready:
	case <-stop:
		return
	}
	begin()
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-t.C:
			tick()
		case <-stop:
			end()
			return
		}
	}
}

// newContainer returns the mpb container bars are drawn in on out: at
// the terminal's width, or 100 columns on anything else and on a
// terminal that reports no width (a pty nobody sized, as `script` from a
// non-interactive shell makes), where the bars would not be drawn at all.
func newContainer(out io.Writer, interval time.Duration) *mpb.Progress {
	sized := false
	if f, ok := out.(*os.File); ok && term.IsTerminal(int(f.Fd())) {
		w, _, err := term.GetSize(int(f.Fd()))
		sized = err == nil && w > 0
		if !sized {
			// mpb sizes bars to a terminal, ignoring WithWidth: hide
			// that it is one.
			out = struct{ io.Writer }{f}
		}
	}
	opts := []mpb.ContainerOption{mpb.WithOutput(out), mpb.WithRefreshRate(interval), mpb.WithAutoRefresh()}
	if !sized {
		opts = append(opts, mpb.WithWidth(100))
	}
	return mpb.New(opts...)
}

// finish stops the display and waits for it. The bars are drawn
// complete, or where they stopped when the backup failed.
func (r *reporter) finish(failed bool) {
	r.failed = failed
	close(r.stop)
	<-r.done
}

func (r *reporter) newBars() (*mpb.Bar, []*mpb.Bar) {
	p := newContainer(r.out, r.interval)
	readBar := addBar(p, r.total(),
		mpb.PrependDecorators(decor.Name("read ", decor.WCSyncSpaceR)),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return r.readLine() })))
	var bars []*mpb.Bar
	for i, t := range r.info.Targets {
		b := p.New(0, mpb.NopStyle(),
			mpb.PrependDecorators(decor.Name("  → ", decor.WCSyncSpaceR)),
			mpb.AppendDecorators(decor.Any(func(decor.Statistics) string {
				return fmt.Sprintf("%s  %s  %s/s", t, fmtBytes(r.wrote[i].Load()), fmtBytes(int64(rate(r.wrote[i].Load(), time.Since(r.start)))))
			})))
		bars = append(bars, b)
	}
	r.setBars(p)
	return readBar, bars
}

// total is the source's size, or else its expected size, or -1.
func (r *reporter) total() int64 {
	if r.info.SourceSize >= 0 {
		return r.info.SourceSize
	}
	return r.info.ExpectedSize
}

// readLine is the text beside the read bar: bytes read, throughput,
// compression ratio so far and, for a source of known or expected size,
// the ETA.
func (r *reporter) readLine() string {
	in, el := r.read.Load(), time.Since(r.start)
	s := fmt.Sprintf("%s  %s/s  ratio %.1f%%", fmtBytes(in), fmtBytes(int64(rate(in, el))), 100*ratio(r.maxWrote(), in))
	if eta, ok := etaOf(in, r.total(), el); ok {
		s += "  ETA " + eta.Round(time.Second).String()
	}
	return s
}

func (r *reporter) updateBars(readBar *mpb.Bar, targets []*mpb.Bar, final bool) {
	readBar.SetCurrent(r.read.Load())
	for i, b := range targets {
		b.SetCurrent(r.wrote[i].Load())
	}
	if final {
		for _, b := range append([]*mpb.Bar{readBar}, targets...) {
			endBar(b, r.failed)
		}
	}
}

// maxWrote is the encoded bytes handed to targets so far: the most any
// target took (failed targets stop counting).
func (r *reporter) maxWrote() int64 {
	var m int64
	for i := range r.wrote {
		m = max(m, r.wrote[i].Load())
	}
	return m
}

func (r *reporter) progressEvent() progressEvent {
	in, el := r.read.Load(), time.Since(r.start)
	ev := progressEvent{eventHeader: header("progress"), Pipeline: r.pipeline, BytesIn: in, BytesOut: r.maxWrote(),
		Seconds: el.Seconds(), BytesPerSec: rate(in, el), Ratio: ratio(r.maxWrote(), in)}
	ev.Percent, ev.ETASeconds = percentETA(in, r.total(), el)
	return ev
}

// percentETA is the progress events' percent and ETA in seconds for done
// of size bytes after elapsed, nil when the size is unknown (or the ETA
// when there is none to give). The percent stops at 100: an expected
// size can be passed, when a tree grew or the estimate was low.
func percentETA(done, size int64, elapsed time.Duration) (percent, eta *float64) {
	if size <= 0 {
		return nil, nil
	}
	pct := min(100, 100*float64(done)/float64(size))
	if d, ok := etaOf(done, size, elapsed); ok {
		s := d.Seconds()
		eta = &s
	}
	return &pct, eta
}

// addBar adds a bar toward total bytes (0 or less: unknown) that only
// endBar completes. A bar built with its total would complete, and stop
// redrawing its text, as soon as its count reached the total: when the
// source is read to its end while the rest of the run is still working.
func addBar(p *mpb.Progress, total int64, opts ...mpb.BarOption) *mpb.Bar {
	b := p.New(0, mpb.BarStyle().Lbound("[").Rbound("]"), opts...)
	if total > 0 {
		b.SetTotal(total, false)
	}
	return b
}

// endBar completes b at its current value, or when failed leaves it
// drawn where it stopped.
func endBar(b *mpb.Bar, failed bool) {
	if failed {
		b.Abort(false)
		return
	}
	b.SetTotal(-1, true)
}

func rate(n int64, d time.Duration) float64 {
	if d <= 0 {
		return 0
	}
	return float64(n) / d.Seconds()
}

func ratio(out, in int64) float64 {
	if in <= 0 {
		return 0
	}
	return float64(out) / float64(in)
}
