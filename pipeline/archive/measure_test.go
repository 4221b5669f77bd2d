package archive

import (
	"archive/tar"
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// checkMeasure measures the tree at root and compares every figure with
// what Write actually writes for it.
func checkMeasure(t *testing.T, root string, opts Options) Size {
	t.Helper()
	got, err := Measure(context.Background(), root, opts)
	if err != nil {
		t.Fatalf("Measure: %v", err)
	}
	archive := writeArchive(t, root, opts)
	want := Size{Archive: int64(len(archive))}
	for _, h := range readHeaders(t, archive) {
		want.Entries++
		if h.Typeflag == tar.TypeReg {
			want.Files++
			want.Data += h.Size
		}
	}
	if got != want {
		t.Errorf("Measure = %+v, Write wrote %+v", got, want)
	}
	return got
}

// TestMeasureMatchesWrite checks that Measure predicts Write's output to
// the byte: headers with and without PAX records (long names, long
// symlink targets, non-ASCII names), data padding at every edge of a
// 512-byte block, empty directories, symlinks and excluded entries.
func TestMeasureMatchesWrite(t *testing.T) {
	t.Run("test tree", func(t *testing.T) {
		checkMeasure(t, makeTree(t, t.TempDir(), testTree()), Options{})
	})

	var nodes []node
	for _, n := range []int{0, 1, 511, 512, 513, 1023, 1024, 1025, 128<<10 + 1} {
		nodes = append(nodes, node{path: "sizes/" + strings.Repeat("x", n%7+1) + "-" + string(rune('a'+len(nodes))), kind: 'f', data: strings.Repeat("d", n)})
	}
	deep := strings.Repeat("directory-name-that-is-long/", 12) // past USTAR's 255-byte name limit
	nodes = append(nodes,
		node{path: deep + "file", kind: 'f', data: "deep"},
		node{path: "links/long", kind: 'l', target: strings.Repeat("../target/", 15)},
		node{path: "links/short", kind: 'l', target: "x"},
		node{path: "empty/dir", kind: 'd'},
		node{path: "skip/a.tmp", kind: 'f', data: strings.Repeat("t", 4096)},
		node{path: "skip/cache/b", kind: 'f', data: "b"},
	)
	root := makeTree(t, t.TempDir(), nodes)
	t.Run("edges", func(t *testing.T) { checkMeasure(t, root, Options{}) })
	t.Run("excludes", func(t *testing.T) {
		all, err := Measure(context.Background(), root, Options{})
		if err != nil {
			t.Fatal(err)
		}
		some := checkMeasure(t, root, Options{Exclude: []string{"*.tmp", "cache/"}})
		if some.Entries != all.Entries-3 || some.Data != all.Data-4097 {
			t.Errorf("excluding 3 entries of 4097 bytes: %+v, all %+v", some, all)
		}
	})
}

// TestMeasureReadsNoData measures a 64 GiB sparse file, which reading
// would take minutes: the walk reads metadata only. A file this large
// also needs a PAX size record, so its header takes three blocks.
func TestMeasureReadsNoData(t *testing.T) {
	root := t.TempDir()
	f, err := os.Create(filepath.Join(root, "huge"))
	if err != nil {
		t.Fatal(err)
	}
	const huge = 64<<30 + 3
	if err := f.Truncate(huge); err != nil {
		t.Fatal(err)
	}
	f.Close()
	got, err := Measure(context.Background(), root, Options{})
	if err != nil {
		t.Fatal(err)
	}
	padded := int64(huge+blockSize-1) / blockSize * blockSize
	want := Size{Entries: 1, Files: 1, Data: huge, Archive: 3*blockSize + padded + endOfArchive}
	if got != want {
		t.Errorf("Measure = %+v, want %+v", got, want)
	}
}

func TestMeasureErrors(t *testing.T) {
	root := makeTree(t, t.TempDir(), testTree())
	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if _, err := Measure(ctx, root, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled: err = %v, want context.Canceled", err)
	}
	if _, err := Measure(context.Background(), root, Options{Exclude: []string{"["}}); err == nil || !strings.Contains(err.Error(), "exclude pattern") {
		t.Errorf("bad pattern: err = %v", err)
	}
	if _, err := Measure(context.Background(), filepath.Join(root, "missing"), Options{}); !errors.Is(err, os.ErrNotExist) {
		t.Errorf("missing root: err = %v", err)
	}
}
