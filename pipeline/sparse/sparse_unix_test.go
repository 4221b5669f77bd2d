//go:build unix

package sparse_test

import (
	"os"
	"syscall"
	"testing"

	"github.com/sluice-backup/sluice/pipeline/sparse"
)

// allocated returns the bytes of disk path's data takes.
func allocated(t *testing.T, path string) int64 {
	t.Helper()
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return fi.Sys().(*syscall.Stat_t).Blocks * 512
}

// TestHolesMade: zeros make holes, so a mostly empty file takes the
// space of its data, whatever the size and alignment of the writes (a
// decompressor's short reads end anywhere).
func TestHolesMade(t *testing.T) {
	const mib = 1 << 20
	data := layout(mib, -14*mib, mib, -16*mib)
	for _, chunk := range []int{1000, sparse.BlockSize, 32<<10 + 1, 128 << 10, 4 * mib} {
		path := writeSparse(t, data, chunk)
		if got := allocated(t, path); got > 2*mib+64<<10 {
			t.Errorf("writes of %d: %d bytes allocated for 2 MiB of data in 32 MiB", chunk, got)
		}
	}
}
