//go:build unix

package pipeline_test

import (
	"io/fs"
	"maps"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-backup/sluice/pipeline"
	"github.com/sluice-backup/sluice/pipeline/childtest"
)

// outsideTree makes a folder standing for /etc, out of the restore's
// way: a readable file and a private one.
func outsideTree(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "passwd"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "shadow"), []byte("y"), 0o600); err != nil {
		t.Fatal(err)
	}
	return dir
}

// snapshot lists what dir holds, each name with its mode.
func snapshot(t *testing.T, dir string) map[string]fs.FileMode {
	t.Helper()
	m := map[string]fs.FileMode{".": 0}
	if st, err := os.Lstat(dir); err == nil {
		m["."] = st.Mode()
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		st, err := e.Info()
		if err != nil {
			t.Fatal(err)
		}
		m[e.Name()] = st.Mode()
	}
	return m
}

// swapTemp does what another user who can write the folder holding the
// restore's temporary folder could: renames it away (to "moved" beside
// it) and puts plant in its place.
func swapTemp(t *testing.T, tmp string, plant func(tmp string) error) {
	t.Helper()
	if err := os.Rename(tmp, filepath.Join(filepath.Dir(tmp), "moved")); err != nil {
		t.Fatal(err)
	}
	if err := plant(tmp); err != nil {
		t.Fatal(err)
	}
}

// assertLeftAlone fails the test unless the folder outside holds what
// it did before, home (the folder that held the temporary folder) holds
// just want, and the temporary folder renamed away to home/moved, if
// there, is empty.
func assertLeftAlone(t *testing.T, outside string, before map[string]fs.FileMode, home string, want []string) {
	t.Helper()
	if after := snapshot(t, outside); !maps.Equal(after, before) {
		t.Errorf("the folder outside changed: %v, was %v", after, before)
	}
	want = slices.Sorted(slices.Values(want))
	if got := dirNames(t, home); !slices.Equal(got, want) {
		t.Errorf("%s holds %q, want %q", home, got, want)
	}
	if slices.Contains(want, "moved") {
		if got := dirNames(t, filepath.Join(home, "moved")); len(got) > 0 {
			t.Errorf("the temporary folder renamed away still holds %q", got)
		}
	}
}

func symlinkTo(target string) func(string) error {
	return func(tmp string) error { return os.Symlink(target, tmp) }
}

func mkdirPrivate(tmp string) error { return os.Mkdir(tmp, 0o700) }

// TestRestoreTempFolderSwapped: a restore whose temporary folder another
// user renames away and replaces (a symlink to a file or folder outside,
// a folder of theirs) at any step never touches what the replacement
// leads to, nor the replacement itself: it fails saying the temporary
// folder was replaced and nothing restored, and leaves nothing of its
// tree (the folder renamed away is left empty where it was put). It
// holds for a new destination in a folder the other user can write, and
// for their existing empty folder, and for the entries moved back into
// it when moving them up fails. A replacement made by this process's
// own user is told by its identity, not its owner.
func TestRestoreTempFolderSwapped(t *testing.T) {
	reg := testRegistry()
	tg, _ := fileTarget(t, reg)
	tree := backupTree(t, reg, tg) // f, sub/, sub/g
	d := &pipeline.Decoder{Registry: reg}
	for _, c := range []struct {
		name     string
		existing bool   // dest exists, empty
		step     string // when the swap happens
		plant    func(outside string) func(string) error
		// where the plant ends, if not under the temporary name (the
		// rename to a new destination moves it there), and other names
		// the folder that held the temporary folder holds after, besides
		// "moved" (left empty)
		plantAt string
		theirs  []string
	}{
		{name: "new: symlink to a file, before opening", step: "made",
			plant: func(o string) func(string) error { return symlinkTo(filepath.Join(o, "shadow")) }},
		{name: "new: symlink to a file, after extraction", step: "extracted",
			plant: func(o string) func(string) error { return symlinkTo(filepath.Join(o, "shadow")) }, plantAt: "restored"},
		{name: "new: symlink to a folder, before the rename", step: "renaming",
			plant: func(o string) func(string) error { return symlinkTo(o) }, plantAt: "restored"},
		{name: "new: a folder of the same user, before the rename", step: "renaming",
			plant: func(string) func(string) error { return mkdirPrivate }, plantAt: "restored"},
		{name: "existing: symlink to a folder, before opening", existing: true, step: "made",
			plant: func(o string) func(string) error { return symlinkTo(o) }},
		{name: "existing: symlink to a folder, after extraction", existing: true, step: "extracted",
			plant: func(o string) func(string) error { return symlinkTo(o) }},
		{name: "existing: symlink to a folder of the same user inside, before opening", existing: true, step: "made",
			plant: func(string) func(string) error {
				return func(tmp string) error {
					if err := os.Mkdir(filepath.Join(filepath.Dir(tmp), "mine"), 0o700); err != nil {
						return err
					}
					return os.Symlink("mine", tmp)
				}
			}, theirs: []string{"mine"}},
		{name: "existing: symlink to a folder while moving up", existing: true, step: "moved",
			plant: func(o string) func(string) error { return symlinkTo(o) }},
	} {
		t.Run(c.name, func(t *testing.T) {
			outside := outsideTree(t)
			before := snapshot(t, outside)
			base := t.TempDir()
			home := filepath.Join(base, "home")
			if err := os.Mkdir(home, 0o755); err != nil {
				t.Fatal(err)
			}
			dest := filepath.Join(home, "restored")
			if c.existing {
				dest = home
			}
			var tmpName string
			pipeline.SetTempHook(t, func(step, tmp string) {
				if step == c.step && tmpName == "" {
					tmpName = filepath.Base(tmp)
					swapTemp(t, tmp, c.plant(outside))
				}
			})
			_, err := d.RestoreTo(t.Context(), tg, tree, dest, nil)
			if err == nil || !strings.Contains(err.Error(), "temporary folder "+filepath.Join(home, tmpName)+" was replaced during the restore by another user; nothing restored") {
				t.Errorf("restore: %v; want it to say its temporary folder was replaced", err)
			}
			plantAt := c.plantAt
			if plantAt == "" {
				plantAt = tmpName
			}
			assertLeftAlone(t, outside, before, home, append([]string{"moved", plantAt}, c.theirs...))
		})
	}
}

// TestRestoreUndoLeavesOthersAlone: when moving the restored entries up
// into an existing folder fails (an entry appeared there), they are moved
// back into the temporary folder through its descriptor, whatever its
// name leads to by then (here a folder outside), and an entry the
// folder's owner put in place of one of ours is left to them.
func TestRestoreUndoLeavesOthersAlone(t *testing.T) {
	reg := testRegistry()
	tg, _ := fileTarget(t, reg)
	tree := backupTree(t, reg, tg) // f, sub/, sub/g
	d := &pipeline.Decoder{Registry: reg}
	for _, replaceMoved := range []bool{false, true} {
		t.Run(map[bool]string{false: "temporary folder swapped", true: "moved entry replaced too"}[replaceMoved], func(t *testing.T) {
			outside := outsideTree(t)
			before := snapshot(t, outside)
			dest := filepath.Join(t.TempDir(), "home")
			if err := os.Mkdir(dest, 0o755); err != nil {
				t.Fatal(err)
			}
			var tmpName, movedName, planted string
			pipeline.SetTempHook(t, func(step, tmp string) {
				if step != "moved" || tmpName != "" {
					return
				}
				tmpName = filepath.Base(tmp)
				swapTemp(t, tmp, symlinkTo(outside))
				// The entry not moved yet is made to collide.
				for _, n := range []string{"f", "sub"} {
					if _, err := os.Lstat(filepath.Join(dest, n)); err == nil {
						movedName = n
					} else if err := os.WriteFile(filepath.Join(dest, n), []byte("theirs"), 0o644); err != nil {
						t.Fatal(err)
					} else {
						planted = n
					}
				}
				if replaceMoved {
					if err := os.Rename(filepath.Join(dest, movedName), filepath.Join(dest, "taken")); err != nil {
						t.Fatal(err)
					}
					if err := os.Symlink(filepath.Join(outside, "shadow"), filepath.Join(dest, movedName)); err != nil {
						t.Fatal(err)
					}
				}
			})
			_, err := d.RestoreTo(t.Context(), tg, tree, dest, nil)
			if err == nil || !strings.Contains(err.Error(), "appeared during the restore") {
				t.Errorf("restore: %v; want it to say an entry appeared", err)
			}
			want := []string{"moved", tmpName, planted}
			if replaceMoved {
				want = append(want, movedName, "taken")
			}
			assertLeftAlone(t, outside, before, dest, want)
			if replaceMoved {
				if st, err := os.Lstat(filepath.Join(dest, movedName)); err != nil || st.Mode()&fs.ModeSymlink == 0 {
					t.Errorf("their symlink at %s was not left alone: %v", movedName, err)
				}
			}
		})
	}
}

// TestRestoreUndoReadOnlyFolder: as a user other than root, a read-only
// folder the archive made, moved up into an existing folder, is moved
// back and removed with the rest when the restore fails after it moved
// (here: the temporary folder was swapped), made writable for that
// through a descriptor checked to be that folder.
func TestRestoreUndoReadOnlyFolder(t *testing.T) {
	if !childtest.AsNobody(t) {
		return
	}
	reg := testRegistry()
	tg, _ := fileTarget(t, reg)
	tree := t.TempDir()
	readOnlyTree(t, tree) // f, mod/ (0555), mod/in/ (0500), mod/in/b.go
	name := backupPath(t, reg, tg, tree)
	d := &pipeline.Decoder{Registry: reg}
	outside := outsideTree(t)
	before := snapshot(t, outside)
	parent := t.TempDir()
	unlockAtCleanup(t, parent)
	dest := filepath.Join(parent, "out")
	if err := os.Mkdir(dest, 0o700); err != nil {
		t.Fatal(err)
	}
	var tmpName string
	pipeline.SetTempHook(t, func(step, tmp string) {
		if step != "moved" || tmpName != "" {
			return
		}
		if _, err := os.Lstat(filepath.Join(dest, "mod")); err == nil {
			tmpName = filepath.Base(tmp)
			swapTemp(t, tmp, symlinkTo(outside))
		}
	})
	_, err := d.RestoreTo(t.Context(), tg, name, dest, nil)
	if tmpName == "" {
		t.Fatalf("mod was never moved up (restore: %v)", err)
	}
	if err == nil || !strings.Contains(err.Error(), "was replaced during the restore by another user; nothing restored") {
		t.Errorf("restore: %v; want it to say its temporary folder was replaced", err)
	}
	assertLeftAlone(t, outside, before, dest, []string{"moved", tmpName})
}

// TestRestoreTempFileSwapped: a single stream restored into a folder
// another user can write, whose temporary file they rename away and
// replace with a symlink before it is linked to the destination, fails
// saying so rather than report their symlink restored, and changes
// nothing outside.
func TestRestoreTempFileSwapped(t *testing.T) {
	reg := testRegistry()
	tg, _ := fileTarget(t, reg)
	stream := backupTo(t, reg, tg, "dump.sql", "", []byte("select 1;\n"), "zstd")
	d := &pipeline.Decoder{Registry: reg}
	outside := outsideTree(t)
	before := snapshot(t, outside)
	home := t.TempDir()
	var tmpName string
	pipeline.SetTempHook(t, func(step, tmp string) {
		if step == "renaming" && tmpName == "" {
			tmpName = filepath.Base(tmp)
			swapTemp(t, tmp, symlinkTo(filepath.Join(outside, "shadow")))
		}
	})
	_, err := d.RestoreTo(t.Context(), tg, stream, filepath.Join(home, "out"), nil)
	if err == nil || !strings.Contains(err.Error(), "temporary file "+filepath.Join(home, tmpName)+" was replaced during the restore by another user; nothing restored") {
		t.Errorf("restore: %v; want it to say its temporary file was replaced", err)
	}
	// Their symlink, and the link to it the restore made at out, stay;
	// so does the file they renamed away (not a folder, not emptied).
	if after := snapshot(t, outside); !maps.Equal(after, before) {
		t.Errorf("the folder outside changed: %v, was %v", after, before)
	}
	want := slices.Sorted(slices.Values([]string{"moved", "out", tmpName}))
	if got := dirNames(t, home); !slices.Equal(got, want) {
		t.Errorf("%s holds %q, want %q", home, got, want)
	}
}

// TestRestoreTempFolderOwnerCheck: the temporary folder's owner and mode
// are checked only where another user could have put a folder of theirs
// under its name: in a folder they may write to (here mode 0777, not
// sticky) a folder that is not private fails the restore, saying what it
// is; in a folder only this user may write to, a temporary folder whose
// mode the file system makes up (as FAT shows 0755 for every folder)
// restores.
func TestRestoreTempFolderOwnerCheck(t *testing.T) {
	reg := testRegistry()
	tg, _ := fileTarget(t, reg)
	tree := backupTree(t, reg, tg)
	d := &pipeline.Decoder{Registry: reg}
	for _, c := range []struct {
		name     string
		homeMode fs.FileMode
		fail     bool
	}{
		{"shared folder", 0o777, true},
		{"own folder", 0o755, false},
	} {
		t.Run(c.name, func(t *testing.T) {
			home := filepath.Join(t.TempDir(), "home")
			if err := os.Mkdir(home, 0o700); err != nil {
				t.Fatal(err)
			}
			if err := os.Chmod(home, c.homeMode); err != nil {
				t.Fatal(err)
			}
			pipeline.SetTempHook(t, func(step, tmp string) {
				if step == "made" {
					// Not private: another user's folder put in its
					// place, or modes the file system makes up.
					if err := os.Chmod(tmp, 0o755); err != nil {
						t.Fatal(err)
					}
				}
			})
			dest := filepath.Join(home, "restored")
			_, err := d.RestoreTo(t.Context(), tg, tree, dest, nil)
			if !c.fail {
				if err != nil {
					t.Fatalf("restore: %v", err)
				}
				if got := dirNames(t, dest); !slices.Equal(got, []string{"f", "sub"}) {
					t.Errorf("restored %q, want f and sub", got)
				}
				return
			}
			if err == nil || !strings.Contains(err.Error(), "mode 0755, not a private folder of this user's: another user replaced it, or the file system does not keep owners and modes") {
				t.Errorf("restore: %v; want it to say the temporary folder is not private", err)
			}
			if _, err := os.Lstat(dest); err == nil {
				t.Error("something was restored")
			}
		})
	}
}

// TestRestoreLongDestinationName: a destination whose name takes all
// 255 bytes a name may have restores, an archive and a single stream
// alike: the temporary name beside it is cut to fit, not refused as too
// long.
func TestRestoreLongDestinationName(t *testing.T) {
	reg := testRegistry()
	tg, _ := fileTarget(t, reg)
	tree := backupTree(t, reg, tg)
	stream := backupTo(t, reg, tg, "dump.sql", "", []byte("select 1;\n"), "zstd")
	d := &pipeline.Decoder{Registry: reg}
	// 2-byte characters, so that a cut in the middle of one shows.
	long := strings.Repeat("é", 127) + "x"
	for name, obj := range map[string]string{"archive": tree, "stream": stream} {
		dest := filepath.Join(t.TempDir(), long)
		if _, err := d.RestoreTo(t.Context(), tg, obj, dest, nil); err != nil {
			t.Fatalf("%s to a 255-byte name: %v", name, err)
		}
		if _, err := os.Lstat(dest); err != nil {
			t.Errorf("%s: %v", name, err)
		}
		if got := dirNames(t, filepath.Dir(dest)); len(got) != 1 {
			t.Errorf("%s: the destination's folder holds %q, want only it", name, got)
		}
	}
}
