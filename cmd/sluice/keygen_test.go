package main

import (
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sluice-backup/sluice/pipeline/fsync"
)

// TestKeygenIsDurable: the key reaches the disk under a temporary name
// before it is linked to its path, and the folder after, so neither a
// crash nor a kill can leave an empty or partial key at the path; a
// flush that fails leaves nothing.
func TestKeygenIsDurable(t *testing.T) {
	var flushed []string
	fail := false
	saved := fsync.Sync
	t.Cleanup(func() { fsync.Sync = saved })
	fsync.Sync = func(f *os.File) error {
		flushed = append(flushed, f.Name())
		if fail {
			return &os.PathError{Op: "sync", Path: f.Name(), Err: syscall.EIO}
		}
		return f.Sync()
	}
	dir := t.TempDir()
	path := filepath.Join(dir, "key.txt")
	mustCLI(t, nil, "keygen", "-o", path)
	if len(flushed) != 2 || !strings.HasPrefix(filepath.Base(flushed[0]), ".sluice-key-") || flushed[1] != dir {
		t.Errorf("flushed %q, want the key under a temporary name, then its folder", flushed)
	}
	if ents, _ := os.ReadDir(dir); len(ents) != 1 {
		t.Errorf("folder holds %d entries, want only the key", len(ents))
	}

	// A name as long as a name can be: the temporary name is no longer.
	mustCLI(t, nil, "keygen", "-o", filepath.Join(dir, strings.Repeat("k", 255)))

	fail, flushed = true, nil
	for _, args := range [][]string{{"keygen", "-o"}, {"keygen", "--fernet", "-o"}} {
		lost := filepath.Join(t.TempDir(), "lost.txt")
		_, errs, code := cli(t, nil, append(args, lost)...)
		if code != exitFailure || !strings.Contains(errs, "input/output error") {
			t.Fatalf("%v with a failing disk: exit %d, stderr %q", args, code, errs)
		}
		if ents, _ := os.ReadDir(filepath.Dir(lost)); len(ents) != 0 {
			t.Fatalf("%v with a failing disk left %s and more", args, ents[0].Name())
		}
	}

	// The key reached the disk but its folder cannot be flushed: the key
	// is taken back, not left without its recipient printed.
	folderFails := t.TempDir()
	fsync.Sync = func(f *os.File) error {
		if fi, err := f.Stat(); err == nil && fi.IsDir() {
			return &os.PathError{Op: "sync", Path: f.Name(), Err: syscall.EIO}
		}
		return f.Sync()
	}
	stdout, _, code := cli(t, nil, "keygen", "-o", filepath.Join(folderFails, "k.txt"))
	if ents, _ := os.ReadDir(folderFails); code != exitFailure || stdout != "" || len(ents) != 0 {
		t.Fatalf("folder flush failing: exit %d, stdout %q, %d entries left; want 1, nothing printed, nothing left", code, stdout, len(ents))
	}
}
