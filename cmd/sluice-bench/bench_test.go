package main

import (
	"bytes"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/klauspost/compress/zstd"
)

// TestDataReproducible checks the generator: same seed, same bytes, exact
// size, and a mix that compresses to roughly half (text 3:1, a quarter
// random).
func TestDataReproducible(t *testing.T) {
	const size = 16<<20 + 123
	a, _ := io.ReadAll(NewData(size, 7, DefaultRandom))
	b, _ := io.ReadAll(io.LimitReader(NewData(size, 7, DefaultRandom), size))
	if len(a) != size || !bytes.Equal(a, b) {
		t.Fatalf("generator not reproducible: %d vs %d bytes", len(a), len(b))
	}
	c, _ := io.ReadAll(NewData(size, 8, DefaultRandom))
	if bytes.Equal(a, c) {
		t.Fatal("different seeds gave the same data")
	}
	enc, _ := zstd.NewWriter(nil)
	ratio := float64(len(enc.EncodeAll(a, nil))) / size
	if ratio < 0.2 || ratio > 0.8 {
		t.Fatalf("compression ratio %.2f: the mix is not mixed", ratio)
	}
}

func TestFormatTable(t *testing.T) {
	var buf bytes.Buffer
	formatTable(&buf, []result{{
		name: "file backup", aName: "sluice backup FILE", bName: "zstd -3 -T2 | age", in: 1 << 30,
		a:       stats{wall: 2, cpu: 3.3, rss: 80 << 20, out: 500 << 20},
		b:       stats{wall: 2.5, cpu: 3, rss: 60 << 20, out: 499 << 20},
		ratioLo: 0.75, ratioHi: 1.125,
	}})
	out := buf.String()
	for _, want := range []string{"| file backup", `zstd -3 -T2 \| age`, "0.80", "0.75–1.12", "537", "429", "500.0 MiB", "80.0 MiB", "1.0020", "3.30", "1.10"} {
		if !strings.Contains(out, want) {
			t.Errorf("table lacks %q:\n%s", want, out)
		}
	}
	if n := strings.Count(out, "\n"); n != 3 {
		t.Errorf("%d lines, want header, rule and one row:\n%s", n, out)
	}
}

func TestRatioRange(t *testing.T) {
	secs := func(ss ...float64) []sample {
		var out []sample
		for _, s := range ss {
			out = append(out, sample{wall: time.Duration(s * float64(time.Second))})
		}
		return out
	}
	lo, hi := ratioRange(secs(2, 3, 1), secs(2, 2, 2))
	if lo != 0.5 || hi != 1.5 {
		t.Errorf("range %v–%v, want 0.5–1.5", lo, hi)
	}
}

func TestMedian(t *testing.T) {
	if m := median([]float64{3, 1, 2}); m != 2 {
		t.Errorf("median = %v", m)
	}
	if m := median([]float64{4, 1, 2, 3}); m != 2.5 {
		t.Errorf("median = %v", m)
	}
}

// TestEmptyDir checks -dir: a new directory is created, an empty one
// taken, and one holding an earlier run's files refused by name.
func TestEmptyDir(t *testing.T) {
	dir := filepath.Join(t.TempDir(), "new")
	if err := emptyDir(dir); err != nil {
		t.Fatalf("new directory: %v", err)
	}
	if err := emptyDir(dir); err != nil {
		t.Fatalf("empty directory: %v", err)
	}
	if err := os.WriteFile(filepath.Join(dir, "key.txt"), nil, 0o600); err != nil {
		t.Fatal(err)
	}
	if err := emptyDir(dir); err == nil || !strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "not empty") {
		t.Fatalf("directory with a file: err = %v", err)
	}
}
