//go:build unix

package main

import (
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// nobody is the user and group a test run as root drops to.
const nobody = 65534

// runAsNobody reports whether the calling test should go on: it does
// when the test runs as a user other than root already. As root, whom no
// file mode keeps from reading, it runs the test again in a child process
// of a copy of this test binary as user and group nobody, fails the test
// if the child fails, and reports false: the caller returns. Only
// top-level tests can use it.
func runAsNobody(t *testing.T) bool {
	t.Helper()
	if os.Getuid() != 0 {
		return true
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	// The test binary lives in a folder only root may enter: copy it.
	work := t.TempDir()
	tmp := filepath.Join(work, "tmp")
	bin := filepath.Join(work, "sluice.test")
	must := func(err error) {
		if err != nil {
			t.Fatal(err)
		}
	}
	must(os.Mkdir(tmp, 0o700))
	must(os.Chown(tmp, nobody, nobody))
	in, err := os.Open(exe)
	must(err)
	defer in.Close()
	out, err := os.OpenFile(bin, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	must(err)
	_, err = io.Copy(out, in)
	must(err)
	must(out.Close())
	must(os.Chmod(work, 0o755))
	must(os.Chmod(filepath.Dir(work), 0o755))
	cmd := exec.Command(bin, "-test.run=^"+t.Name()+"$", "-test.v")
	cmd.Dir = tmp
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "HOME="+tmp)
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: nobody, Gid: nobody}}
	b, err := cmd.CombinedOutput()
	if err != nil || !strings.Contains(string(b), "--- PASS: "+t.Name()) {
		t.Fatalf("%s as user %d: %v\n%s", t.Name(), nobody, err, b)
	}
	return false
}

// TestUnreadableSourceRoot: a source folder that cannot be listed, or a
// source file that cannot be read, fails the backup (exit 1) before any
// target is touched, as a missing source does: no target folder, no
// claim, no summary, and the message says how to go on. run fails such a
// source of a pipeline the same way.
func TestUnreadableSourceRoot(t *testing.T) {
	if !runAsNobody(t) {
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
	for _, p := range []string{locked, file} {
		if err := os.Chmod(p, 0); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(p, 0o755) })
	}
	for _, c := range []struct{ source, want string }{
		{locked, "source " + locked + ": cannot list it: permission denied (nothing was stored: run as a user who can read it)"},
		{file, "source " + file + ": cannot read it: permission denied (nothing was stored: run as a user who can read it)"},
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
