// Package sparse writes files with holes where their data is zeros, as
// `cp --sparse=always` does: a restored disk image or preallocated
// database file then takes the space of its data, not of its size.
package sparse

import (
	"bytes"
	"io"
	"os"
)

// BlockSize is the unit of hole detection: a block of zeros at a
// multiple of BlockSize in the file is skipped rather than written.
// It is the page and file-system block size of most systems; a smaller
// hole could not be kept by the file system anyway.
const BlockSize = 4096

var zeros [BlockSize]byte

// A Writer writes a new file's data sequentially from offset 0, seeking
// over aligned blocks of zeros instead of writing them. The file must be
// empty when the Writer starts, so that what is skipped reads back as
// zeros. A block that a Write leaves unfinished waits for the next one,
// so writes of any size and alignment (a decompressor's short reads)
// leave the same holes. Call Finish after the last Write.
type Writer struct {
	f    *os.File
	off  int64 // bytes of data written or skipped, not counting block
	hole bool  // the data ends in a hole not yet reflected in the file's size
	// block holds n bytes of the block that starts at off, waiting for
	// the rest of it.
	block [BlockSize]byte
	n     int
}

// NewWriter returns a Writer that writes to f, which must be empty.
func NewWriter(f *os.File) *Writer { return &Writer{f: f} }

// Write writes p after the data written so far. It reports len(p) as
// written unless writing to the file fails.
func (w *Writer) Write(p []byte) (int, error) {
	given := len(p)
	if w.n > 0 {
		k := copy(w.block[w.n:], p)
		w.n += k
		p = p[k:]
		if w.n < BlockSize {
			return given, nil
		}
		w.n = 0
		if err := w.put(w.block[:]); err != nil {
			return 0, err
		}
	}
	for len(p) >= BlockSize {
		if isZero(p[:BlockSize]) {
			w.skip(BlockSize)
			p = p[BlockSize:]
			continue
		}
		// Gather the data up to the next zero block into one write.
		n := BlockSize
		for n+BlockSize <= len(p) && !isZero(p[n:n+BlockSize]) {
			n += BlockSize
		}
		if err := w.write(p[:n]); err != nil {
			return given - len(p), err
		}
		p = p[n:]
	}
	w.n = copy(w.block[:], p)
	return given, nil
}

func isZero(b []byte) bool { return bytes.Equal(b, zeros[:len(b)]) }

// put writes b, or skips it if it is all zeros.
func (w *Writer) put(b []byte) error {
	if isZero(b) {
		w.skip(len(b))
		return nil
	}
	return w.write(b)
}

func (w *Writer) skip(n int) {
	w.off += int64(n)
	w.hole = true
}

func (w *Writer) write(p []byte) error {
	if w.hole {
		if _, err := w.f.Seek(w.off, io.SeekStart); err != nil {
			return err
		}
		w.hole = false
	}
	n, err := w.f.Write(p)
	w.off += int64(n)
	return err
}

// Finish writes the unfinished last block, and gives the file its full
// size when its data ends in a hole. It does not close the file.
func (w *Writer) Finish() error {
	if w.n > 0 {
		tail := w.block[:w.n]
		w.n = 0
		if err := w.put(tail); err != nil {
			return err
		}
	}
	if !w.hole {
		return nil
	}
	w.hole = false
	return w.f.Truncate(w.off)
}
