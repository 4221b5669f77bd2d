//go:build unix

package pipeline_test

import (
	"archive/tar"
	"bytes"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-backup/sluice/backends"
	"github.com/sluice-backup/sluice/pipeline"
	"github.com/sluice-backup/sluice/pipeline/archive"
	"github.com/sluice-backup/sluice/pipeline/childtest"
)

// unlockAtCleanup makes the folders under dir writable again before
// t.TempDir's cleanup, which a user other than root needs to remove them.
// Call it after the TempDir call that made dir.
func unlockAtCleanup(t *testing.T, dir string) {
	t.Cleanup(func() {
		filepath.WalkDir(dir, func(path string, e fs.DirEntry, err error) error {
			if err == nil && e.IsDir() {
				os.Chmod(path, 0o755)
			}
			return nil
		})
	})
}

// readOnlyTree makes in dir a file f and a read-only folder mod (0555)
// holding a file and a read-only folder in (0500) with a file.
func readOnlyTree(t *testing.T, dir string) {
	t.Helper()
	for name, data := range map[string]string{"f": "file f", "mod/a.go": "package a", "mod/in/b.go": "package b"} {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	unlockAtCleanup(t, dir)
	if err := os.Chmod(filepath.Join(dir, "mod", "in"), 0o500); err != nil {
		t.Fatal(err)
	}
	if err := os.Chmod(filepath.Join(dir, "mod"), 0o555); err != nil {
		t.Fatal(err)
	}
}

// TestRestoreReadOnlyFolders: as a user other than root, an archive with
// read-only folders restores into a new directory and into an existing
// empty one, whose top-level read-only folder must move out of the
// temporary folder, with the folders' modes as archived. A restore that
// fails after extraction (the object does not match its manifest)
// leaves nothing behind, read-only folders included, and an empty
// destination stays empty, so a second attempt is not refused.
func TestRestoreReadOnlyFolders(t *testing.T) {
	if !childtest.AsNobody(t) {
		return
	}
	reg := testRegistry()
	tg, _ := fileTarget(t, reg)
	damagedTarget, damagedDir := fileTarget(t, reg)
	tree := t.TempDir()
	readOnlyTree(t, tree)
	good := backupPath(t, reg, tg, tree)
	damaged := backupPath(t, reg, damagedTarget, tree)
	setManifestField(t, damagedDir, damaged, "sha256", `"`+strings.Repeat("0", 64)+`"`)
	d := &pipeline.Decoder{Registry: reg}
	for _, tc := range []struct {
		name    string
		empty   bool
		damaged bool
	}{{"new", false, false}, {"empty", true, false}, {"new-damaged", false, true}, {"empty-damaged", true, true}} {
		t.Run(tc.name, func(t *testing.T) {
			parent := t.TempDir()
			unlockAtCleanup(t, parent)
			dest := filepath.Join(parent, "out")
			if tc.empty {
				if err := os.Mkdir(dest, 0o700); err != nil {
					t.Fatal(err)
				}
			}
			for attempt := range 2 {
				var err error
				if tc.damaged {
					_, err = d.RestoreTo(t.Context(), damagedTarget, damaged, dest, nil)
					if !errors.Is(err, pipeline.ErrIntegrity) {
						t.Fatalf("attempt %d: restore of a damaged object: %v, want ErrIntegrity", attempt+1, err)
					}
				} else if _, err = d.RestoreTo(t.Context(), tg, good, dest, nil); err != nil {
					t.Fatal(err)
				}
				wantParent := []string{"out"}
				if tc.damaged && !tc.empty {
					wantParent = nil
				}
				if got := dirNames(t, parent); !slices.Equal(got, wantParent) {
					t.Fatalf("attempt %d: parent holds %q, want %q", attempt+1, got, wantParent)
				}
				if tc.damaged {
					if tc.empty {
						if got := dirNames(t, dest); len(got) > 0 {
							t.Fatalf("attempt %d: failed restore left %q in the destination", attempt+1, got)
						}
					}
					continue
				}
				if got := dirNames(t, dest); !slices.Equal(got, []string{"f", "mod"}) {
					t.Fatalf("destination holds %q, want f, mod", got)
				}
				for name, want := range map[string]fs.FileMode{"mod": 0o555, "mod/in": 0o500} {
					if st, err := os.Stat(filepath.Join(dest, name)); err != nil || st.Mode() != fs.ModeDir|want {
						t.Errorf("%s: %v, %v; want mode %v", name, st.Mode(), err, fs.ModeDir|want)
					}
				}
				if b, err := os.ReadFile(filepath.Join(dest, "mod", "in", "b.go")); err != nil || string(b) != "package b" {
					t.Errorf("mod/in/b.go = %q, %v", b, err)
				}
				break
			}
		})
	}
}

// TestBackupIntoWriteOnlyFolder: a file:// target folder its user may
// write to but not read (a drop box) takes backups, although it cannot be
// opened to be flushed: the object and its manifest are flushed, the
// folder's names are left to the file system. Opened to be read, it is
// an error, not an empty folder.
func TestBackupIntoWriteOnlyFolder(t *testing.T) {
	if !childtest.AsNobody(t) {
		return
	}
	reg := testRegistry()
	drop := filepath.Join(t.TempDir(), "drop")
	if err := os.Mkdir(drop, 0o755); err != nil {
		t.Fatal(err)
	}
	unlockAtCleanup(t, filepath.Dir(drop))
	// Writable and searchable, not readable, by its owner too.
	if err := os.Chmod(drop, 0o333); err != nil {
		t.Fatal(err)
	}
	tg, err := backends.OpenTarget(t.Context(), reg, "file://"+drop, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	b := &pipeline.Backup{
		Source:  pipeline.StreamSource("stdin", strings.NewReader("into the drop box"), -1),
		Targets: []*pipeline.Target{tg}, Name: "dropped", ExpectedSize: -1,
	}
	if _, err := b.Run(t.Context()); err != nil {
		t.Fatalf("backup into a write-only folder: %v", err)
	}
	for _, name := range []string{"dropped", "dropped" + pipeline.ManifestSuffix} {
		if _, err := os.Stat(filepath.Join(drop, name)); err != nil {
			t.Errorf("%s not stored: %v", name, err)
		}
	}
	// Reading commands (list, verify, prune) say the folder cannot be
	// read, rather than find it empty.
	if _, err := backends.OpenExisting(t.Context(), reg, "file://"+drop, nil); err == nil || !strings.Contains(err.Error(), "cannot be read") {
		t.Errorf("opening the write-only folder to read it: %v, want it said that it cannot be read", err)
	}
}

// TestRestoreOwnersUnprivileged checks that a restore with Owners by a
// user who cannot give files away fails with an error matching
// archive.ErrOwner and fs.ErrPermission, naming the entry.
func TestRestoreOwnersUnprivileged(t *testing.T) {
	if !childtest.AsNobody(t) {
		return
	}
	ctx := t.Context()
	tg, err := backends.OpenTarget(ctx, pipeline.Default, "mem://owners/p", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	if err := tw.WriteHeader(&tar.Header{Typeflag: tar.TypeReg, Name: "f", Mode: 0o644, Uid: os.Getuid() + 1}); err != nil {
		t.Fatal(err)
	}
	tw.Close()
	if err := tg.Bucket.WriteAll(ctx, tg.Key("o.tar"), buf.Bytes(), nil); err != nil {
		t.Fatal(err)
	}
	d := &pipeline.Decoder{Extract: archive.ExtractOptions{Owners: true}}
	_, err = d.RestoreTo(ctx, tg, "o.tar", filepath.Join(t.TempDir(), "out"), nil)
	if !errors.Is(err, archive.ErrOwner) || !errors.Is(err, fs.ErrPermission) || !strings.Contains(err.Error(), `entry "f"`) {
		t.Fatalf("RestoreTo: %v, want ErrOwner and a permission error naming f", err)
	}
}
