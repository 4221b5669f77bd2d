package main

import (
	"bytes"
	"crypto/rand"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-backup/sluice/pipeline/stagetest"
)

// cli runs sluice in-process and returns stdout, stderr and the exit status.
func cli(t *testing.T, stdin io.Reader, args ...string) (string, string, int) {
	t.Helper()
	if stdin == nil {
		stdin = strings.NewReader("")
	}
	var out, errb bytes.Buffer
	code := run(args, stdin, &out, &errb)
	return out.String(), errb.String(), code
}

// mustCLI runs sluice and fails the test unless it exits 0.
func mustCLI(t *testing.T, stdin io.Reader, args ...string) string {
	t.Helper()
	out, errs, code := cli(t, stdin, args...)
	if code != 0 {
		t.Fatalf("sluice %s: exit %d\nstderr: %s", strings.Join(args, " "), code, errs)
	}
	return out
}

// singleURL checks that stdout holds exactly one line, a URL, and returns it.
func singleURL(t *testing.T, stdout string) string {
	t.Helper()
	lines := strings.Split(strings.TrimRight(stdout, "\n"), "\n")
	if len(lines) != 1 || !strings.Contains(lines[0], "://") {
		t.Fatalf("stdout should be exactly one URL line, got %q", stdout)
	}
	return lines[0]
}

// keypair writes a fresh identity with keygen and returns its path and recipient.
func keypair(t *testing.T) (string, string) {
	t.Helper()
	path := filepath.Join(t.TempDir(), "key.txt")
	rec := strings.TrimSpace(mustCLI(t, nil, "keygen", "-o", path))
	if !strings.HasPrefix(rec, "age1") {
		t.Fatalf("keygen printed %q, want a recipient", rec)
	}
	return path, rec
}

// makeTree builds a directory with nested and empty dirs, small and large
// files, modes and symlinks, and returns its path.
func makeTree(t *testing.T) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "data")
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.MkdirAll(filepath.Join(root, "sub", "deeper"), 0o755))
	must(os.MkdirAll(filepath.Join(root, "empty"), 0o700))
	must(os.WriteFile(filepath.Join(root, "hello.txt"), []byte("hello, sluice\n"), 0o644))
	must(os.WriteFile(filepath.Join(root, "zero"), nil, 0o600))
	must(os.WriteFile(filepath.Join(root, "run.sh"), []byte("#!/bin/sh\necho hi\n"), 0o755))
	must(os.WriteFile(filepath.Join(root, "sub", "deeper", "big.bin"), stagetest.Data(3<<20, 42), 0o640))
	must(os.WriteFile(filepath.Join(root, "sub", "notes.tmp"), []byte("scratch"), 0o644))
	must(os.Symlink("hello.txt", filepath.Join(root, "link-to-hello")))
	must(os.Symlink("sub/deeper", filepath.Join(root, "link-to-dir")))
	old := time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	must(os.Chtimes(filepath.Join(root, "hello.txt"), old, old))
	return root
}

// compareTrees checks that two trees have the same entries, types, modes,
// contents and symlink targets; skip names are ignored in want.
func compareTrees(t *testing.T, want, got string, skip ...string) {
	t.Helper()
	seen := map[string]bool{}
	err := filepath.WalkDir(want, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		rel, _ := filepath.Rel(want, p)
		for _, s := range skip {
			if matched, _ := filepath.Match(s, filepath.Base(rel)); matched {
				if d.IsDir() {
					return filepath.SkipDir
				}
				return nil
			}
		}
		seen[rel] = true
		wi, _ := os.Lstat(p)
		gi, err := os.Lstat(filepath.Join(got, rel))
		if err != nil {
			t.Errorf("%s: missing in restore: %v", rel, err)
			return nil
		}
		if wi.Mode().Type() != gi.Mode().Type() {
			t.Errorf("%s: type %v, want %v", rel, gi.Mode().Type(), wi.Mode().Type())
			return nil
		}
		if rel != "." && wi.Mode().Perm() != gi.Mode().Perm() && wi.Mode().Type() != fs.ModeSymlink {
			t.Errorf("%s: mode %v, want %v", rel, gi.Mode().Perm(), wi.Mode().Perm())
		}
		switch {
		case wi.Mode().Type() == fs.ModeSymlink:
			wl, _ := os.Readlink(p)
			gl, _ := os.Readlink(filepath.Join(got, rel))
			if wl != gl {
				t.Errorf("%s: symlink to %q, want %q", rel, gl, wl)
			}
		case wi.Mode().IsRegular():
			wb, _ := os.ReadFile(p)
			gb, _ := os.ReadFile(filepath.Join(got, rel))
			if !bytes.Equal(wb, gb) {
				t.Errorf("%s: content differs (%d vs %d bytes)", rel, len(gb), len(wb))
			}
			if !wi.ModTime().Truncate(time.Second).Equal(gi.ModTime().Truncate(time.Second)) {
				t.Errorf("%s: mtime %v, want %v", rel, gi.ModTime(), wi.ModTime())
			}
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	filepath.WalkDir(got, func(p string, d fs.DirEntry, err error) error {
		rel, _ := filepath.Rel(got, p)
		if err == nil && !seen[rel] {
			t.Errorf("%s: unexpected entry in restore", rel)
		}
		return nil
	})
}

// requireTool returns the tool's path; it skips locally and fails in CI
// when the tool is missing.
func requireTool(t *testing.T, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		skipOutsideCI(t, "%s not installed: %v", name, err)
	}
	return p
}

// skipOutsideCI skips the test for a missing prerequisite, except in CI
// (CI=true), where every prerequisite must be there and its absence fails
// the test.
func skipOutsideCI(t *testing.T, format string, args ...any) {
	t.Helper()
	if os.Getenv("CI") == "true" {
		t.Fatalf("required in CI: "+format, args...)
	}
	t.Skipf(format, args...)
}

func randomBytes(t *testing.T, n int) []byte {
	b := make([]byte, n)
	rand.Read(b)
	return b
}

// assertEmptyDir checks that dir holds nothing (or does not exist).
func assertNothingAt(t *testing.T, path string) {
	t.Helper()
	if _, err := os.Lstat(path); err == nil {
		t.Fatalf("%s exists after a failed restore", path)
	}
	entries, _ := os.ReadDir(filepath.Dir(path))
	for _, e := range entries {
		if strings.Contains(e.Name(), "sluice-tmp") {
			t.Fatalf("temporary %s left behind", e.Name())
		}
	}
}

// assertRestoreFails restores url with key into a fresh destination and
// checks what a failed restore promises: exit status 1, an error that
// names the object, and nothing at (or beside) the destination.
func assertRestoreFails(t *testing.T, url, key string) {
	t.Helper()
	dest := filepath.Join(t.TempDir(), "out")
	_, errs, code := cli(t, nil, "restore", url, "--to", dest, "-i", key)
	if code != exitFailure {
		t.Fatalf("exit %d, want 1; stderr %q", code, errs)
	}
	if !strings.Contains(errs, url) {
		t.Fatalf("error does not name the object: %q", errs)
	}
	assertNothingAt(t, dest)
}
