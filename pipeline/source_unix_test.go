//go:build unix

package pipeline_test

import (
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/sluice-backup/sluice/pipeline"
)

// TestPathSourceNamedPipe: a FIFO is read as a stream of unknown size
// named after its path; a file descriptor's path (what <(cmd) passes)
// is read the same way but has no name.
func TestPathSourceNamedPipe(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "db.sql")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	src, err := pipeline.PathSource(fifo, nil)
	if err != nil {
		t.Fatal(err)
	}
	if src.Name != "db.sql" || src.Size != -1 || src.Archive {
		t.Fatalf("got name %q size %d archive %v, want db.sql, -1, false", src.Name, src.Size, src.Archive)
	}
	go func() {
		w, err := os.OpenFile(fifo, os.O_WRONLY, 0)
		if err != nil {
			return
		}
		io.WriteString(w, "through the fifo")
		w.Close()
	}()
	if got := readSource(t, src); got != "through the fifo" {
		t.Fatalf("read %q", got)
	}
	if _, err := pipeline.PathSource(fifo, []string{"*.tmp"}); err == nil || !strings.Contains(err.Error(), "named pipe") {
		t.Errorf("exclude patterns for a named pipe: %v", err)
	}

	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	go func() {
		io.WriteString(w, "through /dev/fd")
		w.Close()
	}()
	for _, dir := range []string{"/dev/fd", "/proc/self/fd"} {
		path := fmt.Sprintf("%s/%d", dir, r.Fd())
		if _, err := os.Stat(path); err != nil {
			continue // not on this system
		}
		src, err := pipeline.PathSource(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if src.Name != "" || src.Size != -1 {
			t.Errorf("%s: name %q size %d, want no name and -1", path, src.Name, src.Size)
		}
		if dir == "/dev/fd" {
			if got := readSource(t, src); got != "through /dev/fd" {
				t.Errorf("%s: read %q", path, got)
			}
		}
	}

	if _, err := pipeline.PathSource(os.DevNull, nil); err == nil || !strings.Contains(err.Error(), "not a regular file, directory or named pipe") {
		t.Errorf("%s: %v, want it refused", os.DevNull, err)
	}
}

// TestSourceNameDots: {source} drops leading dots, so an object is not a
// hidden file, and a name of dots only still gives a valid name.
func TestSourceNameDots(t *testing.T) {
	dir := t.TempDir()
	for file, want := range map[string]string{".bashrc": "bashrc", "..x": "x", "...": "source", "....": "source", "a.b": "a.b"} {
		path := filepath.Join(dir, file)
		if err := os.WriteFile(path, nil, 0o600); err != nil {
			t.Fatal(err)
		}
		src, err := pipeline.PathSource(path, nil)
		if err != nil {
			t.Fatal(err)
		}
		if src.Name != want {
			t.Errorf("%s: name %q, want %q", file, src.Name, want)
		}
		if _, err := pipeline.ExpandName("{source}", pipeline.NameVars{Source: src.Name}); err != nil {
			t.Errorf("%s: %v", file, err)
		}
	}
}

func readSource(t *testing.T, src *pipeline.Source) string {
	t.Helper()
	rc, err := src.Open(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	defer rc.Close()
	b, err := io.ReadAll(rc)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

// TestNamedPipeWithoutWriter: a backup of a named pipe that no process
// ever opens for writing (a producer that failed to start) waits, and the
// end of its context (a signal) stops it like any other backup: it
// returns, and nothing is left on the target, claim included.
func TestNamedPipeWithoutWriter(t *testing.T) {
	fifo := filepath.Join(t.TempDir(), "dump.sql")
	if err := syscall.Mkfifo(fifo, 0o600); err != nil {
		t.Fatalf("mkfifo: %v", err)
	}
	src, err := pipeline.PathSource(fifo, nil)
	if err != nil {
		t.Fatal(err)
	}
	target := openMem(t, "mem://no-writer/p")
	ctx, cancel := context.WithCancel(t.Context())
	done := make(chan error, 1)
	go func() {
		b := &pipeline.Backup{Source: src, Targets: []*pipeline.Target{target}, Name: "dump.sql", ExpectedSize: -1}
		_, err := b.Run(ctx)
		done <- err
	}()
	// The claim is written just before the source is opened: once it is
	// there, the backup waits in the open (or is about to).
	claim := target.Key("dump.sql" + pipeline.ClaimSuffix)
	for deadline := time.Now().Add(time.Minute); ; time.Sleep(5 * time.Millisecond) {
		if ok, _ := target.Bucket.Exists(t.Context(), claim); ok {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the backup never claimed its name")
		}
	}
	cancel()
	select {
	case err := <-done:
		if err == nil || !strings.Contains(err.Error(), "no writer opened the pipe") {
			t.Fatalf("backup of a pipe nobody writes, cancelled: %v", err)
		}
	case <-time.After(time.Minute):
		t.Fatal("the backup still waits for a writer after its context ended")
	}
	if left, err := target.Bucket.List(nil).Next(context.Background()); err == nil {
		t.Fatalf("the cancelled backup left %s", left.Key)
	}
}
