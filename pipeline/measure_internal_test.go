package pipeline

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"strings"
	"sync"
	"testing"
	"time"

	"gocloud.dev/blob/memblob"

	"github.com/sluice-backup/sluice/pipeline/archive"
)

// noticeWatch is a slog handler that writes text records to buf and
// closes seen when the measuring notice arrives.
type noticeWatch struct {
	slog.Handler
	once sync.Once
	seen chan struct{}
}

func (w *noticeWatch) Handle(ctx context.Context, r slog.Record) error {
	err := w.Handler.Handle(ctx, r)
	if strings.HasPrefix(r.Message, "measuring the source") {
		w.once.Do(func() { close(w.seen) })
	}
	return err
}

// TestMeasureNotice checks what a backup logs about measuring a directory:
// nothing at info level when the walk is quick, and, when it outlasts
// measureNotice, an info record saying what it is doing and how to skip
// it, then the result at info level.
func TestMeasureNotice(t *testing.T) {
	run := func(notice time.Duration, slow bool) string {
		t.Helper()
		old := measureNotice
		measureNotice = notice
		defer func() { measureNotice = old }()
		var logs bytes.Buffer
		watch := &noticeWatch{Handler: slog.NewTextHandler(&logs, &slog.HandlerOptions{Level: slog.LevelInfo}), seen: make(chan struct{})}
		src := &Source{Name: "tree", Archive: true, Size: -1,
			open: func(context.Context, ReadOptions) (io.ReadCloser, error) {
				return io.NopCloser(strings.NewReader("tar")), nil
			},
			measure: func(context.Context) (archive.Size, error) {
				if slow {
					// The walk lasts until the notice is out.
					select {
					case <-watch.seen:
					case <-time.After(10 * time.Second):
						t.Error("no notice within 10 s of a slow walk")
					}
				}
				return archive.Size{Entries: 4, Files: 3, Data: 3, Archive: 3072}, nil
			}}
		bucket := memblob.OpenBucket(nil)
		defer bucket.Close()
		b := &Backup{
			Source: src, Targets: []*Target{{URL: "mem://notice", Bucket: bucket}}, Name: "obj",
			ExpectedSize: -1, ProgressTotal: true, Log: slog.New(watch),
		}
		if _, err := b.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		return logs.String()
	}
	if logs := run(time.Hour, false); strings.Contains(logs, "measur") {
		t.Errorf("a quick walk logged at info level:\n%s", logs)
	}
	logs := run(time.Millisecond, true)
	for _, want := range []string{"measuring the source", "--expected-size skips this", "measured source", "files=3", "bytes=3072"} {
		if !strings.Contains(logs, want) {
			t.Errorf("a slow walk's info logs lack %q:\n%s", want, logs)
		}
	}
}

// TestAllowChangingFiles: a backup hands its directory source an
// OnChange only when AllowChangingFiles is set, and what it is told is a
// warning naming the file.
func TestAllowChangingFiles(t *testing.T) {
	for _, allow := range []bool{false, true} {
		var logs bytes.Buffer
		var got ReadOptions
		src := &Source{Name: "tree", Archive: true, Size: -1,
			open: func(_ context.Context, o ReadOptions) (io.ReadCloser, error) {
				got = o
				if o.OnChange != nil {
					o.OnChange("/src/log", "file grew while being read")
				}
				return io.NopCloser(strings.NewReader("tar")), nil
			},
			measure: func(context.Context) (archive.Size, error) { return archive.Size{}, nil },
		}
		bucket := memblob.OpenBucket(nil)
		b := &Backup{Source: src, Targets: []*Target{{URL: "mem://x", Bucket: bucket}}, Name: "tree",
			AllowChangingFiles: allow, Log: slog.New(slog.NewTextHandler(&logs, nil))}
		if _, err := b.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		bucket.Close()
		if (got.OnChange != nil) != allow || got.OnSkip == nil {
			t.Errorf("allow %v: OnChange set %v, OnSkip set %v", allow, got.OnChange != nil, got.OnSkip != nil)
		}
		if want := `level=WARN msg="archived as read" path=/src/log change="file grew while being read"`; allow && !strings.Contains(logs.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logs.String())
		}
	}
}
