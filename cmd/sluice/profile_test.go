package main

import (
	"bytes"
	"io"
	"os"
	"strings"
	"testing"

	"github.com/sluice-backup/sluice/pipeline/stagetest"
)

// TestProfileRun runs the sluice command line in SLUICE_PROFILE_ARGS
// (space-separated) inside the test binary, so go test's -cpuprofile and
// -memprofile profile a real run:
//
//	SLUICE_PROFILE_ARGS="backup /data/1g.bin -r age1… --progress never --to file:///tmp/out" \
//	  go test ./cmd/sluice -run TestProfileRun -count=1 -cpuprofile cpu.out
//	go tool pprof -top cmd/sluice.test cpu.out
//
// Without the variable it profiles a small backup of its own (so CI keeps
// the harness working): 8 MiB through zstd and age to a temporary folder.
func TestProfileRun(t *testing.T) {
	args := strings.Fields(os.Getenv("SLUICE_PROFILE_ARGS"))
	var stdin io.Reader = os.Stdin
	if len(args) == 0 {
		_, rec := keypair(t)
		stdin = bytes.NewReader(stagetest.Data(8<<20, 5))
		args = []string{"backup", "-", "-r", rec, "--progress", "never", "--to", "file://" + t.TempDir()}
	}
	var stdout, stderr bytes.Buffer
	if code := run(args, stdin, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	if os.Getenv("SLUICE_PROFILE_ARGS") == "" {
		singleURL(t, stdout.String())
	}
	t.Logf("stdout: %s\nstderr: %s", stdout.String(), stderr.String())
}
