package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"sync"
	"time"

	"gocloud.dev/blob"
)

// ErrStalled marks a target aborted because it made no progress for the
// backup's stall timeout.
var ErrStalled = errors.New("target stalled")

// errNoTargetLeft is [fanout.copy]'s error when every target has failed;
// each target's own error says why.
var errNoTargetLeft = errors.New("no target left to write to")

// errAllOrNothing marks targets aborted because another one failed in an
// all-or-nothing backup.
var errAllOrNothing = errors.New("another target failed and the backup is all-or-nothing")

// fanout writes one stream to several targets at once. The slowest target
// sets the pace; memory is two chunk buffers whatever the number of
// targets (plus two more for each target abandoned while stalled). A
// target that fails is aborted (its write context cancelled before Close,
// so nothing is committed) and the others go on, unless allOrNothing is
// set: then the first failure aborts them all.
//
// A target stalls when one chunk write, or its final Close, has not
// returned after stall: its context is cancelled and it is left to finish
// aborting in the background (joined before commit returns), while the
// chunk buffer it was reading is retired, never overwritten.
type fanout struct {
	ctx          context.Context
	log          *slog.Logger
	writers      []*targetWriter
	stall        time.Duration // 0: wait forever
	allOrNothing bool
	aborting     sync.WaitGroup // writers abandoned while stalled
}

type targetWriter struct {
	target  *Target
	name    string
	w       *blob.Writer
	cancel  context.CancelFunc
	limit   int64 // largest object the write can take; 0 for no limit
	written int64
	err     error
	hooks   targetHooks // bandwidth limits and progress; see progress.go
	durable Durability  // nil unless the target sets [Target.Durable]

	// done is closed when the chunk write in flight returns, with its
	// outcome in res; nil when none is in flight. started is when it began.
	done    chan struct{}
	started time.Time
	res     writeResult
}

type writeResult struct {
	n   int
	err error
}

func newFanout(ctx context.Context, log *slog.Logger) *fanout {
	return &fanout{ctx: ctx, log: log}
}

// chunkSize is the unit of fan-out: each chunk is written to every target
// concurrently while the next one is read and encoded.
const chunkSize = 1 << 20

func (f *fanout) open(t *Target, name string, meta map[string]string, write Write) {
	tw := &targetWriter{target: t, name: name}
	f.writers = append(f.writers, tw)
	wo, limit, err := writerOptions(t, meta, write)
	if err != nil {
		tw.err = fmt.Errorf("target %s: %w", t.URL, err)
		return
	}
	if limit > 0 && write.Size > limit {
		tw.err = fmt.Errorf("target %s: an object of about %d bytes exceeds the %d bytes this upload can hold; raise the part size", t.URL, write.Size, limit)
		return
	}
	tw.limit = limit
	if t.Durable != nil {
		tw.durable = t.Durable(wo)
	}
	ctx, cancel := context.WithCancel(f.ctx)
	w, err := t.Bucket.NewWriter(ctx, t.Key(name), wo)
	if err != nil {
		cancel()
		tw.err = fmt.Errorf("target %s: open %s: %w", t.URL, name, err)
		return
	}
	tw.w, tw.cancel = w, cancel
}

// skip records t as failed before anything was written to it.
func (f *fanout) skip(t *Target, name string, err error) {
	f.writers = append(f.writers, &targetWriter{target: t, name: name, err: err})
}

// fail aborts tw's write: cancelling its context before Close discards
// whatever was written. No chunk write may be in flight.
func (tw *targetWriter) fail(err error) {
	if tw.err == nil {
		tw.err = err
	}
	if tw.w != nil {
		tw.cancel()
		tw.w.Close()
		tw.w = nil
	}
}

// start writes chunk to tw in a new goroutine, which touches nothing of
// tw but res, so an abandoned write cannot race with the run loop.
func (tw *targetWriter) start(chunk []byte) {
	if tw.limit > 0 && tw.written+int64(len(chunk)) > tw.limit {
		tw.fail(fmt.Errorf("target %s: object exceeds %d bytes, the most this upload's part size allows; give --expected-size, or a larger --upload-memory or part_size", tw.target.URL, tw.limit))
		return
	}
	done, w, hooks, durable := make(chan struct{}), tw.w, &tw.hooks, tw.durable
	tw.done, tw.started = done, time.Now()
	go func() {
		defer close(done)
		n, err := hooks.write(w, chunk)
		if durable != nil && n > 0 {
			durable.Written(n)
		}
		tw.res = writeResult{n, err}
	}()
}

// finish records the outcome of the chunk write that just returned.
func (tw *targetWriter) finish() {
	tw.done = nil
	tw.written += int64(tw.res.n)
	if err := tw.res.err; err != nil {
		tw.fail(fmt.Errorf("target %s: write %s: %w", tw.target.URL, tw.name, err))
	}
}

func (f *fanout) live() []*targetWriter {
	var out []*targetWriter
	for _, tw := range f.writers {
		if tw.err == nil {
			out = append(out, tw)
		}
	}
	return out
}

// wait waits for every chunk write in flight, abandoning writers that
// stall. It reports whether one was abandoned: the buffer in flight is
// then still being read and must not be reused.
func (f *fanout) wait() (abandoned bool) {
	for _, tw := range f.writers {
		if tw.done == nil {
			continue
		}
		if f.stall <= 0 {
			<-tw.done
			tw.finish()
			continue
		}
		timer := time.NewTimer(time.Until(tw.started.Add(f.stall)))
		select {
		case <-tw.done:
			tw.finish()
		case <-timer.C:
			// Waiting for an earlier writer may have used up this one's
			// time: a write that has returned by now did not stall.
			select {
			case <-tw.done:
				tw.finish()
			default:
				f.abandon(tw)
				abandoned = true
			}
		}
		timer.Stop()
	}
	return abandoned
}

// abandon aborts a stalled writer whose chunk write is still in flight:
// it cancels the write's context and, in the background, closes the
// writer once the write returns, so the abort completes without holding
// up the other targets.
func (f *fanout) abandon(tw *targetWriter) {
	tw.err = fmt.Errorf("target %s: %w: no progress for %s", tw.target.URL, ErrStalled, f.stall)
	tw.cancel()
	done, w := tw.done, tw.w
	tw.done, tw.w = nil, nil
	f.aborting.Add(1)
	go func() {
		defer f.aborting.Done()
		<-done
		if w != nil {
			w.Close()
		}
	}()
}

// firstErr returns the first target error, or nil.
func (f *fanout) firstErr() error {
	for _, tw := range f.writers {
		if tw.err != nil {
			return tw.err
		}
	}
	return nil
}

// copy reads src to its end and writes every chunk to hash and all live
// targets. It returns the bytes read and src's error. It stops early, with
// an error, when no target is left, or when one failed and the fan-out is
// all-or-nothing.
func (f *fanout) copy(src io.Reader, hash io.Writer) (int64, error) {
	bufs := [2][]byte{make([]byte, chunkSize), make([]byte, chunkSize)}
	var hashing sync.WaitGroup
	settle := func(i int) error {
		hashing.Wait()
		if f.wait() {
			// A stalled writer may still read the previous chunk.
			bufs[(i+1)%2] = make([]byte, chunkSize)
		}
		if f.allOrNothing {
			if err := f.firstErr(); err != nil {
				return fmt.Errorf("all-or-nothing: %w", err)
			}
		}
		if len(f.live()) == 0 {
			return errNoTargetLeft
		}
		return nil
	}
	var total int64
	for i := 0; ; i++ {
		buf := bufs[i%2]
		n, rerr := io.ReadFull(src, buf)
		if err := settle(i); err != nil {
			return total, err
		}
		if n > 0 {
			chunk := buf[:n]
			total += int64(n)
			hashing.Add(1)
			go func() { defer hashing.Done(); hash.Write(chunk) }()
			for _, tw := range f.live() {
				tw.start(chunk)
			}
		}
		switch rerr {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			return total, settle(i + 1)
		default:
			settle(i + 1)
			return total, rerr
		}
	}
}

// abortAll aborts every open write.
func (f *fanout) abortAll(cause error) {
	for _, tw := range f.writers {
		tw.fail(fmt.Errorf("target %s: aborted: %w", tw.target.URL, cause))
	}
	f.aborting.Wait()
}

// commit closes every live writer, which makes its object visible, then
// writes manifest m beside it (m is nil only when no writer is live). A
// target whose manifest cannot be written has its object deleted again,
// so it holds nothing half-described. A Close that stalls is cancelled,
// which aborts the upload. When the fan-out is all-or-nothing and any
// target failed, the objects committed on the others are deleted again.
func (f *fanout) commit(m *Manifest) []TargetResult {
	var wg sync.WaitGroup
	for _, tw := range f.live() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := f.close(tw)
			tw.w = nil
			if err != nil {
				if isExists(err) {
					err = fmt.Errorf("%w: %s", ErrExists, tw.name)
				}
				tw.err = fmt.Errorf("target %s: commit %s: %w", tw.target.URL, tw.name, err)
				return
			}
			if err := writeManifest(f.ctx, tw.target, m); err != nil {
				tw.err = fmt.Errorf("target %s: write manifest: %w", tw.target.URL, err)
				if derr := tw.target.Bucket.Delete(context.WithoutCancel(f.ctx), tw.target.Key(tw.name)); derr != nil {
					tw.err = fmt.Errorf("%w (and removing the object failed: %v)", tw.err, derr)
				}
			}
		}()
	}
	wg.Wait()
	f.aborting.Wait()
	if f.allOrNothing && f.firstErr() != nil {
		f.rollBack()
	}
	results := make([]TargetResult, len(f.writers))
	for i, tw := range f.writers {
		results[i] = TargetResult{Target: tw.target.URL, Err: tw.err}
		if tw.err == nil {
			results[i].URL = tw.target.ObjectURL(tw.name)
			f.log.Info("stored", "url", results[i].URL, "bytes", m.Size)
		} else {
			f.log.Error("target failed", "target", tw.target.URL, "err", tw.err)
		}
	}
	return results
}

// close commits tw's object, made durable if the target asks for it,
// cancelling the upload if Close makes no progress for the stall timeout.
func (f *fanout) close(tw *targetWriter) error {
	return closeDurably(f.ctx, tw.target.Bucket, tw.target.Key(tw.name), tw.durable,
		func() error { return f.closeWriter(tw) },
		func() {
			tw.cancel()
			tw.w.Close()
		})
}

// closeWriter closes tw's writer, cancelling the upload if Close makes no
// progress for the stall timeout.
func (f *fanout) closeWriter(tw *targetWriter) error {
	if f.stall <= 0 {
		err := tw.w.Close()
		tw.cancel()
		return err
	}
	stalled := make(chan struct{})
	timer := time.AfterFunc(f.stall, func() { close(stalled); tw.cancel() })
	err := tw.w.Close()
	timer.Stop()
	tw.cancel()
	select {
	case <-stalled:
		if err == nil {
			// Close won the race with the cancel: the object is stored.
			return nil
		}
		return fmt.Errorf("%w: no progress for %s: %v", ErrStalled, f.stall, err)
	default:
		return err
	}
}

// rollBack deletes the objects and manifests committed on targets that
// succeeded, after another target failed in an all-or-nothing backup.
func (f *fanout) rollBack() {
	ctx := context.WithoutCancel(f.ctx)
	for _, tw := range f.writers {
		if tw.err != nil {
			continue
		}
		tw.err = fmt.Errorf("target %s: removed again: %w", tw.target.URL, errAllOrNothing)
		for _, key := range []string{tw.target.Key(tw.name), tw.target.Key(tw.name + ManifestSuffix)} {
			if derr := tw.target.Bucket.Delete(ctx, key); derr != nil {
				tw.err = fmt.Errorf("%w (and removing %s failed: %v)", tw.err, key, derr)
			}
		}
	}
}
