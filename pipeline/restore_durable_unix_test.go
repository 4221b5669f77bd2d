//go:build unix

package pipeline_test

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-backup/sluice/pipeline"
	"github.com/sluice-backup/sluice/pipeline/fsync"
	"github.com/sluice-backup/sluice/pipeline/stagetest"
)

// flushLog records what a restore flushes, in order: "tree X" for a
// whole tree (fsync.SyncFS), "sync X" for one file or folder ("sync,
// holding TMP, X" for a folder that still holds a temporary name), X
// relative to base, with a temporary name shown as TMP. failOn makes the
// flush whose entry it equals fail.
type flushLog struct {
	base   string
	dest   string
	events []string
	failOn string
	// seen holds, for each "tree" event, whether dest existed then and
	// the names under the tree being flushed.
	seen []string
}

var errFlush = errors.New("injected flush failure")

func newFlushLog(t *testing.T, base, dest string) *flushLog {
	t.Helper()
	l := &flushLog{base: base, dest: dest}
	savedSync, savedFS := fsync.Sync, fsync.SyncFS
	t.Cleanup(func() { fsync.Sync, fsync.SyncFS = savedSync, savedFS })
	fsync.Sync = func(f *os.File) error {
		// A folder flushed while it still holds a temporary name would
		// bring that name back after a crash.
		op := "sync"
		if entries, err := os.ReadDir(f.Name()); err == nil {
			for _, e := range entries {
				if strings.Contains(e.Name(), "sluice-tmp-") {
					op = "sync, holding TMP,"
				}
			}
		}
		return l.record(op, f.Name())
	}
	fsync.SyncFS = func(dir *os.Root) error {
		_, err := os.Lstat(l.dest)
		var names []string
		filepath.WalkDir(dir.Name(), func(p string, d os.DirEntry, err error) error {
			if err == nil && p != dir.Name() {
				rel, _ := filepath.Rel(dir.Name(), p)
				names = append(names, rel)
			}
			return nil
		})
		l.seen = append(l.seen, "dest exists: "+map[bool]string{true: "yes", false: "no"}[err == nil]+"; holds "+strings.Join(names, " "))
		return l.record("tree", dir.Name())
	}
	return l
}

func (l *flushLog) record(op, path string) error {
	rel, err := filepath.Rel(l.base, path)
	if err != nil {
		rel = path
	}
	parts := strings.Split(rel, string(filepath.Separator))
	for i, p := range parts {
		if strings.Contains(p, "sluice-tmp-") {
			parts[i] = "TMP"
		}
	}
	e := op + " " + strings.Join(parts, "/")
	l.events = append(l.events, e)
	if e == l.failOn {
		return errFlush
	}
	return nil
}

// restoreFixture stores a small tree and a zstd stream on a file://
// target and returns them with a decoder for restoring them.
func restoreFixture(t *testing.T) (tg *pipeline.Target, tree, stream string, d *pipeline.Decoder) {
	t.Helper()
	reg := testRegistry()
	tg, _ = fileTarget(t, reg)
	tree = backupTree(t, reg, tg)
	stream = backupTo(t, reg, tg, "data", "", stagetest.Data(100<<10, 9), "zstd")
	return tg, tree, stream, &pipeline.Decoder{Registry: reg}
}

// assertNothingRestored fails the test, saying when, unless a restore to
// dest in base left nothing: dest empty if it existed before (existing),
// else base empty.
func assertNothingRestored(t *testing.T, when, base, dest string, existing bool) {
	t.Helper()
	if existing {
		if names := dirNames(t, dest); len(names) > 0 {
			t.Errorf("%s: destination holds %q, want it empty", when, names)
		}
	} else if names := dirNames(t, base); len(names) > 0 {
		t.Errorf("%s: %q left where the restore went, want nothing", when, names)
	}
}

// TestRestoreIsDurable: a restore flushes what it wrote before it makes
// it appear at the destination, and the names that lead to it after, so
// that a restore that reported success survives a crash of the machine.
// A failed flush fails the restore and leaves nothing at the destination.
func TestRestoreIsDurable(t *testing.T) {
	tg, tree, stream, d := restoreFixture(t)
	for _, c := range []struct {
		name, object, dest string
		existing           bool // dest exists, empty
		want               []string
		seen               []string
	}{
		{
			name: "archive into a new folder", object: tree, dest: "a/b/out",
			want: []string{"tree a/b/TMP", "sync a/b", "sync a", "sync ."},
			seen: []string{"dest exists: no; holds f sub sub/g"},
		},
		{
			name: "archive into an empty folder", object: tree, dest: "out", existing: true,
			want: []string{"tree out/TMP", "sync out"},
			seen: []string{"dest exists: yes; holds f sub sub/g"},
		},
		{
			name: "stream into a new file", object: stream, dest: "a/out",
			want: []string{"sync a/TMP", "sync a", "sync ."},
		},
	} {
		t.Run(c.name, func(t *testing.T) {
			for i := -1; i < len(c.want); i++ {
				base := t.TempDir()
				dest := filepath.Join(base, c.dest)
				if c.existing {
					if err := os.Mkdir(dest, 0o755); err != nil {
						t.Fatal(err)
					}
				}
				l := newFlushLog(t, base, dest)
				if i >= 0 {
					l.failOn = c.want[i]
				}
				_, err := d.RestoreTo(t.Context(), tg, c.object, dest, nil)
				if i < 0 {
					if err != nil {
						t.Fatalf("restore: %v", err)
					}
					if !slices.Equal(l.events, c.want) {
						t.Errorf("flushed %q, want %q", l.events, c.want)
					}
					if !slices.Equal(l.seen, c.seen) {
						t.Errorf("when the tree was flushed: %q, want %q", l.seen, c.seen)
					}
					continue
				}
				if !errors.Is(err, errFlush) {
					t.Fatalf("%s failing: restore returned %v, want the flush's error", l.failOn, err)
				}
				assertNothingRestored(t, l.failOn+" failing", base, dest, c.existing)
			}
		})
	}
}

// TestRestoreInterruptedDuringFlush: an interrupt that comes while a
// restore flushes what it wrote (which can take long on a busy file
// system), or the folder its name went into, stops it with nothing left
// at the destination, as an interrupt does earlier.
func TestRestoreInterruptedDuringFlush(t *testing.T) {
	tg, tree, stream, d := restoreFixture(t)
	for _, c := range []struct {
		name, object string
		existing     bool
	}{
		{"archive into a new folder", tree, false},
		{"archive into an empty folder", tree, true},
		{"stream into a new file", stream, false},
	} {
		for _, when := range []string{"data", "name"} {
			t.Run(c.name+"/"+when, func(t *testing.T) {
				base := t.TempDir()
				dest := filepath.Join(base, "out")
				if c.existing {
					if err := os.Mkdir(dest, 0o755); err != nil {
						t.Fatal(err)
					}
				}
				// The folder whose flush makes the restore's name
				// durable.
				last := base
				if c.existing {
					last = dest
				}
				ctx, cancel := context.WithCancel(t.Context())
				defer cancel()
				savedSync, savedFS := fsync.Sync, fsync.SyncFS
				t.Cleanup(func() { fsync.Sync, fsync.SyncFS = savedSync, savedFS })
				fsync.SyncFS = func(*os.Root) error {
					if when == "data" {
						cancel()
					}
					return nil
				}
				fsync.Sync = func(f *os.File) error {
					if when == "data" && strings.Contains(f.Name(), "sluice-tmp-") || when == "name" && filepath.Clean(f.Name()) == last {
						cancel()
					}
					return nil
				}
				_, err := d.RestoreTo(ctx, tg, c.object, dest, nil)
				if !errors.Is(err, context.Canceled) {
					t.Fatalf("restore interrupted during its flush returned %v, want context.Canceled", err)
				}
				assertNothingRestored(t, "interrupted at the "+when, base, dest, c.existing)
			})
		}
	}
}
