package pipeline_test

import (
	"bytes"
	"context"
	"fmt"
	"os"
	"path/filepath"
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
		if w.Kind != pipeline.WriteData {
			return 0, nil
		}
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
				if w.Kind == pipeline.WriteData {
					got = append(got, w)
				}
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

// TestExpectedSize checks what a backup expects of its source before
// reading it, as the upload plan (Prepare's size) and the observer see
// it: a directory is measured to the exact length of its tar stream,
// excludes applied, when a target plans its upload (Prepare is set) or
// the progress display asks for a total, and not otherwise; a size the
// caller gives wins over the walk; a file's size is known, and a bare
// stream's is not.
func TestExpectedSize(t *testing.T) {
	dir := t.TempDir()
	for i := range 20 {
		data := stagetest.Data(1000*i+7, uint64(i))
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%02d.bin", i)), data, 0o644); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(dir, "skip.tmp"), make([]byte, 1<<20), 0o644); err != nil {
		t.Fatal(err)
	}
	file := filepath.Join(dir, "f19.bin")
	source := func(path string, exclude ...string) *pipeline.Source {
		src, err := pipeline.PathSource(path, exclude)
		if err != nil {
			t.Fatal(err)
		}
		return src
	}
	// measured stands for the tar stream's length, which the test learns
	// from the bytes the backup read.
	const measured = -2
	for _, tc := range []struct {
		name      string
		src       *pipeline.Source
		given     int64 // Backup.ExpectedSize
		prepare   bool  // the target plans its upload
		total     bool  // Backup.ProgressTotal
		size      int64 // BackupStart.SourceSize
		expected  int64 // BackupStart.ExpectedSize, and what the upload is planned for
		plannedOn int64 // what Prepare is told, before margins
	}{
		{"directory to a planning target", source(dir), -1, true, false, -1, measured, measured},
		{"directory with excludes", source(dir, "*.tmp"), -1, true, false, -1, measured, measured},
		{"directory, progress total", source(dir), -1, false, true, -1, measured, -1},
		{"directory, nobody needs its size", source(dir), -1, false, false, -1, -1, -1},
		{"directory, size given", source(dir), 5 << 30, true, true, -1, 5 << 30, 5 << 30},
		{"file", source(file), -1, true, true, 19007, -1, 19007},
		{"stream, size given", pipeline.StreamSource("stdin", bytes.NewReader([]byte("data")), -1), 40 << 30, true, false, -1, 40 << 30, 40 << 30},
	} {
		t.Run(tc.name, func(t *testing.T) {
			planned := int64(-1)
			tg := memTarget(t, "expect")
			if tc.prepare {
				tg.Prepare = func(_ *blob.WriterOptions, w pipeline.Write) (int64, error) {
					if w.Kind == pipeline.WriteData {
						planned = w.Size
					}
					return 0, nil
				}
			}
			rec := &recorder{wrote: map[int]int64{}, results: map[int]pipeline.TargetResult{}}
			b := &pipeline.Backup{Source: tc.src, Targets: []*pipeline.Target{tg}, Name: "obj", ExpectedSize: tc.given, ProgressTotal: tc.total, Observer: rec}
			res, err := b.Run(context.Background())
			if err != nil {
				t.Fatal(err)
			}
			resolve := func(n int64) int64 {
				if n == measured {
					return res.BytesIn
				}
				return n
			}
			start := rec.starts[0]
			if start.SourceSize != tc.size || start.ExpectedSize != resolve(tc.expected) {
				t.Errorf("started with size %d, expected %d; want %d, %d (read %d)", start.SourceSize, start.ExpectedSize, tc.size, resolve(tc.expected), res.BytesIn)
			}
			switch on := resolve(tc.plannedOn); {
			case !tc.prepare:
			case on < 0 && planned != -1:
				t.Errorf("upload planned for %d bytes of a source of unknown size", planned)
			case on >= 0 && (planned < on || planned > on+on/32+2<<20):
				t.Errorf("upload planned for %d bytes, want a little over %d", planned, on)
			}
		})
	}
}
