package main

import (
	"runtime/debug"
	"testing"
)

// TestTuneGC checks that sluice lowers the GC target only when the
// environment leaves the collector alone.
func TestTuneGC(t *testing.T) {
	orig := debug.SetGCPercent(100)
	t.Cleanup(func() { debug.SetGCPercent(orig) })
	for _, tc := range []struct {
		gogc, memlimit string
		want           int
	}{
		{"", "", defaultGCPercent},
		{"200", "", 100},
		{"", "1GiB", 100},
	} {
		t.Setenv("GOGC", tc.gogc)
		t.Setenv("GOMEMLIMIT", tc.memlimit)
		debug.SetGCPercent(100)
		tuneGC()
		if got := debug.SetGCPercent(100); got != tc.want {
			t.Errorf("GOGC=%q GOMEMLIMIT=%q: GC percent %d, want %d", tc.gogc, tc.memlimit, got, tc.want)
		}
	}
}
