package pipeline

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestRenameNoReplace: renameNoReplace never replaces what is at its
// destination, a file or an empty folder, and on Linux the kernel
// decides (EEXIST from renameat2), not a check made before the rename,
// which something created meanwhile would pass.
func TestRenameNoReplace(t *testing.T) {
	dir := t.TempDir()
	from := filepath.Join(dir, "from")
	if err := os.Mkdir(from, 0o755); err != nil {
		t.Fatal(err)
	}
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
		err := renameNoReplace(from, to)
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
	to := filepath.Join(dir, "new")
	if err := renameNoReplace(from, to); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(to); err != nil {
		t.Fatal(err)
	}
}
