package main

import (
	"fmt"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"sync"
)

// blockSize is the unit of generated data: each block is either text-like
// or random, chosen by the seeded generator.
const blockSize = 1 << 20

// textPoolSize is the size of the text-like pool blocks are cut from. It is
// larger than zstd's window at level 3 (8 MiB), so blocks cut from it do
// not compress by repeating each other.
const textPoolSize = 32 << 20

// Data is a reproducible stream of mixed data: each 1 MiB block is random
// (incompressible) with probability random, else text-like (words,
// numbers, timestamps, newlines; compresses about 3:1 at zstd -3). The same
// size, seed and fraction give the same bytes.
type Data struct {
	random    float64
	remaining int64
	rng       *rand.Rand
	rnd       *rand.ChaCha8
	pool      []byte
	block     []byte
	off       int
}

// DefaultRandom is the share of random blocks unless -random says
// otherwise.
const DefaultRandom = 0.25

// NewData returns a generator of size bytes, a fraction random of them
// random.
func NewData(size int64, seed uint64, random float64) *Data {
	return &Data{
		random:    random,
		remaining: size,
		rng:       rand.New(rand.NewPCG(seed, 0x5eed)),
		rnd:       rand.NewChaCha8([32]byte{byte(seed), byte(seed >> 8), 's', 'l', 'u', 'i', 'c', 'e'}),
		pool:      sharedPool(),
		block:     make([]byte, blockSize),
		off:       blockSize,
	}
}

var words = []string{
	"the", "backup", "stream", "object", "bucket", "of", "and", "compress", "encrypt", "restore",
	"sluice", "zstd", "age", "target", "pipeline", "data", "file", "a", "to", "in", "is", "error",
	"time", "size", "with", "for", "from", "level", "frame", "worker", "memory", "chunk", "write",
}

// sharedPool is the text pool every generator cuts from; the generator's
// seed picks the cuts.
var sharedPool = sync.OnceValue(textPool)

// textPool builds textPoolSize bytes of log-like text.
func textPool() []byte {
	r := rand.New(rand.NewPCG(1, 0x7e47))
	b := make([]byte, 0, textPoolSize+256)
	for len(b) < textPoolSize {
		switch r.IntN(12) {
		case 0:
			b = fmt.Appendf(b, "%d ", r.IntN(1_000_000))
		case 1:
			b = append(b, '\n')
			b = fmt.Appendf(b, "2026-11-%02dT%02d:%02d:%02dZ ", 1+r.IntN(28), r.IntN(24), r.IntN(60), r.IntN(60))
		case 2:
			b = fmt.Appendf(b, "id=%08x ", r.Uint32())
		default:
			b = append(b, words[r.IntN(len(words))]...)
			b = append(b, ' ')
		}
	}
	return b[:textPoolSize]
}

func (d *Data) fill() {
	n := int(min(int64(blockSize), d.remaining))
	blk := d.block[:n]
	if d.rng.Float64() < d.random {
		d.rnd.Read(blk)
	} else {
		start := d.rng.IntN(len(d.pool) - blockSize)
		copy(blk, d.pool[start:])
	}
	d.block, d.off = d.block[:n], 0
}

func (d *Data) Read(p []byte) (int, error) {
	if d.off == len(d.block) {
		if d.remaining == 0 {
			return 0, io.EOF
		}
		d.fill()
	}
	n := copy(p, d.block[d.off:])
	d.off += n
	d.remaining -= int64(n)
	return n, nil
}

// writeFile writes size bytes of generated data to path.
func writeFile(path string, size int64, seed uint64, random float64) error {
	f, err := os.Create(path)
	if err != nil {
		return err
	}
	if _, err := io.Copy(f, NewData(size, seed, random)); err != nil {
		f.Close()
		return fmt.Errorf("generate %s: %w", path, err)
	}
	return f.Close()
}

// writeTree writes files small files (up to 32 KiB, mixed data) under dir,
// 100 to a folder.
func writeTree(dir string, files int, seed uint64, random float64) (int64, error) {
	r := rand.New(rand.NewPCG(seed, 0x73ee))
	var total int64
	for i := range files {
		sub := filepath.Join(dir, fmt.Sprintf("d%03d", i/100))
		if i%100 == 0 {
			if err := os.MkdirAll(sub, 0o755); err != nil {
				return total, err
			}
		}
		size := int64(r.IntN(32 << 10))
		if err := writeFile(filepath.Join(sub, fmt.Sprintf("f%05d.txt", i)), size, seed+uint64(i), random); err != nil {
			return total, err
		}
		total += size
	}
	return total, nil
}
