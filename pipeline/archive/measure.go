package archive

import (
	"archive/tar"
	"context"
)

// Size is what [Measure] found: the entries [Write] would store for a tree
// as it was when walked, and the length of the tar stream it would write.
type Size struct {
	Entries int   // directories, regular files and symlinks, the root not included
	Files   int   // regular files
	Data    int64 // bytes in regular files
	Archive int64 // bytes of the tar stream
}

// endOfArchive is the length of the end-of-archive marker, two zero
// blocks, that tar.Writer.Close writes.
const endOfArchive = 2 * blockSize

// Measure walks the tree at root as [Write] would, with the same options,
// reading metadata only (directory listings and lstat, never file data),
// and returns what Write would store. For a tree that does not change in
// between, Size.Archive is the exact length of Write's output; a tree that
// changes makes it an estimate. opts.OnSkip is not called. Errors are
// those Write would return for the same tree; when ctx is done Measure
// stops and returns ctx.Err().
func Measure(ctx context.Context, root string, opts Options) (Size, error) {
	var size Size
	err := walkTree(ctx, &treeWriter{size: &size}, root, opts)
	return size, err
}

// add counts the entry h: its header blocks, PAX extended header included,
// exactly as tar.Writer encodes them, and its data padded to whole blocks.
func (s *Size) add(h *tar.Header) error {
	var n countingWriter
	// A writer of its own per header: tar.Writer refuses the next header
	// until the data announced by this one has been written.
	if err := tar.NewWriter(&n).WriteHeader(h); err != nil {
		return err
	}
	s.Entries++
	if h.Typeflag == tar.TypeReg {
		s.Files++
		s.Data += h.Size
	}
	s.Archive += int64(n) + (h.Size+blockSize-1)/blockSize*blockSize
	return nil
}

// countingWriter counts and discards what is written to it.
type countingWriter int64

func (c *countingWriter) Write(p []byte) (int, error) {
	*c += countingWriter(len(p))
	return len(p), nil
}
