package fsync_test

import (
	"errors"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/sluice-backup/sluice/pipeline/fsync"
)

// watch replaces fsync.Sync for the test with one that records each name
// flushed and returns err.
func watch(t *testing.T, err error) *[]string {
	var names []string
	saved := fsync.Sync
	t.Cleanup(func() { fsync.Sync = saved })
	fsync.Sync = func(f *os.File) error {
		names = append(names, f.Name())
		return err
	}
	return &names
}

func TestFolders(t *testing.T) {
	base := t.TempDir()
	deep := filepath.Join(base, "a", "b")
	if err := os.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	names := watch(t, nil)
	if err := fsync.Folders(deep, base); err != nil {
		t.Fatal(err)
	}
	want := []string{deep, filepath.Join(base, "a"), base}
	if !slices.Equal(*names, want) {
		t.Errorf("flushed %q, want %q", *names, want)
	}
	// A top that is not above from: up to the root.
	*names = nil
	if err := fsync.Folders(deep, filepath.Join(base, "elsewhere")); err != nil {
		t.Fatal(err)
	}
	if len(*names) < 4 || (*names)[len(*names)-1] != "/" {
		t.Errorf("flushed %q, want every folder up to /", *names)
	}
}

func TestUnsupportedIsTakenAsIs(t *testing.T) {
	dir := t.TempDir()
	for _, tc := range []struct {
		err  error
		fail bool
	}{{syscall.EINVAL, false}, {syscall.ENOTSUP, false}, {syscall.EIO, true}} {
		watch(t, &os.PathError{Op: "sync", Path: dir, Err: tc.err})
		if err := fsync.Folder(dir); (err != nil) != tc.fail {
			t.Errorf("flush failing with %v: Folder = %v", tc.err, err)
		}
	}
}

// TestFolderFile: an open folder is flushed through its descriptor, and
// a file system that cannot flush it is taken as it is.
func TestFolderFile(t *testing.T) {
	dir, err := os.Open(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	defer dir.Close()
	for _, tc := range []struct {
		err  error
		fail bool
	}{{nil, false}, {syscall.EINVAL, false}, {syscall.EIO, true}} {
		var flushErr error
		if tc.err != nil {
			flushErr = &os.PathError{Op: "sync", Path: dir.Name(), Err: tc.err}
		}
		names := watch(t, flushErr)
		if err := fsync.FolderFile(dir); (err != nil) != tc.fail {
			t.Errorf("flush failing with %v: FolderFile = %v", tc.err, err)
		}
		if !slices.Equal(*names, []string{dir.Name()}) {
			t.Errorf("flushed %q, want %q", *names, dir.Name())
		}
	}
}

// TestMkdirAll: the folders holding the names of new folders are
// flushed, from the deepest new folder's parent up to the folder that
// existed; nothing is flushed when dir exists.
func TestMkdirAll(t *testing.T) {
	base := t.TempDir()
	names := watch(t, nil)
	deep := filepath.Join(base, "a", "b", "c")
	if err := fsync.MkdirAll(deep, 0o755); err != nil {
		t.Fatal(err)
	}
	if fi, err := os.Stat(deep); err != nil || !fi.IsDir() {
		t.Fatalf("MkdirAll made no folder: %v", err)
	}
	want := []string{filepath.Join(base, "a", "b"), filepath.Join(base, "a"), base}
	if !slices.Equal(*names, want) {
		t.Errorf("flushed %q, want %q", *names, want)
	}
	*names = nil
	if err := fsync.MkdirAll(deep, 0o755); err != nil || len(*names) != 0 {
		t.Errorf("MkdirAll of an existing folder: %v, flushed %q", err, *names)
	}
}

// TestTree: Tree flushes the tree's file system through SyncFS, for real
// without error, and takes a file system that cannot flush as it is.
func TestTree(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := fsync.Tree(dir); err != nil {
		t.Fatalf("Tree of a real folder: %v", err)
	}
	if err := fsync.Tree(filepath.Join(dir, "missing")); err == nil {
		t.Error("Tree of a missing folder succeeded")
	}
	saved := fsync.SyncFS
	t.Cleanup(func() { fsync.SyncFS = saved })
	for _, tc := range []struct {
		err  error
		fail bool
	}{{syscall.EINVAL, false}, {syscall.ENOTSUP, false}, {syscall.EIO, true}} {
		var flushed []string
		fsync.SyncFS = func(r *os.Root) error {
			flushed = append(flushed, r.Name())
			return &os.PathError{Op: "syncfs", Path: r.Name(), Err: tc.err}
		}
		if err := fsync.Tree(dir); (err != nil) != tc.fail {
			t.Errorf("flush failing with %v: Tree = %v", tc.err, err)
		}
		if !slices.Equal(flushed, []string{dir}) {
			t.Errorf("flushed %q, want %q", flushed, dir)
		}
	}
}

// TestFlushEach: where there is no syncfs(2), Tree flushes each folder and
// regular file under the tree, and the tree itself, however long its
// paths grow (here longer than Linux's 4,096-byte limit), without
// following a symlink out of it.
func TestFlushEach(t *testing.T) {
	dir := t.TempDir()
	outside := t.TempDir()
	if err := os.WriteFile(filepath.Join(outside, "secret"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	root, err := os.OpenRoot(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer root.Close()
	long := strings.Repeat("d", 200)
	want := []string{"."}
	rel := "."
	for i := range 25 { // 25 × 201 bytes: past PATH_MAX
		rel = path.Join(rel, long)
		if err := root.Mkdir(rel, 0o755); err != nil {
			t.Fatal(err)
		}
		want = append(want, rel)
		if i%10 == 0 {
			f := path.Join(rel, "f")
			if err := root.WriteFile(f, []byte("data"), 0o644); err != nil {
				t.Fatal(err)
			}
			want = append(want, f)
		}
	}
	if err := root.Symlink(outside, "out"); err != nil {
		t.Fatal(err)
	}
	if err := root.Symlink(path.Join(outside, "secret"), "secret"); err != nil {
		t.Fatal(err)
	}
	if len(dir)+len(rel) <= 4096 {
		t.Fatalf("deepest path is %d bytes, want more than 4096", len(dir)+len(rel))
	}

	saved := fsync.Sync
	t.Cleanup(func() { fsync.Sync = saved })
	var flushed []string
	fsync.Sync = func(f *os.File) error {
		rel, err := filepath.Rel(dir, f.Name())
		if err != nil {
			t.Errorf("flushed %q, outside %q", f.Name(), dir)
		}
		flushed = append(flushed, filepath.ToSlash(rel))
		return nil
	}
	if err := fsync.FlushEach(root); err != nil {
		t.Fatalf("FlushEach: %v", err)
	}
	slices.Sort(flushed)
	slices.Sort(want)
	if !slices.Equal(flushed, want) {
		short := func(names []string) string { // the long names by depth
			return strings.ReplaceAll(strings.Join(names, " "), long, "d")
		}
		t.Errorf("flushed %s\nwant    %s", short(flushed), short(want))
	}

	fsync.Sync = func(f *os.File) error { return &os.PathError{Op: "sync", Path: f.Name(), Err: syscall.EIO} }
	if err := fsync.FlushEach(root); !errors.Is(err, syscall.EIO) {
		t.Errorf("FlushEach with flushes failing: %v, want EIO", err)
	}
}
