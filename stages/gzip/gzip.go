// Package gzip registers the "gzip" compression stage (klauspost/compress's
// gzip, compatible with gzip -d).
package gzip

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"

	"github.com/klauspost/compress/gzip"

	"github.com/sluice-backup/sluice/pipeline"
)

// Name is the stage's registered name.
const Name = "gzip"

// Spec describes the stage.
var Spec = pipeline.StageSpec{
	Name:      Name,
	Kind:      pipeline.Compression,
	Extension: ".gz",
	Help:      "gzip compression; readable by gzip -d",
	Options: []pipeline.OptionSpec{
		{Name: "level", Type: pipeline.Int, Default: "6", Help: "compression level, 1 (fastest) to 9 (smallest)"},
	},
	Detect: Detect,
	New:    New,
}

func init() { pipeline.Default.RegisterStage(Spec) }

// Detect reports whether header starts with a gzip member using deflate.
func Detect(header []byte) bool {
	return len(header) >= 3 && header[0] == 0x1f && header[1] == 0x8b && header[2] == 8
}

// Stage is a configured gzip stage.
type Stage struct{ level int }

var _ pipeline.Stage = (*Stage)(nil)

// New builds a stage from validated options.
func New(o pipeline.Options) (pipeline.Stage, error) {
	level := o.Int("level")
	if level < 1 || level > 9 {
		return nil, fmt.Errorf("level %d out of range 1..9", level)
	}
	return &Stage{level: level}, nil
}

// Encode compresses src.
func (s *Stage) Encode(ctx context.Context, src io.Reader) (io.ReadCloser, error) {
	return pipeline.PipeEncoder(ctx, src, func(dst io.Writer) (io.WriteCloser, error) {
		return gzip.NewWriterLevel(dst, s.level)
	}), nil
}

// Decode decompresses src, reading concatenated members as one stream.
// Zero bytes after the last member, which tape and dd blocking leave, are
// ignored as gzip -d ignores them; any other bytes after a member must
// start another member.
func (s *Stage) Decode(ctx context.Context, src io.Reader) (io.ReadCloser, error) {
	return pipeline.DecodeReader(ctx, Name, src, func(r io.Reader) (io.Reader, func(), error) {
		// gzip.Reader reads a flate.Reader such as br byte by byte, so br
		// is left just after each member's trailer.
		br := bufio.NewReader(r)
		z, err := gzip.NewReader(br)
		if err != nil {
			return nil, nil, err
		}
		z.Multistream(false)
		return &members{br: br, z: z}, func() { z.Close() }, nil
	})
}

// members reads the gzip members of br one after another: klauspost's own
// multistream reading takes zero padding for a broken member header.
type members struct {
	br *bufio.Reader
	z  *gzip.Reader
}

func (m *members) Read(p []byte) (int, error) {
	for {
		n, err := m.z.Read(p)
		if err != io.EOF {
			return n, err
		}
		if n > 0 {
			// The member's end is seen again on the next Read.
			return n, nil
		}
		if err := m.next(); err != nil {
			return 0, err
		}
	}
}

// next starts the member that follows the one that ended, or returns
// io.EOF at the end of the input, zero padding included.
func (m *members) next() error {
	b, err := m.br.Peek(1)
	if len(b) == 0 {
		return err
	}
	if b[0] != 0 {
		if err := m.z.Reset(m.br); err != nil {
			// gzip -t says "trailing garbage ignored"; a restore does not
			// guess what such bytes were.
			return fmt.Errorf("gzip: the bytes after a member are not a complete gzip member (trailing garbage, or a cut member): %w", err)
		}
		m.z.Multistream(false)
		return nil
	}
	buf := make([]byte, 4096)
	for {
		n, err := m.br.Read(buf)
		if !isZero(buf[:n]) {
			return errors.New("gzip: data after the zero padding that follows the last member")
		}
		if err != nil {
			return err
		}
	}
}

func isZero(b []byte) bool {
	for _, c := range b {
		if c != 0 {
			return false
		}
	}
	return true
}
