package pipeline_test

import (
	"bytes"
	"context"
	"fmt"
	"strings"
	"testing"

	"gocloud.dev/blob"

	"github.com/sluice-backup/sluice/pipeline"
	"github.com/sluice-backup/sluice/pipeline/stagetest"
)

// TestStreamOverPartLimit feeds a stream of unknown size past the most
// its upload's part size allows (a tiny forced limit stands in for
// 10,000 parts): the target fails as soon as the limit is passed, with a
// message that says how to fix it, and holds nothing.
func TestStreamOverPartLimit(t *testing.T) {
	tg := memTarget(t, "limited")
	var sized int64
	tg.Prepare = func(wo *blob.WriterOptions, w pipeline.Write) (int64, error) {
		sized = w.Size
		return 1 << 20, nil
	}
	src := &countReader{r: bytes.NewReader(stagetest.Data(16<<20, 3))}
	b := &pipeline.Backup{
		Source:  pipeline.StreamSource("stdin", src, -1),
		Targets: []*pipeline.Target{tg}, Name: "big", ExpectedSize: -1,
	}
	_, err := b.Run(context.Background())
	if err == nil {
		t.Fatal("a stream past the part limit was stored")
	}
	for _, hint := range []string{"exceeds", "--expected-size", "part_size"} {
		if !strings.Contains(err.Error(), hint) {
			t.Fatalf("error %q does not say %q", err, hint)
		}
	}
	if sized != -1 {
		t.Fatalf("Prepare got size %d for a stream of unknown size", sized)
	}
	if k := keys(t, tg); len(k) != 0 {
		t.Fatalf("target holds %v", k)
	}
	// It stopped at the limit rather than reading the whole stream.
	if src.n > 4<<20 {
		t.Fatalf("read %d bytes before failing, want about 1 MiB", src.n)
	}
}

// TestUploadMemoryShare checks that the targets of one backup split the
// upload memory budget between them, so that what all uploads buffer
// together stays within it whatever the number of targets.
func TestUploadMemoryShare(t *testing.T) {
	for _, tc := range []struct {
		targets int
		budget  int64
		want    int64
	}{
		{1, 0, pipeline.DefaultUploadMemory},
		{3, 0, pipeline.DefaultUploadMemory / 3},
		{8, 0, pipeline.DefaultUploadMemory / 8},
		{3, 90 << 20, 30 << 20},
	} {
		var got []pipeline.Write
		var tgs []*pipeline.Target
		for i := range tc.targets {
			tg := memTarget(t, fmt.Sprintf("share-%d-%d-%d", tc.targets, tc.budget, i))
			tg.Prepare = func(_ *blob.WriterOptions, w pipeline.Write) (int64, error) {
				got = append(got, w)
				return 0, nil
			}
			tgs = append(tgs, tg)
		}
		b := &pipeline.Backup{
			Source:  pipeline.StreamSource("stdin", bytes.NewReader([]byte("data")), -1),
			Targets: tgs, Name: "obj", ExpectedSize: 10 << 30, UploadMemory: tc.budget,
		}
		if _, err := b.Run(context.Background()); err != nil {
			t.Fatal(err)
		}
		if len(got) != tc.targets {
			t.Fatalf("%d targets: Prepare called %d times", tc.targets, len(got))
		}
		for _, w := range got {
			if w.Memory != tc.want {
				t.Errorf("%d targets, budget %d: share %d, want %d", tc.targets, tc.budget, w.Memory, tc.want)
			}
			if w.Size < 10<<30 {
				t.Errorf("size hint %d is below the expected size", w.Size)
			}
		}
	}
}

type countReader struct {
	r *bytes.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
