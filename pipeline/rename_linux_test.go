package pipeline

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestRenameAt: renameAt never replaces what is at its destination, a
// file or an empty folder, and on Linux the kernel decides (EEXIST from
// renameat2), not a check made before the rename, which something
// created meanwhile would pass. Names are taken relative to the folders'
// descriptors: a folder renamed after it was opened is still the one
// renamed in.
func TestRenameAt(t *testing.T) {
	dir := t.TempDir()
	from := filepath.Join(dir, "from")
	if err := os.Mkdir(from, 0o755); err != nil {
		t.Fatal(err)
	}
	d, err := os.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	for _, tc := range []struct {
		name string
		make func(string) error
	}{
		{"a file", func(p string) error { return os.WriteFile(p, []byte("theirs"), 0o644) }},
		{"an empty folder", func(p string) error { return os.Mkdir(p, 0o755) }},
	} {
		to := filepath.Join(dir, tc.name)
		if err := tc.make(to); err != nil {
			t.Fatal(err)
		}
		before, _ := os.Lstat(to)
		err := renameAt(d, "from", d, tc.name)
		if !errors.Is(err, syscall.EEXIST) {
			t.Errorf("rename onto %s: %v, want EEXIST from the kernel", tc.name, err)
		}
		if after, err := os.Lstat(to); err != nil || !os.SameFile(before, after) {
			t.Errorf("%s at the destination was replaced (%v)", tc.name, err)
		}
		if _, err := os.Stat(from); err != nil {
			t.Errorf("source gone: %v", err)
		}
	}
	// The folder moves; names still go through its descriptor.
	moved := dir + "-moved"
	if err := os.Rename(dir, moved); err != nil {
		t.Fatal(err)
	}
	defer os.Rename(moved, dir)
	if err := renameAt(d, "from", d, "new"); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(moved, "new")); err != nil {
		t.Fatal(err)
	}
}
