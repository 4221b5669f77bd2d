package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestDryRunNameOfNextRun: a dry run looks at the targets (reading only)
// and reports the name the real run would use, "-2" when the plain name
// is taken, and then stores nothing.
func TestDryRunNameOfNextRun(t *testing.T) {
	_, rec := keypair(t)
	dir := t.TempDir()
	src := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(src, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	args := []string{"backup", src, "--name", "dr", "-r", rec, "--to", "file://" + dir, "--progress", "never"}
	dryRunObject := func() string {
		t.Helper()
		out, errs, code := cli(t, nil, append(args, "--dry-run", "--json")...)
		if code != 0 || out != "" {
			t.Fatalf("dry run: exit %d, stdout %q\n%s", code, out, errs)
		}
		obj, _ := jsonEvents(t, errs)[0]["object"].(string)
		return obj
	}
	if got := dryRunObject(); got != "dr.zst.age" {
		t.Fatalf("dry run on an empty folder names %q, want dr.zst.age", got)
	}
	mustCLI(t, nil, args...)
	if got := dryRunObject(); got != "dr-2.zst.age" {
		t.Fatalf("dry run names %q, want dr-2.zst.age as the real run", got)
	}
	// A running backup's claim takes a name too.
	if err := os.WriteFile(filepath.Join(dir, "dr-2.zst.age.sluice.claim"), []byte("{}"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := dryRunObject(); got != "dr-3.zst.age" {
		t.Fatalf("dry run names %q, want dr-3.zst.age", got)
	}
	if _, errs, _ := cli(t, nil, append(args, "--dry-run")...); !strings.Contains(errs, "dr-3.zst.age") {
		t.Errorf("text dry run does not name dr-3.zst.age:\n%s", errs)
	}
	// A folder that does not exist yet holds nothing: the dry run neither
	// creates it nor fails on it.
	missing := filepath.Join(dir, "new")
	if _, errs, code := cli(t, nil, "backup", src, "--name", "dr", "-r", rec, "--to", "file://"+missing, "--dry-run"); code != 0 || !strings.Contains(errs, "dr.zst.age") {
		t.Fatalf("dry run to a missing folder: exit %d\n%s", code, errs)
	}
	if _, err := os.Stat(missing); err == nil {
		t.Fatal("dry run created the target folder")
	}
}

// TestFileTargetNameEdges: names a file:// folder cannot take. A name
// ending in .attrs (fileblob's metadata sidecars) is a usage error before
// anything runs; a folder where the object would go moves the backup to
// the next numbered name, as an object there does.
func TestFileTargetNameEdges(t *testing.T) {
	_, rec := keypair(t)
	src := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(src, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}

	dir := t.TempDir()
	out, errs, code := cli(t, nil, "backup", src, "--name", "w.attrs", "--compress", "none", "--encrypt", "none", "--to", "file://"+dir)
	if code != exitUsage || out != "" || !strings.Contains(errs, ".attrs") {
		t.Fatalf("exit %d, stdout %q, want 2 and an error naming .attrs\n%s", code, out, errs)
	}
	assertEmptyDir(t, dir)
	// With a stage the name ends in its extension, which is fine.
	singleURL(t, mustCLI(t, nil, "backup", src, "--name", "w.attrs", "-r", rec, "--to", "file://"+dir))

	dir = t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "a.zst.age"), 0o755); err != nil {
		t.Fatal(err)
	}
	u := singleURL(t, mustCLI(t, nil, "backup", src, "--name", "a", "-r", rec, "--to", "file://"+dir))
	if want := "file://" + dir + "/a-2.zst.age"; u != want {
		t.Fatalf("stored %s, want %s", u, want)
	}
}

// TestEmptyNameIsAUsageError: an empty --name, typed or from SLUICE_NAME,
// is a usage error naming the flag (and the variable), not the default
// template in disguise.
func TestEmptyNameIsAUsageError(t *testing.T) {
	_, rec := keypair(t)
	src := dataFile(t, t.TempDir())
	store := t.TempDir()
	args := []string{"backup", src, "--to", "file://" + store, "-r", rec}
	check := func(t *testing.T, want string, args ...string) {
		t.Helper()
		stdout, stderr, code := cli(t, nil, args...)
		if code != exitUsage || stdout != "" || !strings.Contains(stderr, want) {
			t.Errorf("exit %d, want 2 and %q\n%s", code, want, stderr)
		}
		if entries, _ := os.ReadDir(store); len(entries) > 0 {
			t.Errorf("the target holds %d entries after a usage error", len(entries))
		}
	}
	t.Run("typed", func(t *testing.T) {
		check(t, "--name is empty", append(args, "--name", "")...)
	})
	t.Run("SLUICE_NAME", func(t *testing.T) {
		t.Setenv("SLUICE_NAME", "")
		check(t, "environment SLUICE_NAME: --name is empty", args...)
	})
}
