//go:build unix

package pipeline_test

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/sluice-backup/sluice/pipeline"
)

// backupTree stores a small directory (one file, one folder) on tg as a
// tar archive compressed with zstd and returns the object's name.
func backupTree(t *testing.T, reg *pipeline.Registry, tg *pipeline.Target) string {
	t.Helper()
	tree := t.TempDir()
	if err := os.WriteFile(filepath.Join(tree, "f"), []byte("file f"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(tree, "sub"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(tree, "sub", "g"), []byte("file g"), 0o644); err != nil {
		t.Fatal(err)
	}
	return backupPath(t, reg, tg, tree)
}

// backupPath stores the folder tree on tg as a tar archive compressed
// with zstd and returns the object's name.
func backupPath(t *testing.T, reg *pipeline.Registry, tg *pipeline.Target, tree string) string {
	t.Helper()
	src, err := pipeline.PathSource(tree, nil)
	if err != nil {
		t.Fatal(err)
	}
	st, err := reg.NewStage("zstd", nil)
	if err != nil {
		t.Fatal(err)
	}
	spec, _ := reg.Stage("zstd")
	b := &pipeline.Backup{Source: src, Stages: []pipeline.ChainStage{{Spec: spec, Stage: st}}, Targets: []*pipeline.Target{tg}, Name: "tree", ExpectedSize: -1}
	res, err := b.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return res.Object
}

func dirNames(t *testing.T, dir string) []string {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range entries {
		names = append(names, e.Name())
	}
	return names
}

func inode(t *testing.T, path string) (uint64, os.FileMode) {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Ino, st.Mode()
}

// TestRestoreIntoEmptyDirKeepsIt: an archive restored into an existing
// empty directory goes into that very directory (same inode, mode 0700
// kept), as it must for a mount point or a folder made for another user,
// and nothing is created beside it in its parent. A failed restore leaves
// it empty and unchanged.
func TestRestoreIntoEmptyDirKeepsIt(t *testing.T) {
	reg := testRegistry()
	tg, dir := fileTarget(t, reg)
	name := backupTree(t, reg, tg)
	if err := os.WriteFile(filepath.Join(dir, "bad.tar"), []byte("not a tar archive"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := &pipeline.Decoder{Registry: reg}
	for _, tc := range []struct {
		object string
		ok     bool
	}{{name, true}, {"bad.tar", false}} {
		t.Run(tc.object, func(t *testing.T) {
			parent := t.TempDir()
			dest := filepath.Join(parent, "priv")
			if err := os.Mkdir(dest, 0o700); err != nil {
				t.Fatal(err)
			}
			ino, mode := inode(t, dest)
			_, err := d.RestoreTo(t.Context(), tg, tc.object, dest, nil)
			if tc.ok != (err == nil) {
				t.Fatalf("restore: %v", err)
			}
			if got := dirNames(t, parent); !slices.Equal(got, []string{"priv"}) {
				t.Errorf("parent holds %q after the restore, want only priv", got)
			}
			if gotIno, gotMode := inode(t, dest); gotIno != ino || gotMode != mode {
				t.Errorf("destination is inode %d mode %v after the restore, was inode %d mode %v", gotIno, gotMode, ino, mode)
			}
			want := []string{"f", "sub"}
			if !tc.ok {
				want = nil
			}
			if got := dirNames(t, dest); !slices.Equal(got, want) {
				t.Fatalf("destination holds %q, want %q", got, want)
			}
			if tc.ok {
				if b, err := os.ReadFile(filepath.Join(dest, "sub", "g")); err != nil || string(b) != "file g" {
					t.Errorf("sub/g = %q, %v", b, err)
				}
			}
		})
	}
}

// TestRestoreDestinations: what each kind of destination gets, and that
// a destination no object fits is refused before the object is opened.
func TestRestoreDestinations(t *testing.T) {
	reg := testRegistry()
	tg, _ := fileTarget(t, reg)
	tree := backupTree(t, reg, tg)
	data := []byte("select 1;\n")
	dump := backupTo(t, reg, tg, "dump.sql.gz", "", data, "zstd")
	plain := backupTo(t, reg, tg, "arch.tar", "", data)
	opened := false
	d := &pipeline.Decoder{Registry: reg, Opened: func(*pipeline.Decoded) { opened = true }}
	restore := func(name, dest string) (string, error) {
		t.Helper()
		opened = false
		return d.RestoreTo(t.Context(), tg, name, dest, nil)
	}
	readBack := func(path string) {
		t.Helper()
		if b, err := os.ReadFile(path); err != nil || !bytes.Equal(b, data) {
			t.Errorf("%s = %q, %v; want %q", path, b, err, data)
		}
	}

	// Into an existing directory, only the extensions of decoded stages go.
	base := t.TempDir()
	for _, name := range []string{dump, plain} {
		out, err := restore(name, base)
		if err != nil {
			t.Fatal(err)
		}
		readBack(out)
	}
	if got := dirNames(t, base); !slices.Equal(got, []string{"arch.tar", "dump.sql.gz"}) {
		t.Errorf("restored into a directory as %q, want arch.tar and dump.sql.gz", got)
	}

	// A trailing slash names a directory, made with its parents.
	base = t.TempDir()
	out, err := restore(dump, filepath.Join(base, "a", "nd")+"/")
	if err != nil {
		t.Fatal(err)
	}
	if want := filepath.Join(base, "a", "nd", "dump.sql.gz"); out != want {
		t.Errorf("restored to %s, want %s", out, want)
	}
	readBack(out)
	if _, err := restore(tree, filepath.Join(base, "b", "td")+"/"); err != nil {
		t.Fatal(err)
	}
	if got := dirNames(t, filepath.Join(base, "b", "td")); !slices.Equal(got, []string{"f", "sub"}) {
		t.Errorf("archive restored to td/ holds %q", got)
	}

	// Refused before the object is opened.
	file := filepath.Join(base, "file")
	if err := os.WriteFile(file, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for dest, want := range map[string]string{file + "/": "not a directory", file: "never overwrites"} {
		_, err := restore(dump, dest)
		if err == nil || !strings.Contains(err.Error(), want) || strings.Contains(err.Error(), "remove") {
			t.Errorf("restore to %s: %v, want an error saying %q", dest, err, want)
		}
		if opened {
			t.Errorf("restore to %s opened the object before refusing", dest)
		}
	}

	// A character device or a FIFO is written to as a stream.
	if _, err := restore(tree, os.DevNull); err != nil {
		t.Errorf("restore to %s: %v", os.DevNull, err)
	}
	fifo := filepath.Join(base, "fifo")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	got := make(chan []byte)
	go func() {
		f, err := os.Open(fifo)
		if err != nil {
			got <- nil
			return
		}
		defer f.Close()
		b, _ := io.ReadAll(f)
		got <- b
	}()
	if _, err := restore(dump, fifo); err != nil {
		t.Fatal(err)
	}
	if b := <-got; !bytes.Equal(b, data) {
		t.Errorf("FIFO read %q, want %q", b, data)
	}
}

// TestRestoreNamesLeftovers: a destination whose only entries are
// temporary folders of interrupted restores into it (hidden, so ls shows
// nothing) is refused with an error that names them and says where they
// come from; one that also holds other entries (a restore killed while
// moving its entries up) with an error that says it holds a partial
// restore; without leftovers, the usual error.
func TestRestoreNamesLeftovers(t *testing.T) {
	reg := testRegistry()
	tg, _ := fileTarget(t, reg)
	name := backupTree(t, reg, tg)
	d := &pipeline.Decoder{Registry: reg}
	dest := t.TempDir()
	for _, left := range []string{".sluice-tmp-123", ".sluice-tmp-456"} {
		if err := os.Mkdir(filepath.Join(dest, left), 0o700); err != nil {
			t.Fatal(err)
		}
	}
	_, err := d.RestoreTo(t.Context(), tg, name, dest, nil)
	if err == nil || !strings.Contains(err.Error(), ".sluice-tmp-123, .sluice-tmp-456") || !strings.Contains(err.Error(), "interrupted restore") || !strings.Contains(err.Error(), "remove them") {
		t.Errorf("restore into a folder holding only leftovers: %v; want an error naming them", err)
	}
	if err := os.WriteFile(filepath.Join(dest, "f"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	_, err = d.RestoreTo(t.Context(), tg, name, dest, nil)
	if err == nil || !strings.Contains(err.Error(), ".sluice-tmp-123, .sluice-tmp-456") || !strings.Contains(err.Error(), "partial restore") || !strings.Contains(err.Error(), "empty "+dest) {
		t.Errorf("restore into a folder holding leftovers and a file: %v; want an error naming them and the partial restore", err)
	}
	for _, left := range []string{".sluice-tmp-123", ".sluice-tmp-456"} {
		if err := os.Remove(filepath.Join(dest, left)); err != nil {
			t.Fatal(err)
		}
	}
	_, err = d.RestoreTo(t.Context(), tg, name, dest, nil)
	if err == nil || !strings.Contains(err.Error(), "exists and is not empty") || strings.Contains(err.Error(), "interrupted") {
		t.Errorf("restore into a folder holding a file: %v; want \"exists and is not empty\"", err)
	}
}

// TestRestoreArchiveIntoSymlinkWithSlash: "link/", a symlink to an empty
// directory with a trailing separator, is that directory, as for a single
// stream; "link" without one is a symlink, which an archive does not
// replace or follow.
func TestRestoreArchiveIntoSymlinkWithSlash(t *testing.T) {
	reg := testRegistry()
	tg, _ := fileTarget(t, reg)
	name := backupTree(t, reg, tg)
	d := &pipeline.Decoder{Registry: reg}
	base := t.TempDir()
	target := filepath.Join(base, "target")
	if err := os.Mkdir(target, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(base, "link")
	if err := os.Symlink("target", link); err != nil {
		t.Fatal(err)
	}
	if _, err := d.RestoreTo(t.Context(), tg, name, link, nil); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("restore into %s: %v; want \"not a directory\"", link, err)
	}
	if _, err := d.RestoreTo(t.Context(), tg, name, link+"/", nil); err != nil {
		t.Fatalf("restore into %s/: %v", link, err)
	}
	if got := dirNames(t, target); !slices.Equal(got, []string{"f", "sub"}) {
		t.Errorf("symlinked directory holds %q, want f, sub", got)
	}
	if st, err := os.Lstat(link); err != nil || st.Mode()&os.ModeSymlink == 0 {
		t.Errorf("%s is no longer a symlink: %v", link, err)
	}
}

// TestRestoreIntoDanglingLinkWithSlash: "link/", a symlink to a folder
// that does not exist, is refused before the object is opened, saying
// so, for an archive and for a single stream; nothing is made.
func TestRestoreIntoDanglingLinkWithSlash(t *testing.T) {
	reg := testRegistry()
	tg, _ := fileTarget(t, reg)
	tree := backupTree(t, reg, tg)
	dump := backupTo(t, reg, tg, "dump.sql", "", []byte("select 1;\n"), "zstd")
	opened := false
	d := &pipeline.Decoder{Registry: reg, Opened: func(*pipeline.Decoded) { opened = true }}
	base := t.TempDir()
	link := filepath.Join(base, "dangling")
	if err := os.Symlink("missing", link); err != nil {
		t.Fatal(err)
	}
	for _, name := range []string{tree, dump} {
		opened = false
		_, err := d.RestoreTo(t.Context(), tg, name, link+"/", nil)
		if err == nil || !strings.Contains(err.Error(), "is a symlink to a folder that does not exist") {
			t.Errorf("restore %s into %s/: %v; want it refused as a symlink to a missing folder", name, link, err)
		}
		if opened {
			t.Errorf("restore %s into %s/ opened the object before refusing", name, link)
		}
		if got := dirNames(t, base); !slices.Equal(got, []string{"dangling"}) {
			t.Errorf("after the restore %s holds %q, want only the link", base, got)
		}
	}
}
