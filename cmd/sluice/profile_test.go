package main

import (
	"bytes"
	"os"
	"strings"
	"testing"
)

// TestProfileRun runs the sluice command line in SLUICE_PROFILE_ARGS
// (space-separated) inside the test binary, so go test's -cpuprofile and
// -memprofile profile a real run:
//
//	SLUICE_PROFILE_ARGS="backup /data/1g.bin -r age1… --progress never --to file:///tmp/out" \
//	  go test ./cmd/sluice -run TestProfileRun -count=1 -cpuprofile cpu.out
//	go tool pprof -top cmd/sluice.test cpu.out
//
// Without the variable it skips; it is a tool, not a check.
func TestProfileRun(t *testing.T) {
	args := strings.Fields(os.Getenv("SLUICE_PROFILE_ARGS"))
	if len(args) == 0 {
		t.Skip("set SLUICE_PROFILE_ARGS to profile a run")
	}
	var stdout, stderr bytes.Buffer
	if code := run(args, os.Stdin, &stdout, &stderr); code != exitOK {
		t.Fatalf("exit %d: %s", code, stderr.String())
	}
	t.Logf("stdout: %s\nstderr: %s", stdout.String(), stderr.String())
}
