package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"path"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"testing"
)

// deepTree makes a tree depth folders deep (d00/d01/...) with, at some
// levels, a file and a symlink listed before the next level, and a file
// and a folder listed after it, which the walk reaches only once it has
// climbed back from below, after it closed the level.
func deepTree(t *testing.T, depth int) string {
	t.Helper()
	var nodes []node
	p := ""
	for i := range depth {
		p = path.Join(p, fmt.Sprintf("d%02d", i))
		nodes = append(nodes, node{path: p, kind: 'd'})
		if i%3 == 0 {
			nodes = append(nodes, node{path: p + "/a-file", kind: 'f', data: p})
		}
		if i%4 == 1 {
			nodes = append(nodes, node{path: p + "/b-link", kind: 'l', target: "a-file"})
		}
		if i%5 == 2 {
			nodes = append(nodes,
				node{path: p + "/z-file", kind: 'f', data: strings.Repeat("z", i)},
				node{path: p + "/z-sub/f", kind: 'f', data: "sub"})
		}
	}
	return makeTree(t, t.TempDir(), nodes)
}

// openFiles returns how many descriptors the process has open, or -1
// where /proc/self/fd does not tell.
func openFiles(t *testing.T) int {
	if runtime.GOOS != "linux" {
		return -1
	}
	fds, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		t.Fatal(err)
	}
	return len(fds)
}

// TestWalkDeepTreeBoundedDescriptors: a tree deeper than the walk may
// hold open is written and measured exactly as with every level open,
// and the walk never holds more directories open than its bound: neither
// by its own count nor, on Linux, by the process's open descriptors.
func TestWalkDeepTreeBoundedDescriptors(t *testing.T) {
	src := deepTree(t, 20)
	want := writeArchive(t, src, Options{})
	if n := len(listTar(t, want)); n < 40 {
		t.Fatalf("test tree has %d entries", n)
	}
	wantSize, err := Measure(context.Background(), src, Options{})
	if err != nil {
		t.Fatal(err)
	}

	for _, bound := range []int{3, 4, 7} {
		for _, measure := range []bool{false, true} {
			name := fmt.Sprintf("bound %d, write", bound)
			if measure {
				name = fmt.Sprintf("bound %d, measure", bound)
			}
			var buf bytes.Buffer
			var size Size
			tw := &treeWriter{maxOpen: bound}
			if measure {
				tw.size = &size
			} else {
				tw.tw = tar.NewWriter(&buf)
			}
			base := openFiles(t) // the root is not open yet
			maxOpen, maxFiles := 0, 0
			tw.hook = func(event, rel string) {
				maxOpen = max(maxOpen, tw.open)
				if base < 0 {
					return
				}
				n := openFiles(t) - base
				if event == "copy" {
					n-- // the file being read
				}
				maxFiles = max(maxFiles, n)
			}
			if err := walkTree(context.Background(), tw, src, Options{}); err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if measure && size != wantSize {
				t.Errorf("%s: Measure = %+v, with every level open %+v", name, size, wantSize)
			}
			if !measure && !bytes.Equal(buf.Bytes(), want) {
				t.Errorf("%s: entries %q, with every level open %q", name, listTar(t, buf.Bytes()), listTar(t, want))
			}
			if maxOpen != bound {
				t.Errorf("%s: at most %d directories open, want %d", name, maxOpen, bound)
			}
			if base >= 0 && maxFiles > bound {
				t.Errorf("%s: %d descriptors open during the walk, want at most %d", name, maxFiles, bound)
			}
			if tw.open != 1 || len(tw.path) != 1 {
				t.Errorf("%s: %d levels open and %d on the path after the walk, want the root only", name, tw.open, len(tw.path))
			}
		}
	}
}

// TestWalkReopenChecksDirectory: a directory the walk closed while deeper
// and reopens when it climbs back is checked to be the one it entered. One
// swapped for another directory, or for a symlink to one, fails the walk
// naming it; one gone leaves its remaining entries reported as vanished.
func TestWalkReopenChecksDirectory(t *testing.T) {
	const deepest = "a/b/c/d/e/f/file"
	replace := func(with func(b string) error) func(src string) error {
		return func(src string) error {
			b := filepath.Join(src, "a/b")
			if err := os.Rename(b, filepath.Join(src, "a/old")); err != nil {
				return err
			}
			return with(b)
		}
	}
	for _, tt := range []struct {
		name    string
		change  func(src string) error
		wantErr string // "" when the walk goes on
	}{
		{"replaced by a directory", replace(func(b string) error { return os.Mkdir(b, 0o755) }), "directory replaced during backup"},
		{"replaced by a symlink", replace(func(b string) error { return os.Symlink("sib", b) }), "directory replaced during backup"},
		{"replaced by a symlink out of its parent", replace(func(b string) error { return os.Symlink("../other", b) }), "path escapes"},
		{"gone", replace(func(string) error { return nil }), ""},
	} {
		for _, measure := range []bool{false, true} {
			name := tt.name + ", write"
			if measure {
				name = tt.name + ", measure"
			}
			src := makeTree(t, t.TempDir(), []node{
				{path: deepest, kind: 'f', data: "deep"},
				{path: "a/b/z", kind: 'f', data: "after"},
				{path: "a/sib/z", kind: 'f', data: "sibling"},
				{path: "other/z", kind: 'f', data: "other"},
			})
			var skipped []string
			tw := &treeWriter{
				maxOpen: 4, // the root, d, e and f at the deepest file: a/b is closed
				onSkip:  func(path, reason string) { skipped = append(skipped, path+": "+reason) },
			}
			var buf bytes.Buffer
			var size Size
			if measure {
				tw.size = &size
			} else {
				tw.tw = tar.NewWriter(&buf)
			}
			tw.hook = func(event, rel string) {
				if event == "entry" && rel == deepest {
					if err := tt.change(src); err != nil {
						t.Fatal(err)
					}
				}
			}
			err := walkTree(context.Background(), tw, src, Options{})
			if tt.wantErr != "" {
				var ee *EntryError
				if !errors.As(err, &ee) || ee.Path != filepath.Join(src, "a/b") || !strings.Contains(err.Error(), tt.wantErr) {
					t.Errorf("%s: err = %v, want an error naming a/b with %q", name, err, tt.wantErr)
				}
				continue
			}
			if err != nil {
				t.Fatalf("%s: %v", name, err)
			}
			if want := []string{filepath.Join(src, "a/b/z") + ": vanished during backup"}; !slices.Equal(skipped, want) {
				t.Errorf("%s: OnSkip calls %q, want %q", name, skipped, want)
			}
			if !measure && slices.Contains(listTar(t, buf.Bytes()), "a/b/z") {
				t.Errorf("%s: a/b/z archived", name)
			}
		}
	}
}
