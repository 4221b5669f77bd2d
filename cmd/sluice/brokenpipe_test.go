//go:build unix

package main

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// TestStdoutGone runs sluice with a stdout nobody reads (a pipe whose
// reader has quit, as `sluice run | head -0` leaves it) and with a full
// one (/dev/full): the work is done all the same (every pipeline of a
// run, no half-written object), and the run ends in exit 1 saying that
// stdout is incomplete, instead of dying by SIGPIPE between two pipelines
// or exiting 0 with the URLs lost.
func TestStdoutGone(t *testing.T) {
	_, rec := keypair(t)
	src := filepath.Join(t.TempDir(), "data.txt")
	if err := os.WriteFile(src, []byte("stdout gone\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	closedPipe := func(t *testing.T) *os.File {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
		t.Cleanup(func() { w.Close() })
		return w
	}
	devFull := func(t *testing.T) *os.File {
		f, err := os.OpenFile("/dev/full", os.O_WRONLY, 0)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { f.Close() })
		return f
	}
	for name, stdout := range map[string]func(*testing.T) *os.File{"closed pipe": closedPipe, "full device": devFull} {
		t.Run(name, func(t *testing.T) {
			store := t.TempDir()
			cfg := writeConfig(t, "sluice.yaml", fmt.Sprintf(`
pipelines:
  one: {source: %[1]s, stages: [zstd, {age: {recipient: %[2]s}}], targets: ["file://%[3]s/one"]}
  two: {source: %[1]s, stages: [zstd, {age: {recipient: %[2]s}}], targets: ["file://%[3]s/two"]}
`, src, rec, store))
			cmd := exec.Command(binary(t), "--config", cfg, "run")
			var stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = stdout(t), &stderr
			err := cmd.Run()
			if ws, ok := cmd.ProcessState.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
				t.Fatalf("killed by %v\nstderr:\n%s", ws.Signal(), stderr.String())
			}
			if code := cmd.ProcessState.ExitCode(); code != exitFailure || !strings.Contains(stderr.String(), "write to standard output") {
				t.Fatalf("exit %d (%v), want %d saying stdout is incomplete\nstderr:\n%s", code, err, exitFailure, stderr.String())
			}
			for _, p := range []string{"one", "two"} {
				files := filesUnder(t, filepath.Join(store, p))
				if len(files) != 2 || !slices.ContainsFunc(files, func(f string) bool { return strings.HasSuffix(f, ".zst.age") }) {
					t.Errorf("pipeline %s stored %v, want an object and its manifest", p, files)
				}
			}
		})
	}
}

// TestHelpToClosedPipe: help whose reader quit (`sluice --help | head -1`)
// is what the reader asked for, not a failure: exit 0, nothing on stderr.
func TestHelpToClosedPipe(t *testing.T) {
	for _, args := range [][]string{{"--help"}, {"backup", "--help"}} {
		r, w, err := os.Pipe()
		if err != nil {
			t.Fatal(err)
		}
		r.Close()
		cmd := exec.Command(binary(t), args...)
		var stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = w, &stderr
		err = cmd.Run()
		w.Close()
		if err != nil || stderr.Len() > 0 {
			t.Errorf("%v to a closed pipe: %v\nstderr:\n%s", args, err, stderr.String())
		}
	}
}
