package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"

	"gocloud.dev/blob"

	"github.com/sluice-backup/sluice/pipeline"
	"github.com/sluice-backup/sluice/pipeline/stagetest"
)

// durabilityLog records, for a target whose Durable hook it installs,
// each Flush and Commit with whether the object's key was visible in the
// bucket at that moment; failFlush and failCommit make the hook fail
// for keys with that suffix.
type durabilityLog struct {
	target                *pipeline.Target
	failFlush, failCommit string
	calls                 []string
	written               map[string]int // per key, the bytes Written was told of by Flush
}

func newDurabilityLog(t *testing.T, tg *pipeline.Target) *durabilityLog {
	l := &durabilityLog{target: tg, written: map[string]int{}}
	tg.Durable = func(wo *blob.WriterOptions) pipeline.Durability {
		// The hook tells the manifest from the object by its type.
		key := "obj"
		if wo.ContentType == "application/json" {
			key += pipeline.ManifestSuffix
		}
		return &recordedWrite{log: l, key: key, t: t}
	}
	return l
}

type recordedWrite struct {
	log     *durabilityLog
	key     string
	t       *testing.T
	written int // bytes Written was told of
}

// Written checks that it is told of bytes before the write is flushed.
func (w *recordedWrite) Written(n int) {
	if n <= 0 {
		w.t.Errorf("%s: Written(%d)", w.key, n)
	}
	w.written += n
}

func (w *recordedWrite) record(op, fail string) error {
	ok, err := w.log.target.Bucket.Exists(context.Background(), w.key)
	if err != nil {
		w.t.Fatal(err)
	}
	if op == "flush" {
		w.log.written[w.key] = w.written
	}
	w.log.calls = append(w.log.calls, fmt.Sprintf("%s %s visible=%t", op, w.key, ok))
	if fail != "" && strings.HasSuffix(w.key, fail) {
		return errors.New(op + " failed on purpose")
	}
	return nil
}

func (w *recordedWrite) Flush() error  { return w.record("flush", w.log.failFlush) }
func (w *recordedWrite) Commit() error { return w.record("commit", w.log.failCommit) }

// TestDurableWrites checks the [pipeline.Target.Durable] contract: each
// object and manifest is flushed before it becomes visible and committed
// after, and a target whose flush or commit fails holds nothing and is
// reported failed while the others are stored.
func TestDurableWrites(t *testing.T) {
	for _, tc := range []struct {
		name                  string
		failFlush, failCommit string
		want                  []string
	}{
		{name: "both succeed", want: []string{
			"flush obj visible=false", "commit obj visible=true",
			"flush obj.sluice.json visible=false", "commit obj.sluice.json visible=true",
		}},
		{name: "object flush fails", failFlush: "obj", want: []string{
			"flush obj visible=false",
		}},
		{name: "object commit fails", failCommit: "obj", want: []string{
			"flush obj visible=false", "commit obj visible=true",
		}},
		{name: "manifest flush fails", failFlush: pipeline.ManifestSuffix, want: []string{
			"flush obj visible=false", "commit obj visible=true", "flush obj.sluice.json visible=false",
		}},
		{name: "manifest commit fails", failCommit: pipeline.ManifestSuffix, want: []string{
			"flush obj visible=false", "commit obj visible=true",
			"flush obj.sluice.json visible=false", "commit obj.sluice.json visible=true",
		}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			durable, plain := memTarget(t, "durable"), memTarget(t, "plain")
			log := newDurabilityLog(t, durable)
			log.failFlush, log.failCommit = tc.failFlush, tc.failCommit
			b := &pipeline.Backup{
				Source:  pipeline.StreamSource("stdin", bytes.NewReader(stagetest.Data(3<<20, 4)), -1),
				Targets: []*pipeline.Target{durable, plain}, Name: "obj", ExpectedSize: -1,
			}
			res, err := b.Run(t.Context())
			if !slices.Equal(log.calls, tc.want) {
				t.Errorf("calls:\n%s\nwant:\n%s", strings.Join(log.calls, "\n"), strings.Join(tc.want, "\n"))
			}
			if k := keys(t, plain); len(k) != 2 {
				t.Errorf("the other target holds %v, want object and manifest", k)
			}
			failing := tc.failFlush != "" || tc.failCommit != ""
			if !failing {
				if err != nil || len(keys(t, durable)) != 2 {
					t.Fatalf("err = %v, durable target holds %v", err, keys(t, durable))
				}
				for _, key := range []string{"obj", "obj" + pipeline.ManifestSuffix} {
					stored, err := durable.Bucket.ReadAll(t.Context(), key)
					if err != nil || log.written[key] != len(stored) {
						t.Errorf("%s: Written told of %d bytes before Flush, %d stored (%v)", key, log.written[key], len(stored), err)
					}
				}
				return
			}
			if !errors.Is(err, pipeline.ErrPartial) || res.Targets[0].Err == nil ||
				!strings.Contains(res.Targets[0].Err.Error(), "failed on purpose") {
				t.Fatalf("err = %v, targets %+v: want the durable target failed", err, res.Targets)
			}
			if k := keys(t, durable); len(k) != 0 {
				t.Fatalf("the target whose write was not made durable holds %v", k)
			}
		})
	}
}

// TestEveryTargetFailsMidWrite: when every target fails while the stream
// is written (a full disk under each), the error says so and gives each
// target's reason, in one line.
func TestEveryTargetFailsMidWrite(t *testing.T) {
	var targets []*pipeline.Target
	for _, name := range []string{"a", "b"} {
		tg := memTarget(t, name)
		tg.Prepare = func(wo *blob.WriterOptions, _ pipeline.Write) (int64, error) {
			return 2 << 20, nil // a limit the stream exceeds halfway
		}
		targets = append(targets, tg)
	}
	b := &pipeline.Backup{
		Source:  pipeline.StreamSource("stdin", bytes.NewReader(stagetest.Data(8<<20, 5)), -1),
		Targets: targets, Name: "obj", ExpectedSize: -1,
	}
	_, err := b.Run(t.Context())
	if err == nil || strings.Contains(err.Error(), "\n") || !strings.Contains(err.Error(), "every target failed") ||
		!strings.Contains(err.Error(), "mem://a") || !strings.Contains(err.Error(), "mem://b") {
		t.Fatalf("err = %v; want every target's reason in one line", err)
	}
}
