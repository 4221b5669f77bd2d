package pipeline_test

import (
	"bytes"
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"gocloud.dev/blob"
	"gocloud.dev/blob/memblob"

	"github.com/sluice-backup/sluice/pipeline"
	"github.com/sluice-backup/sluice/pipeline/stagetest"
	"github.com/sluice-backup/sluice/stages/zstd"
)

func memTarget(t *testing.T, name string) *pipeline.Target {
	t.Helper()
	b := memblob.OpenBucket(nil)
	t.Cleanup(func() { b.Close() })
	return &pipeline.Target{URL: "mem://" + name, Bucket: b}
}

func zstdChain(t *testing.T) []pipeline.ChainStage {
	o, _ := pipeline.ParseOptions(zstd.Spec.Options, nil)
	st, err := zstd.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return []pipeline.ChainStage{{Spec: zstd.Spec, Stage: st}}
}

// keys lists every key in a target's bucket.
func keys(t *testing.T, tg *pipeline.Target) []string {
	t.Helper()
	var out []string
	it := tg.Bucket.List(nil)
	for {
		obj, err := it.Next(context.Background())
		if err == io.EOF {
			return out
		}
		if err != nil {
			t.Fatal(err)
		}
		out = append(out, obj.Key)
	}
}

func TestFanoutIdenticalCopies(t *testing.T) {
	targets := []*pipeline.Target{memTarget(t, "a"), memTarget(t, "b"), memTarget(t, "c")}
	data := stagetest.Data(5<<20+7, 1)
	b := &pipeline.Backup{
		Source: pipeline.StreamSource("stdin", bytes.NewReader(data), -1), Stages: zstdChain(t),
		Targets: targets, Name: "obj", ExpectedSize: -1,
	}
	res, err := b.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	if res.Object != "obj.zst" || res.BytesIn != int64(len(data)) {
		t.Fatalf("result %+v", res)
	}
	var first []byte
	for _, tg := range targets {
		got, err := tg.Bucket.ReadAll(context.Background(), "obj.zst")
		if err != nil {
			t.Fatal(err)
		}
		if first == nil {
			first = got
		} else if !bytes.Equal(first, got) {
			t.Fatalf("%s holds a different copy", tg.URL)
		}
		man, err := pipeline.ReadManifest(context.Background(), tg, "obj.zst")
		if err != nil || man == nil || man.SHA256 != res.SHA256 || man.Size != int64(len(got)) {
			t.Fatalf("manifest on %s: %+v %v", tg.URL, man, err)
		}
	}
}

func TestOneTargetFailsOthersFinish(t *testing.T) {
	good1, good2 := memTarget(t, "good1"), memTarget(t, "good2")
	bad := memTarget(t, "bad")
	bad.Prepare = func(wo *blob.WriterOptions, _ pipeline.Write) (int64, error) {
		return 2 << 20, nil // a limit the stream exceeds halfway
	}
	b := &pipeline.Backup{
		Source:  pipeline.StreamSource("stdin", bytes.NewReader(stagetest.Data(8<<20, 2)), -1),
		Stages:  nil,
		Targets: []*pipeline.Target{good1, bad, good2}, Name: "obj", ExpectedSize: -1,
	}
	res, err := b.Run(context.Background())
	if !errors.Is(err, pipeline.ErrPartial) {
		t.Fatalf("err = %v, want ErrPartial", err)
	}
	if res.Failed() != 1 || res.Targets[1].Err == nil || !strings.Contains(res.Targets[1].Err.Error(), "exceeds") {
		t.Fatalf("targets: %+v", res.Targets)
	}
	if k := keys(t, bad); len(k) != 0 {
		t.Fatalf("failed target holds %v", k)
	}
	for _, g := range []*pipeline.Target{good1, good2} {
		if k := keys(t, g); len(k) != 2 {
			t.Fatalf("%s holds %v, want object and manifest", g.URL, k)
		}
	}
}

type errReader struct{ after int }

func (e *errReader) Read(p []byte) (int, error) {
	if e.after <= 0 {
		return 0, errors.New("disk on fire")
	}
	n := min(len(p), e.after)
	e.after -= n
	return n, nil
}

func TestSourceFailureLeavesNothing(t *testing.T) {
	targets := []*pipeline.Target{memTarget(t, "a"), memTarget(t, "b")}
	b := &pipeline.Backup{
		Source: pipeline.StreamSource("stdin", &errReader{after: 3 << 20}, -1), Stages: zstdChain(t),
		Targets: targets, Name: "obj", ExpectedSize: -1,
	}
	_, err := b.Run(context.Background())
	if err == nil || !strings.Contains(err.Error(), "disk on fire") {
		t.Fatalf("err = %v", err)
	}
	for _, tg := range targets {
		if k := keys(t, tg); len(k) != 0 {
			t.Fatalf("%s holds %v after a failed backup", tg.URL, k)
		}
	}
}

func TestCancelLeavesNothing(t *testing.T) {
	tg := memTarget(t, "a")
	ctx, cancel := context.WithCancel(context.Background())
	pr, pw := io.Pipe()
	defer pr.Close() // unblocks the feeding goroutine once the backup gave up
	go func() {
		pw.Write(stagetest.Data(2<<20, 3))
		cancel()
		pw.Write(stagetest.Data(2<<20, 4))
		pw.Close()
	}()
	b := &pipeline.Backup{
		Source: pipeline.StreamSource("stdin", pr, -1), Stages: zstdChain(t),
		Targets: []*pipeline.Target{tg}, Name: "obj", ExpectedSize: -1,
	}
	if _, err := b.Run(ctx); !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if k := keys(t, tg); len(k) != 0 {
		t.Fatalf("cancelled backup left %v", k)
	}
}

func TestTargetRefusedUpFrontReadsNothing(t *testing.T) {
	tg := memTarget(t, "a")
	tg.Prepare = func(*blob.WriterOptions, pipeline.Write) (int64, error) { return 0, errors.New("no parts for you") }
	r := &countReads{}
	b := &pipeline.Backup{
		Source: pipeline.StreamSource("stdin", r, -1), Targets: []*pipeline.Target{tg}, Name: "obj", ExpectedSize: -1,
	}
	if _, err := b.Run(context.Background()); err == nil || !strings.Contains(err.Error(), "no parts for you") {
		t.Fatalf("err = %v", err)
	}
	if r.n != 0 {
		t.Fatalf("read %d times from the source although no target could take it", r.n)
	}
}

type countReads struct{ n int }

func (c *countReads) Read(p []byte) (int, error) { c.n++; return 0, io.EOF }

func TestCheckChain(t *testing.T) {
	z := zstdChain(t)[0]
	enc := pipeline.ChainStage{Spec: pipeline.StageSpec{Name: "x", Kind: pipeline.Encryption}}
	if err := pipeline.CheckChain([]pipeline.ChainStage{enc, z}); err == nil {
		t.Fatal("compression after encryption accepted")
	}
	if err := pipeline.CheckChain([]pipeline.ChainStage{z, z}); err == nil {
		t.Fatal("two compressions accepted")
	}
	if err := pipeline.CheckChain([]pipeline.ChainStage{z, enc}); err != nil {
		t.Fatal(err)
	}
}
