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
			open: func(context.Context, SkipFunc) (io.ReadCloser, error) {
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
