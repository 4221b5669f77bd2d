package backends

import (
	"bytes"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"

	"github.com/sluice-backup/sluice/pipeline"
	"github.com/sluice-backup/sluice/pipeline/fsync"
)

// recordFsyncs replaces fsync.Sync for the test with one that records each
// path flushed, suffixed with " (temporary)" while the path still has its
// temporary name, and fails with failWith for paths ending in failOn.
func recordFsyncs(t *testing.T, failOn string, failWith error) *[]string {
	var synced []string
	saved := fsync.Sync
	t.Cleanup(func() { fsync.Sync = saved })
	fsync.Sync = func(f *os.File) error {
		name := f.Name()
		if strings.HasSuffix(name, ".tmp") {
			name = strings.TrimSuffix(name, filepath.Ext(strings.TrimSuffix(name, ".tmp"))+".tmp") + " (temporary)"
		}
		synced = append(synced, name)
		if failOn != "" && strings.HasSuffix(f.Name(), failOn) {
			return &os.PathError{Op: "sync", Path: f.Name(), Err: failWith}
		}
		return f.Sync()
	}
	return &synced
}

// backUpTo stores a small stream as name in the folder target url and
// returns the backup's error.
func backUpTo(t *testing.T, url, name string) error {
	tg, err := OpenTarget(t.Context(), newRegistry(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	b := &pipeline.Backup{
		Source:  pipeline.StreamSource("stdin", bytes.NewReader([]byte("precious")), -1),
		Targets: []*pipeline.Target{tg}, Name: name, ExpectedSize: -1,
	}
	_, err = b.Run(t.Context())
	return err
}

// TestFileTargetIsDurable backs up into a folder that does not exist yet
// under a name with folders in it, and checks what is fsynced, in order:
// the folders the target's creation added, then for the object and its
// manifest alike the file under its temporary name (before the rename
// that makes it visible) and every folder from its own up to the
// target's.
func TestFileTargetIsDurable(t *testing.T) {
	base := t.TempDir()
	root := filepath.Join(base, "new", "backups")
	synced := recordFsyncs(t, "", nil)
	if err := backUpTo(t, "file://"+root, "host/day/obj"); err != nil {
		t.Fatal(err)
	}
	obj := filepath.Join(root, "host", "day", "obj")
	folders := []string{filepath.Join(root, "host", "day"), filepath.Join(root, "host"), root}
	want := []string{filepath.Join(base, "new"), base, obj + " (temporary)"}
	want = append(want, folders...)
	want = append(want, obj+pipeline.ManifestSuffix+" (temporary)")
	want = append(want, folders...)
	if !slices.Equal(*synced, want) {
		t.Errorf("fsynced:\n%s\nwant:\n%s", strings.Join(*synced, "\n"), strings.Join(want, "\n"))
	}
}

// TestFileTargetFsyncFails: a file system that reports an I/O error on
// fsync fails the target, which then holds nothing; one that cannot fsync
// at all (EINVAL, as some network and FUSE file systems answer) is
// written to as it is.
func TestFileTargetFsyncFails(t *testing.T) {
	for _, tc := range []struct {
		name   string
		failOn string
		err    error
		stored bool
	}{
		{name: "object EIO", failOn: ".tmp", err: syscall.EIO},
		{name: "folder EIO", failOn: "target", err: syscall.EIO},
		{name: "object EINVAL", failOn: ".tmp", err: syscall.EINVAL, stored: true},
		{name: "folder ENOTSUP", failOn: "target", err: syscall.ENOTSUP, stored: true},
	} {
		t.Run(tc.name, func(t *testing.T) {
			root := filepath.Join(t.TempDir(), "target")
			if err := os.Mkdir(root, 0o755); err != nil {
				t.Fatal(err)
			}
			recordFsyncs(t, tc.failOn, tc.err)
			err := backUpTo(t, "file://"+root, "obj")
			ents, rerr := os.ReadDir(root)
			if rerr != nil {
				t.Fatal(rerr)
			}
			var left []string
			for _, e := range ents {
				left = append(left, e.Name())
			}
			if tc.stored {
				if err != nil || len(left) != 2 {
					t.Fatalf("err = %v, folder holds %q; want the object and its manifest", err, left)
				}
				return
			}
			if !errors.Is(err, tc.err) {
				t.Fatalf("err = %v, want %v", err, tc.err)
			}
			if len(left) != 0 {
				t.Fatalf("folder holds %q after a failed fsync", left)
			}
		})
	}
}

// TestFileTargetStartsWritebackEarly: while an object is written, its
// bytes are sent on their way to the disk in ranges of about
// writebackEvery that follow each other from the start, so the flush at
// the end waits for the rest only.
func TestFileTargetStartsWritebackEarly(t *testing.T) {
	var ranges [][2]int64
	saved := fsync.StartWriteback
	t.Cleanup(func() { fsync.StartWriteback = saved })
	fsync.StartWriteback = func(f *os.File, off, n int64) {
		if !strings.HasSuffix(f.Name(), ".tmp") {
			t.Errorf("writeback of %s, want the temporary file", f.Name())
		}
		ranges = append(ranges, [2]int64{off, n})
	}
	root := t.TempDir()
	tg, err := OpenTarget(t.Context(), newRegistry(), "file://"+root, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	const size = 3*writebackEvery + 12345
	b := &pipeline.Backup{
		Source:  pipeline.StreamSource("stdin", bytes.NewReader(make([]byte, size)), -1),
		Targets: []*pipeline.Target{tg}, Name: "big", ExpectedSize: -1,
	}
	if _, err := b.Run(t.Context()); err != nil {
		t.Fatal(err)
	}
	var next int64
	for _, r := range ranges {
		if r[0] != next || r[1] < writebackEvery {
			t.Fatalf("writeback ranges %v: want consecutive ranges of at least %d from 0", ranges, writebackEvery)
		}
		next += r[1]
	}
	if len(ranges) != 3 || next > size {
		t.Errorf("writeback ranges %v of a %d-byte object: want 3, the rest left to the flush", ranges, size)
	}
}
