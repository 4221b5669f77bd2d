package backends

import "testing"

// TestUploadConcurrency checks the memory cap: part × (concurrency + 2)
// stays within uploadMemory unless a single part in flight already
// exceeds it.
func TestUploadConcurrency(t *testing.T) {
	for _, tc := range []struct {
		part       int64
		configured int
		want       int
	}{
		{5 * mib, 2, 2},
		{8 * mib, 2, 2},
		{8 * mib, 8, 4},
		{16 * mib, 2, 1},
		{117 * mib, 2, 1}, // a 1 TiB object
		{16 * mib, 1, 1},
	} {
		got := uploadConcurrency(tc.part, tc.configured)
		if got != tc.want {
			t.Errorf("part %d MiB, configured %d: concurrency %d, want %d", tc.part/mib, tc.configured, got, tc.want)
		}
		if mem := tc.part * int64(got+2); got > 1 && mem > uploadMemory {
			t.Errorf("part %d MiB: %d MiB buffered", tc.part/mib, mem/mib)
		}
	}
}
