// Package gzip registers the "gzip" compression stage (klauspost/compress's
// gzip, compatible with gzip -d).
package gzip

import (
	"context"
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
func (s *Stage) Decode(ctx context.Context, src io.Reader) (io.ReadCloser, error) {
	return pipeline.DecodeReader(ctx, Name, src, func(r io.Reader) (io.Reader, func(), error) {
		z, err := gzip.NewReader(r)
		if err != nil {
			return nil, nil, err
		}
		return z, func() { z.Close() }, nil
	})
}
