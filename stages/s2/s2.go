// Package s2 registers the "s2" compression stage: klauspost's S2, a faster
// Snappy extension, in its framed stream format.
package s2

import (
	"bytes"
	"context"
	"io"
	"runtime"

	"github.com/klauspost/compress/s2"

	"github.com/sluice-backup/sluice/pipeline"
)

// Name is the stage's registered name.
const Name = "s2"

// Spec describes the stage.
var Spec = pipeline.StageSpec{
	Name:      Name,
	Kind:      pipeline.Compression,
	Extension: ".s2",
	Help:      "S2 compression (Snappy-compatible stream format, very fast)",
	Options: []pipeline.OptionSpec{
		{Name: "better", Type: pipeline.Bool, Default: "false", Help: "trade speed for a better ratio"},
	},
	Detect: Detect,
	New:    New,
}

func init() { pipeline.Default.RegisterStage(Spec) }

var (
	s2Magic     = []byte("\xff\x06\x00\x00S2sTwO")
	snappyMagic = []byte("\xff\x06\x00\x00sNaPpY")
)

// Detect reports whether header starts with an S2 or Snappy stream identifier.
func Detect(header []byte) bool {
	return bytes.HasPrefix(header, s2Magic) || bytes.HasPrefix(header, snappyMagic)
}

// Stage is a configured s2 stage.
type Stage struct{ better bool }

var _ pipeline.Stage = (*Stage)(nil)

// New builds a stage from validated options.
func New(o pipeline.Options) (pipeline.Stage, error) {
	return &Stage{better: o.Bool("better")}, nil
}

// Encode compresses src.
func (s *Stage) Encode(ctx context.Context, src io.Reader) (io.ReadCloser, error) {
	return pipeline.PipeEncoder(ctx, src, func(dst io.Writer) (io.WriteCloser, error) {
		opts := []s2.WriterOption{s2.WriterConcurrency(runtime.GOMAXPROCS(0))}
		if s.better {
			opts = append(opts, s2.WriterBetterCompression())
		}
		return &headerWriter{w: s2.NewWriter(dst, opts...), dst: dst}, nil
	}), nil
}

// headerWriter makes the encoding of empty input a stream identifier
// rather than nothing, so every s2 object is recognisable and an empty
// object is distinguishable from a lost one.
type headerWriter struct {
	w     *s2.Writer
	dst   io.Writer
	wrote bool
}

func (h *headerWriter) Write(p []byte) (int, error) {
	if len(p) > 0 {
		h.wrote = true
	}
	return h.w.Write(p)
}

func (h *headerWriter) Close() error {
	if err := h.w.Close(); err != nil || h.wrote {
		return err
	}
	_, err := h.dst.Write(s2Magic)
	return err
}

// Decode decompresses src.
func (s *Stage) Decode(ctx context.Context, src io.Reader) (io.ReadCloser, error) {
	return pipeline.DecodeReader(ctx, Name, src, func(r io.Reader) (io.Reader, func(), error) {
		return s2.NewReader(r), nil, nil
	})
}
