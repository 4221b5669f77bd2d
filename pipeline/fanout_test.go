package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"strings"
	"sync"
	"testing"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/driver"
	"gocloud.dev/gcerrors"

	"github.com/sluice-backup/sluice/pipeline"
	"github.com/sluice-backup/sluice/pipeline/stagetest"
)

// faultBucket is an in-memory driver.Bucket whose writers misbehave on
// purpose: they hang after stallAfter bytes (until their context ends),
// or hang or fail in Close. Only what a backup touches is implemented.
type faultBucket struct {
	stallAfter int  // < 0: never stall in Write
	closeStall bool // Close hangs until the context ends
	claimStall bool // Close of a name claim hangs until the context ends
	closeFail  bool // Close fails

	mu      sync.Mutex
	objects map[string][]byte
}

var errMissing = errors.New("no such object")

func newFaultBucket() *faultBucket {
	return &faultBucket{stallAfter: -1, objects: map[string][]byte{}}
}

func (b *faultBucket) target(t *testing.T, name string) *pipeline.Target {
	bk := blob.NewBucket(b)
	t.Cleanup(func() { bk.Close() })
	return &pipeline.Target{URL: "fault://" + name, Bucket: bk}
}

func (b *faultBucket) keys() []string {
	b.mu.Lock()
	defer b.mu.Unlock()
	var out []string
	for k := range b.objects {
		out = append(out, k)
	}
	return out
}

func (b *faultBucket) ErrorCode(err error) gcerrors.ErrorCode {
	if errors.Is(err, errMissing) {
		return gcerrors.NotFound
	}
	return gcerrors.Unknown
}
func (b *faultBucket) As(any) bool             { return false }
func (b *faultBucket) ErrorAs(error, any) bool { return false }
func (b *faultBucket) Close() error            { return nil }
func (b *faultBucket) Attributes(_ context.Context, key string) (*driver.Attributes, error) {
	b.mu.Lock()
	defer b.mu.Unlock()
	o, ok := b.objects[key]
	if !ok {
		return nil, errMissing
	}
	return &driver.Attributes{Size: int64(len(o))}, nil
}
func (b *faultBucket) ListPaged(context.Context, *driver.ListOptions) (*driver.ListPage, error) {
	return &driver.ListPage{}, nil
}
func (b *faultBucket) NewRangeReader(context.Context, string, int64, int64, *driver.ReaderOptions) (driver.Reader, error) {
	return nil, errors.New("not implemented")
}
func (b *faultBucket) Copy(context.Context, string, string, *driver.CopyOptions) error {
	return errors.New("not implemented")
}
func (b *faultBucket) SignedURL(context.Context, string, *driver.SignedURLOptions) (string, error) {
	return "", errors.New("not implemented")
}
func (b *faultBucket) Delete(_ context.Context, key string, _ *driver.DeleteOptions) error {
	b.mu.Lock()
	defer b.mu.Unlock()
	if _, ok := b.objects[key]; !ok {
		return errMissing
	}
	delete(b.objects, key)
	return nil
}
func (b *faultBucket) NewTypedWriter(ctx context.Context, key, _ string, _ *driver.WriterOptions) (driver.Writer, error) {
	return &faultWriter{ctx: ctx, b: b, key: key}, nil
}

type faultWriter struct {
	ctx context.Context
	b   *faultBucket
	key string
	buf bytes.Buffer
	sum byte
}

func (w *faultWriter) Write(p []byte) (int, error) {
	if w.b.stallAfter >= 0 && w.buf.Len()+len(p) > w.b.stallAfter {
		<-w.ctx.Done()
		// Like a network writer still sending when it notices the
		// cancel, read p after the fan-out has given up on this write.
		var sum byte
		for _, c := range p {
			sum ^= c
		}
		w.sum = sum
		return 0, w.ctx.Err()
	}
	return w.buf.Write(p)
}

func (w *faultWriter) Close() error {
	isClaim := strings.HasSuffix(w.key, pipeline.ClaimSuffix)
	switch {
	case w.b.closeStall && !isClaim, w.b.claimStall && isClaim:
		<-w.ctx.Done()
	case w.b.closeFail:
		return errors.New("commit refused")
	}
	if err := w.ctx.Err(); err != nil {
		return err // a cancelled write commits nothing
	}
	w.b.mu.Lock()
	defer w.b.mu.Unlock()
	w.b.objects[w.key] = w.buf.Bytes()
	return nil
}

// stallTimeout is long enough that a healthy in-memory target never
// trips it on a loaded machine.
const stallTimeout = 2 * time.Second

func TestStalledTargetIsAborted(t *testing.T) {
	for _, tc := range []struct {
		name  string
		fault func(b *faultBucket)
	}{
		{"in write", func(b *faultBucket) { b.stallAfter = 3<<20 + 5 }},
		{"in commit", func(b *faultBucket) { b.closeStall = true }},
		{"in claim", func(b *faultBucket) { b.claimStall = true }},
	} {
		t.Run(tc.name, func(t *testing.T) {
			good1, good2 := newFaultBucket(), newFaultBucket()
			stuck := newFaultBucket()
			tc.fault(stuck)
			data := stagetest.Data(6<<20+3, 7)
			b := &pipeline.Backup{
				Source:  pipeline.StreamSource("stdin", bytes.NewReader(data), -1),
				Targets: []*pipeline.Target{good1.target(t, "good1"), stuck.target(t, "stuck"), good2.target(t, "good2")},
				Name:    "obj", ExpectedSize: -1, StallTimeout: stallTimeout,
			}
			res, err := b.Run(context.Background())
			if !errors.Is(err, pipeline.ErrPartial) {
				t.Fatalf("err = %v, want ErrPartial", err)
			}
			if !errors.Is(res.Targets[1].Err, pipeline.ErrStalled) {
				t.Fatalf("stuck target: %v, want ErrStalled", res.Targets[1].Err)
			}
			if k := stuck.keys(); len(k) != 0 {
				t.Fatalf("stalled target holds %v", k)
			}
			for _, g := range []*faultBucket{good1, good2} {
				if got := g.objects["obj"]; !bytes.Equal(got, data) {
					t.Fatalf("good target holds %d bytes, want %d; results %+v", len(got), len(data), res.Targets)
				}
			}
		})
	}
}

func TestAllOrNothing(t *testing.T) {
	t.Run("write fails", func(t *testing.T) {
		a, c := newFaultBucket(), newFaultBucket()
		bad := newFaultBucket()
		badT := bad.target(t, "bad")
		badT.Prepare = func(*blob.WriterOptions, pipeline.Write) (int64, error) { return 2 << 20, nil }
		b := &pipeline.Backup{
			Source:  pipeline.StreamSource("stdin", bytes.NewReader(stagetest.Data(8<<20, 2)), -1),
			Targets: []*pipeline.Target{a.target(t, "a"), badT, c.target(t, "c")},
			Name:    "obj", ExpectedSize: -1, AllOrNothing: true,
		}
		res, err := b.Run(context.Background())
		if err == nil || errors.Is(err, pipeline.ErrPartial) || !strings.Contains(err.Error(), "exceeds") {
			t.Fatalf("err = %v: want a total failure naming the cause", err)
		}
		if res.Failed() != 3 {
			t.Fatalf("targets: %+v", res.Targets)
		}
		for _, fb := range []*faultBucket{a, bad, c} {
			if k := fb.keys(); len(k) != 0 {
				t.Fatalf("a target holds %v", k)
			}
		}
	})
	t.Run("commit fails", func(t *testing.T) {
		a, c := newFaultBucket(), newFaultBucket()
		bad := newFaultBucket()
		bad.closeFail = true
		b := &pipeline.Backup{
			Source:  pipeline.StreamSource("stdin", bytes.NewReader(stagetest.Data(3<<20, 2)), -1),
			Targets: []*pipeline.Target{a.target(t, "a"), bad.target(t, "bad"), c.target(t, "c")},
			Name:    "obj", ExpectedSize: -1, AllOrNothing: true,
		}
		res, err := b.Run(context.Background())
		if err == nil || errors.Is(err, pipeline.ErrPartial) || res.Failed() != 3 {
			t.Fatalf("err = %v, targets %+v: want all failed", err, res.Targets)
		}
		for _, fb := range []*faultBucket{a, bad, c} {
			if k := fb.keys(); len(k) != 0 {
				t.Fatalf("a target still holds %v after the roll-back", k)
			}
		}
	})
	t.Run("without it the others keep their copies", func(t *testing.T) {
		a := newFaultBucket()
		bad := newFaultBucket()
		bad.closeFail = true
		b := &pipeline.Backup{
			Source:  pipeline.StreamSource("stdin", bytes.NewReader([]byte("x")), -1),
			Targets: []*pipeline.Target{a.target(t, "a"), bad.target(t, "bad")},
			Name:    "obj", ExpectedSize: -1,
		}
		if _, err := b.Run(context.Background()); !errors.Is(err, pipeline.ErrPartial) {
			t.Fatalf("err = %v", err)
		}
		if len(a.keys()) != 2 {
			t.Fatalf("a holds %v", a.keys())
		}
	})
}
