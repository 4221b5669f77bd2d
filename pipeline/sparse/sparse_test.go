package sparse_test

import (
	"bytes"
	"math/rand/v2"
	"os"
	"path/filepath"
	"testing"

	"github.com/sluice-backup/sluice/pipeline/sparse"
)

// layout builds data from runs: a positive length is that many random
// bytes, a negative one that many zeros.
func layout(runs ...int) []byte {
	r := rand.New(rand.NewPCG(1, 2))
	var b []byte
	for _, n := range runs {
		if n < 0 {
			b = append(b, make([]byte, -n)...)
			continue
		}
		for range n {
			b = append(b, byte(r.IntN(255)+1))
		}
	}
	return b
}

// writeSparse writes data through a sparse.Writer in writes of size
// chunk and returns the file's path.
func writeSparse(t *testing.T, data []byte, chunk int) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "f")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	w := sparse.NewWriter(f)
	for p := data; len(p) > 0; {
		n := min(chunk, len(p))
		if m, err := w.Write(p[:n]); err != nil || m != n {
			t.Fatalf("Write = %d, %v; want %d", m, err, n)
		}
		p = p[n:]
	}
	if err := w.Finish(); err != nil {
		t.Fatal(err)
	}
	return path
}

// TestContentKept: whatever the layout of zeros and the size and
// alignment of writes, the file reads back as the data written.
func TestContentKept(t *testing.T) {
	const B = sparse.BlockSize
	layouts := map[string][]byte{
		"empty":             nil,
		"zeros only":        layout(-3 * B),
		"short zeros":       layout(-100),
		"data only":         layout(3*B + 17),
		"hole at start":     layout(-4*B, 10),
		"hole at end":       layout(10, -4*B),
		"hole at end, odd":  layout(B+3, -4*B-5),
		"holes between":     layout(B, -2*B, 5, -3*B, B-1, -B),
		"unaligned zeros":   layout(7, -B, 9, -B+1, 3),
		"one zero in block": layout(B/2, -1, B/2-1, -2*B),
	}
	for name, data := range layouts {
		for _, chunk := range []int{1, 1000, B - 1, B, B + 1, 3 * B, 1 << 20} {
			path := writeSparse(t, data, chunk)
			got, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, data) {
				t.Errorf("%s, writes of %d: file differs from the data (%d bytes, want %d)", name, chunk, len(got), len(data))
			}
		}
	}
}
