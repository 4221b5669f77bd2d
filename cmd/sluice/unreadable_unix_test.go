//go:build unix

package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-backup/sluice/pipeline/childtest"
)

// TestUnreadableSourceRoot: a source folder that cannot be listed, or a
// source file that cannot be read, fails the backup (exit 1) before any
// target is touched, as a missing source does: no target folder, no
// claim, no summary, and the message says how to go on. run fails such a
// source of a pipeline the same way.
func TestUnreadableSourceRoot(t *testing.T) {
	if !childtest.AsNobody(t) {
		return
	}
	dir := t.TempDir()
	locked := filepath.Join(dir, "s", "locked")
	file := filepath.Join(dir, "s", "secret.txt")
	if err := os.MkdirAll(locked, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(file, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	// A folder that can be listed but not searched: its names show,
	// nothing of what they are.
	unsearchable := filepath.Join(dir, "s", "unsearchable")
	if err := os.MkdirAll(unsearchable, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(unsearchable, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for p, mode := range map[string]os.FileMode{locked: 0, file: 0, unsearchable: 0o644} {
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(p, 0o755) })
	}
	for _, c := range []struct{ source, want string }{
		{locked, "source " + locked + ": cannot list it: permission denied (nothing was stored: run as a user who can read it)"},
		{file, "source " + file + ": cannot read it: permission denied (nothing was stored: run as a user who can read it)"},
		{unsearchable, "source " + unsearchable + ": cannot search it: permission denied (nothing was stored: run as a user who can read it)"},
	} {
		target := filepath.Join(dir, "t")
		stdout, stderr, code := cli(t, nil, "backup", c.source, "--encrypt", "none", "--to", "file://"+target)
		if code != exitFailure || stdout != "" || !strings.Contains(stderr, c.want) || strings.Contains(stderr, "target") {
			t.Errorf("backup %s: exit %d, want 1 and only %q\n%s", c.source, code, c.want, stderr)
		}
		if _, err := os.Lstat(target); err == nil {
			t.Errorf("backup %s: the target folder was created", c.source)
		}
	}
	target := filepath.Join(dir, "run-target")
	cfg := writeConfig(t, "sluice.yaml", "pipelines:\n  p:\n    source: "+locked+"\n    stages: [zstd]\n    allow_plaintext: true\n    targets: [file://"+target+"]\n")
	_, stderr, code := cli(t, nil, "--config", cfg, "run")
	if code != exitFailure || !strings.Contains(stderr, "cannot list it: permission denied") {
		t.Errorf("run: exit %d, want 1 and the source's error\n%s", code, stderr)
	}
	if _, err := os.Lstat(target); err == nil {
		t.Error("run: the target folder was created")
	}
}
