package main

import (
	"fmt"
	"io"
	"time"

	"github.com/vbauerster/mpb/v8"
	"github.com/vbauerster/mpb/v8/decor"

	"github.com/sluice-backup/sluice/pipeline"
)

// restoreReporter follows a restore and shows its progress as a bar (the
// stored bytes read against the object's size, with the decoded bytes,
// their rate and the ETA), as JSON "restore_progress" events, or not at
// all. It polls the object's counters from its own goroutine every
// interval; the data path only counts.
type restoreReporter struct {
	*display
	json     bool
	bars     bool
	interval time.Duration
	object   string    // the object's URL
	start    time.Time // set by opened

	obj    *pipeline.Decoded // set by opened, before it closes ready
	ready  chan struct{}
	stop   chan struct{}
	done   chan struct{}
	failed bool // set by finish before stop closes
}

func newRestoreReporter(out io.Writer, asJSON, bars bool, interval time.Duration, object string) *restoreReporter {
	return &restoreReporter{
		display: &display{out: out}, json: asJSON, bars: bars, interval: interval, object: object,
		ready: make(chan struct{}), stop: make(chan struct{}), done: make(chan struct{}),
	}
}

// opened is the restore's [pipeline.Decoder.Opened] hook.
func (r *restoreReporter) opened(obj *pipeline.Decoded) {
	r.obj = obj
	r.start = time.Now()
	if r.json {
		r.emit(restoreStartEvent{eventHeader: header("restore_start"), Object: r.object, StoredSize: obj.StoredSize, Stages: obj.Stages})
	}
	close(r.ready)
}

// run shows progress until finish is called.
func (r *restoreReporter) run() {
	defer close(r.done)
	if !r.json && !r.bars {
		return
	}
	var bar *mpb.Bar
	showLoop(r.ready, r.stop, r.interval, func() {
		if r.bars {
			bar = r.newBar()
		}
	}, func() {
		if r.json {
			r.emit(r.progressEvent())
		}
		if bar != nil {
			bar.SetCurrent(r.obj.StoredBytes())
		}
	}, func() {
		if bar != nil {
			bar.SetCurrent(r.obj.StoredBytes())
			endBar(bar, r.failed)
			r.progress.Wait()
		}
	})
}

func (r *restoreReporter) newBar() *mpb.Bar {
	p := newContainer(r.out, r.interval)
	bar := addBar(p, r.obj.StoredSize,
		mpb.PrependDecorators(decor.Name("restore ", decor.WCSyncSpaceR)),
		mpb.AppendDecorators(decor.Any(func(decor.Statistics) string { return r.line() })))
	r.setBars(p)
	return bar
}

// line is the text beside the bar: stored bytes read of the object's
// size, decoded bytes and their rate, and the ETA.
func (r *restoreReporter) line() string {
	stored, decoded, el := r.obj.StoredBytes(), r.obj.DecodedBytes(), time.Since(r.start)
	s := fmt.Sprintf("%s of %s  → %s  %s/s", fmtBytes(stored), fmtBytes(r.obj.StoredSize), fmtBytes(decoded), fmtBytes(int64(rate(decoded, el))))
	if eta, ok := etaOf(stored, r.obj.StoredSize, el); ok {
		s += "  ETA " + eta.Round(time.Second).String()
	}
	return s
}

func (r *restoreReporter) progressEvent() restoreProgressEvent {
	stored, decoded, el := r.obj.StoredBytes(), r.obj.DecodedBytes(), time.Since(r.start)
	ev := restoreProgressEvent{eventHeader: header("restore_progress"), StoredBytes: stored, DecodedBytes: decoded,
		Seconds: el.Seconds(), BytesPerSec: rate(decoded, el)}
	ev.Percent, ev.ETASeconds = percentETA(stored, r.obj.StoredSize, el)
	return ev
}

// finish stops the display and reports the outcome: with --json a
// restore_done or restore_failed event, otherwise, on success, the human
// line "restored URL to PATH" (nothing for stdout, which holds the data).
func (r *restoreReporter) finish(to string, err error) {
	r.failed = err != nil
	close(r.stop)
	<-r.done
	if !r.json {
		if err == nil && to != "-" {
			r.emitLine(fmt.Sprintf("restored %s to %s\n", r.object, to))
		}
		return
	}
	if err != nil {
		r.emit(restoreFailedEvent{eventHeader: header("restore_failed"), Object: r.object, Error: err.Error()})
		return
	}
	el := time.Since(r.start)
	ev := restoreDoneEvent{eventHeader: header("restore_done"), Object: r.object, To: to,
		Seconds: el.Seconds(), Verified: r.obj.Manifest != nil}
	ev.StoredBytes, ev.DecodedBytes = r.obj.StoredBytes(), r.obj.DecodedBytes()
	ev.BytesPerSec = rate(ev.DecodedBytes, el)
	r.emit(ev)
}

// etaOf estimates the time left when done of size bytes took elapsed.
func etaOf(done, size int64, elapsed time.Duration) (time.Duration, bool) {
	if size <= 0 || done <= 0 || done >= size {
		return 0, false
	}
	return time.Duration(float64(elapsed) * float64(size-done) / float64(done)), true
}
