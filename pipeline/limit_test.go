package pipeline_test

import (
	"bytes"
	"context"
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
	tg.Prepare = func(wo *blob.WriterOptions, size int64) (int64, error) {
		sized = size
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

type countReader struct {
	r *bytes.Reader
	n int64
}

func (c *countReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}
