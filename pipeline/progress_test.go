package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"sync"
	"testing"

	"gocloud.dev/blob"

	"github.com/sluice-backup/sluice/pipeline"
	"github.com/sluice-backup/sluice/pipeline/stagetest"
)

// recorder is an Observer that totals what it is told.
type recorder struct {
	mu      sync.Mutex
	starts  []pipeline.BackupStart
	read    int64
	wrote   map[int]int64
	results map[int]pipeline.TargetResult
}

func (r *recorder) Started(s pipeline.BackupStart) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.starts = append(r.starts, s)
}

func (r *recorder) Read(n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.read += int64(n)
}

func (r *recorder) Wrote(i, n int) {
	r.mu.Lock()
	defer r.mu.Unlock()
	r.wrote[i] += int64(n)
}

func (r *recorder) TargetDone(i int, res pipeline.TargetResult) {
	r.mu.Lock()
	defer r.mu.Unlock()
	if _, dup := r.results[i]; dup {
		panic("TargetDone twice for one target")
	}
	r.results[i] = res
}

func TestObserverSeesEveryByte(t *testing.T) {
	targets := []*pipeline.Target{memTarget(t, "a"), memTarget(t, "b"), memTarget(t, "c")}
	data := stagetest.Data(3<<20+5, 8)
	rec := &recorder{wrote: map[int]int64{}, results: map[int]pipeline.TargetResult{}}
	b := &pipeline.Backup{
		Source: pipeline.StreamSource("stdin", bytes.NewReader(data), int64(len(data))), Stages: zstdChain(t),
		Targets: targets, Name: "obj", ExpectedSize: -1, Observer: rec,
	}
	res, err := b.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if len(rec.starts) != 1 || rec.starts[0].Object != res.Object || rec.starts[0].SourceSize != int64(len(data)) || len(rec.starts[0].Targets) != 3 {
		t.Fatalf("Started: %+v", rec.starts)
	}
	if rec.read != res.BytesIn || rec.read != int64(len(data)) {
		t.Fatalf("observer read %d bytes, backup read %d", rec.read, res.BytesIn)
	}
	for i := range targets {
		if rec.wrote[i] != res.BytesOut {
			t.Errorf("target %d: observer saw %d bytes written, %d stored", i, rec.wrote[i], res.BytesOut)
		}
		if r := rec.results[i]; r.Err != nil || r.URL == "" {
			t.Errorf("target %d: TargetDone %+v", i, r)
		}
	}
}

func TestObserverSeesFailure(t *testing.T) {
	good := memTarget(t, "good")
	bad := memTarget(t, "bad")
	bad.Prepare = func(*blob.WriterOptions, pipeline.Write) (int64, error) { return 0, errors.New("no room") }
	rec := &recorder{wrote: map[int]int64{}, results: map[int]pipeline.TargetResult{}}
	b := &pipeline.Backup{
		Source: pipeline.StreamSource("stdin", bytes.NewReader(stagetest.Data(1000, 1)), -1),
		Stages: zstdChain(t), Targets: []*pipeline.Target{good, bad}, Name: "obj", ExpectedSize: -1, Observer: rec,
	}
	if _, err := b.Run(context.Background()); !errors.Is(err, pipeline.ErrPartial) {
		t.Fatalf("Run: %v, want ErrPartial", err)
	}
	if rec.results[0].Err != nil || rec.results[1].Err == nil {
		t.Fatalf("TargetDone: %+v", rec.results)
	}
	if rec.wrote[1] != 0 {
		t.Fatalf("failed target reported %d bytes written", rec.wrote[1])
	}
}
