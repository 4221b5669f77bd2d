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
// over blocks of zeros instead of writing them. The file must be empty
// when the Writer starts, so that what is skipped reads back as zeros.
// Call Finish after the last Write.
type Writer struct {
	f    *os.File
	off  int64 // bytes of the file's data given to Write so far
	hole bool  // the file's data ends in a hole not yet reflected in its size
}

// NewWriter returns a Writer that writes to f, which must be empty.
func NewWriter(f *os.File) *Writer { return &Writer{f: f} }

// Write writes p at the end of the data written so far, leaving aligned
// blocks of zeros as holes. Writes of any size and alignment give the
// same file content.
func (w *Writer) Write(p []byte) (int, error) {
	written := 0
	for len(p) > 0 {
		// The first block ends at the next block boundary of the file.
		n := min(len(p), BlockSize-int(w.off%BlockSize))
		if n == BlockSize && bytes.Equal(p[:n], zeros[:]) {
			w.skip(n)
		} else {
			// Gather the data up to the next aligned zero block into
			// one write.
			for n < len(p) {
				next := min(len(p)-n, BlockSize)
				if next == BlockSize && bytes.Equal(p[n:n+next], zeros[:]) {
					break
				}
				n += next
			}
			if err := w.write(p[:n]); err != nil {
				return written, err
			}
		}
		written += n
		p = p[n:]
	}
	return written, nil
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

// Finish gives the file its full size when its data ends in a hole. It
// does not close the file.
func (w *Writer) Finish() error {
	if !w.hole {
		return nil
	}
	w.hole = false
	return w.f.Truncate(w.off)
}
