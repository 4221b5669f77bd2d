package pipeline

import (
	"context"
	"fmt"
	"io"
	"log/slog"
	"sync"

	"gocloud.dev/blob"
)

// fanout writes one stream to several targets at once. The slowest target
// sets the pace; memory is two chunk buffers whatever the number of
// targets. A target that fails is aborted (its write context cancelled
// before Close, so nothing is committed) and the others go on.
type fanout struct {
	ctx     context.Context
	log     *slog.Logger
	writers []*targetWriter
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
}

func newFanout(ctx context.Context, log *slog.Logger) *fanout {
	return &fanout{ctx: ctx, log: log}
}

// chunkSize is the unit of fan-out: each chunk is written to every target
// concurrently while the next one is read and encoded.
const chunkSize = 1 << 20

func (f *fanout) open(t *Target, name string, meta map[string]string, sizeHint int64) {
	tw := &targetWriter{target: t, name: name}
	f.writers = append(f.writers, tw)
	wo, limit, err := writerOptions(t, meta, sizeHint)
	if err != nil {
		tw.err = fmt.Errorf("target %s: %w", t.URL, err)
		return
	}
	if limit > 0 && sizeHint > limit {
		tw.err = fmt.Errorf("target %s: an object of about %d bytes exceeds the %d bytes this upload can hold; raise the part size", t.URL, sizeHint, limit)
		return
	}
	tw.limit = limit
	ctx, cancel := context.WithCancel(f.ctx)
	w, err := t.Bucket.NewWriter(ctx, t.Key(name), wo)
	if err != nil {
		cancel()
		tw.err = fmt.Errorf("target %s: open %s: %w", t.URL, name, err)
		return
	}
	tw.w, tw.cancel = w, cancel
}

// fail aborts tw's write: cancelling its context before Close discards
// whatever was written.
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

func (tw *targetWriter) write(p []byte) {
	if tw.limit > 0 && tw.written+int64(len(p)) > tw.limit {
		tw.fail(fmt.Errorf("target %s: object exceeds %d bytes, the most this upload's part size allows; give --expected-size or a larger part_size", tw.target.URL, tw.limit))
		return
	}
	n, err := tw.hooks.write(tw.w, p)
	tw.written += int64(n)
	if err != nil {
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

// copy reads src to its end and writes every chunk to hash and all live
// targets. It returns the bytes read and src's error. It stops early, with
// an error, when no target is left.
func (f *fanout) copy(src io.Reader, hash io.Writer) (int64, error) {
	bufs := [2][]byte{make([]byte, chunkSize), make([]byte, chunkSize)}
	var pending sync.WaitGroup
	defer pending.Wait()
	var total int64
	for i := 0; ; i++ {
		buf := bufs[i%2]
		n, rerr := io.ReadFull(src, buf)
		pending.Wait()
		live := f.live()
		if len(live) == 0 {
			return total, f.writers[0].err
		}
		if n > 0 {
			chunk := buf[:n]
			total += int64(n)
			pending.Add(len(live) + 1)
			go func() { defer pending.Done(); hash.Write(chunk) }()
			for _, tw := range live {
				go func() { defer pending.Done(); tw.write(chunk) }()
			}
		}
		switch rerr {
		case nil:
		case io.EOF, io.ErrUnexpectedEOF:
			return total, nil
		default:
			return total, rerr
		}
	}
}

// abortAll aborts every open write.
func (f *fanout) abortAll(cause error) {
	for _, tw := range f.writers {
		tw.fail(fmt.Errorf("target %s: aborted: %w", tw.target.URL, cause))
	}
}

// commit closes every live writer, which makes its object visible, then
// writes manifest m beside it (m is nil only when no writer is live). A target whose manifest cannot be written
// has its object deleted again, so it holds nothing half-described.
func (f *fanout) commit(m *Manifest) []TargetResult {
	var wg sync.WaitGroup
	for _, tw := range f.live() {
		wg.Add(1)
		go func() {
			defer wg.Done()
			err := tw.w.Close()
			tw.cancel()
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
