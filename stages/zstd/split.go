package zstd

import (
	"bufio"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"slices"

	"github.com/klauspost/compress/zstd"

	"github.com/sluice-backup/sluice/pipeline"
)

// Frame layout (RFC 8878, section 3.1).
const (
	frameMagic     = 0xFD2FB528
	skippableMagic = 0x184D2A50 // the low four bits are free
	skippableMask  = 0xFFFFFFF0
	// maxBlockSize is the largest Block_Maximum_Size: no block holds or
	// decompresses to more.
	maxBlockSize = 128 << 10
)

// frameKind says what [splitter.next] found.
type frameKind int

const (
	// kindFrame: buf holds one whole zstd frame that decompresses to at
	// most the returned size, which is at most the splitter's limit.
	kindFrame frameKind = iota
	// kindSkip: a skippable frame was read and dropped.
	kindSkip
	// kindEnd: the stream ended cleanly at a frame boundary.
	kindEnd
	// kindStream: what follows is not for the parallel decoder (a frame
	// too large, of unknown size, with a dictionary, truncated, damaged,
	// or not a frame at all). buf holds the bytes read of it; they and
	// the rest of the reader go to the streaming decoder, which decodes
	// or rejects them exactly as it would have without the splitter.
	kindStream
)

// splitter cuts a zstd stream into whole frames by walking frame and block
// headers, without decompressing anything.
type splitter struct {
	r   *bufio.Reader
	src *srcReader // what r reads
	// limit bounds the decompressed size of the frames next returns as
	// kindFrame; their compressed size is bounded by limit + limit/16.
	limit int
	// frames counts the frames read, so an empty stream is told apart
	// from one that ends after its last frame.
	frames int
	// off is the stream offset of the next frame, for error messages.
	off int64
}

// errShort marks input that ended inside a frame.
var errShort = io.ErrUnexpectedEOF

func newSplitter(src io.Reader, limit int) *splitter {
	sr := &srcReader{r: src}
	return &splitter{r: bufio.NewReaderSize(sr, 16<<10), src: sr, limit: limit}
}

// srcReader remembers the source's first error other than io.EOF, so a
// source that fails with io.ErrUnexpectedEOF is not taken for a stream
// that ends inside a frame.
type srcReader struct {
	r   io.Reader
	err error
}

func (s *srcReader) Read(p []byte) (int, error) {
	n, err := s.r.Read(p)
	if err != nil && err != io.EOF && s.err == nil {
		s.err = err
	}
	return n, err
}

// next reads the next frame, appending its bytes to buf[:0]. Errors are
// the reader's (never io.EOF) or an integrity error for a truncated
// skippable frame, whose bytes are not kept to be replayed.
func (s *splitter) next(buf []byte) (_ []byte, kind frameKind, size int, err error) {
	buf = buf[:0]
	// fill appends n more bytes of the frame to buf.
	fill := func(n int) error {
		buf = slices.Grow(buf, n)
		k, err := io.ReadFull(s.r, buf[len(buf):len(buf)+n])
		buf = buf[:len(buf)+k]
		switch {
		case err == nil:
		case s.src.err != nil:
			err = s.src.err
		case err == io.EOF:
			err = errShort
		}
		return err
	}
	// stop ends the frame: a short read hands it to the streaming
	// decoder, any other read error is the caller's.
	stop := func(err error) ([]byte, frameKind, int, error) {
		if s.src.err != nil || err != errShort {
			return nil, 0, 0, err
		}
		return buf, kindStream, 0, nil
	}

	if err := fill(4); err != nil {
		if len(buf) == 0 && s.frames > 0 && err == errShort && s.src.err == nil {
			return buf, kindEnd, 0, nil
		}
		return stop(err)
	}
	magic := binary.LittleEndian.Uint32(buf)
	if magic&skippableMask == skippableMagic {
		if err := fill(4); err != nil {
			return stop(err)
		}
		n := int(binary.LittleEndian.Uint32(buf[4:]))
		if k, err := s.r.Discard(n); err != nil {
			if s.src.err != nil {
				return nil, 0, 0, s.src.err
			}
			if err == io.EOF {
				return nil, 0, 0, fmt.Errorf("%s: %w: stream truncated in a skippable frame at byte %d", Name, pipeline.ErrIntegrity, s.off)
			}
			return nil, 0, 0, err
		} else {
			s.off += int64(8 + k)
		}
		s.frames++
		return buf[:0], kindSkip, 0, nil
	}
	if magic != frameMagic {
		return buf, kindStream, 0, nil
	}

	// Frame_Header_Descriptor: FCS flag (2 bits), single segment, unused,
	// reserved (must be 0), checksum, dictionary ID flag (2 bits).
	if err := fill(1); err != nil {
		return stop(err)
	}
	fhd := buf[4]
	if fhd&0x08 != 0 || fhd&0x03 != 0 {
		// Reserved bit set, or a dictionary we do not have: let the
		// streaming decoder report it.
		return buf, kindStream, 0, nil
	}
	single := fhd&0x20 != 0
	fcsLen := [4]int{0, 2, 4, 8}[fhd>>6]
	if fcsLen == 0 && single {
		fcsLen = 1
	}
	var window int
	if !single {
		window = 1
	}
	if err := fill(window + fcsLen); err != nil {
		return stop(err)
	}
	if window > 0 && windowSize(buf[5]) > zstd.MaxWindowSize {
		return nil, 0, 0, errWindowTooLarge(windowSize(buf[5]), s.off)
	}
	if window > 0 && windowSize(buf[5]) > s.limit {
		// A window the parallel decoder would refuse (its memory limit
		// is limit), however small the frame: the streaming decoder
		// takes windows up to 512 MiB.
		return buf, kindStream, 0, nil
	}
	fcs := -1
	if fcsLen > 0 {
		var v uint64
		for i, b := range buf[len(buf)-fcsLen:] {
			v |= uint64(b) << (8 * i)
		}
		if fcsLen == 2 {
			v += 256
		}
		if v > uint64(s.limit) {
			return buf, kindStream, 0, nil
		}
		fcs = int(v)
		// Room for the frame as stored incompressible (raw blocks), so
		// a fresh buffer is not regrown block by block.
		buf = slices.Grow(buf, fcs+3*(fcs/maxBlockSize+1)+4)
	}

	// Blocks: a 3-byte little-endian header (last-block flag, 2-bit type,
	// 21-bit size), then the content. bound is the most the blocks so far
	// can decompress to.
	bound := 0
	for {
		if err := fill(3); err != nil {
			return stop(err)
		}
		h := buf[len(buf)-3:]
		bh := uint32(h[0]) | uint32(h[1])<<8 | uint32(h[2])<<16
		bsize := int(bh >> 3)
		if bsize > maxBlockSize {
			return buf, kindStream, 0, nil
		}
		content := bsize
		switch (bh >> 1) & 3 {
		case 0: // raw
			bound += bsize
		case 1: // RLE: one byte, repeated bsize times
			bound += bsize
			content = 1
		case 2: // compressed
			bound += maxBlockSize
		default: // reserved
			return buf, kindStream, 0, nil
		}
		if fcs < 0 && bound > s.limit || len(buf)+content > s.limit+s.limit/16 {
			return buf, kindStream, 0, nil
		}
		if err := fill(content); err != nil {
			return stop(err)
		}
		if bh&1 != 0 {
			break
		}
	}
	if fhd&0x04 != 0 {
		if err := fill(4); err != nil {
			return stop(err)
		}
	}
	s.frames++
	s.off += int64(len(buf))
	if fcs >= 0 {
		bound = min(bound, fcs)
	}
	return buf, kindFrame, bound, nil
}

// errWindowTooLarge is the error for an intact frame at offset off whose
// window (zstd --long=30 or more) is larger than any decoder here takes.
// klauspost's streaming decoder would call it "window size exceeded",
// which reads like damage; it wraps [errors.ErrUnsupported], not
// [pipeline.ErrIntegrity]. `zstd -d` refuses such a frame too unless
// given the same --long.
func errWindowTooLarge(window int, off int64) error {
	return fmt.Errorf("%s: the frame at byte %d needs a %d MiB window, more than the %d MiB sluice decodes (written with zstd --long=30 or more?); decode it with zstd -d --long=31 (%w)",
		Name, off, window>>20, zstd.MaxWindowSize>>20, errors.ErrUnsupported)
}

// windowSize decodes a Window_Descriptor byte (RFC 8878, 3.1.1.1.2).
func windowSize(wd byte) int {
	base := 1 << (10 + int(wd>>3))
	return base + base/8*int(wd&7)
}
