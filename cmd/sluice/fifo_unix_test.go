//go:build unix

package main

import (
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
)

// TestBackupNamedPipeSource: a FIFO source is backed up as a stream named
// after the FIFO, and a process substitution's /dev/fd/N path, whose name
// means nothing, needs --name: without it the backup is a usage error
// before anything is read or stored.
func TestBackupNamedPipeSource(t *testing.T) {
	key, rec := keypair(t)
	dir := t.TempDir()
	fifo := filepath.Join(t.TempDir(), "db.sql")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	go func() {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		io.WriteString(w, "dump through a fifo")
		w.Close()
	}()
	u := singleURL(t, mustCLI(t, nil, "backup", fifo, "--name", "{source}", "-r", rec, "--to", "file://"+dir, "--progress", "never"))
	if want := "file://" + dir + "/db.sql.zst.age"; u != want {
		t.Fatalf("stored %s, want %s", u, want)
	}
	if got := mustCLI(t, nil, "restore", u, "--to", "-", "-i", key); got != "dump through a fifo" {
		t.Fatalf("restored %q", got)
	}

	fdPath, w := fdPipe(t)
	out, errs, code := cli(t, nil, "backup", fdPath, "-r", rec, "--to", "file://"+dir)
	if code != exitUsage || out != "" || !strings.Contains(errs, "--name") {
		t.Fatalf("exit %d, stdout %q, want 2 and a hint to give --name\n%s", code, out, errs)
	}
	go func() {
		io.WriteString(w, "through /dev/fd")
		w.Close()
	}()
	u = singleURL(t, mustCLI(t, nil, "backup", fdPath, "--name", "piped", "-r", rec, "--to", "file://"+dir, "--progress", "never"))
	if got := mustCLI(t, nil, "restore", u, "--to", "-", "-i", key); got != "through /dev/fd" {
		t.Fatalf("restored %q", got)
	}
}

// TestDryRunSourceWithoutName: the dry run of a /dev/fd/N source, which
// has no {source} name, names the source by its path.
func TestDryRunSourceWithoutName(t *testing.T) {
	fdPath, _ := fdPipe(t)
	_, errs, code := cli(t, nil, "backup", fdPath, "--name", "pp", "--encrypt", "none", "--to", "file://"+t.TempDir(), "--dry-run")
	if want := "  source: " + fdPath + ", size unknown\n"; code != 0 || !strings.Contains(errs, want) {
		t.Fatalf("exit %d, want 0 and %q\n%s", code, want, errs)
	}
}

// fdPipe returns the /dev/fd/N path of a pipe's read end, as a process
// substitution gives one, and its write end; both are closed when the
// test ends. Without /dev/fd the test is skipped, or fails in CI.
func fdPipe(t *testing.T) (string, *os.File) {
	t.Helper()
	if _, err := os.Stat("/dev/fd/0"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("/dev/fd is needed in CI: %v", err)
		}
		t.Skip("no /dev/fd here")
	}
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { r.Close(); w.Close() })
	return fmt.Sprintf("/dev/fd/%d", r.Fd()), w
}
