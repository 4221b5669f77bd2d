// Package none registers the "none" stage, which passes data through
// unchanged. It exists so "--compress none" names a real choice.
package none

import (
	"context"
	"io"

	"github.com/sluice-backup/sluice/pipeline"
)

// Name is the stage's registered name.
const Name = "none"

// Spec describes the stage.
var Spec = pipeline.StageSpec{
	Name: Name,
	Kind: pipeline.Compression,
	Help: "no compression: data passes through unchanged",
	New:  func(pipeline.Options) (pipeline.Stage, error) { return Stage{}, nil },
}

func init() { pipeline.Default.RegisterStage(Spec) }

// Stage passes data through.
type Stage struct{}

var _ pipeline.Stage = Stage{}

// Encode returns src unchanged (wrapped so Close does not close it).
func (Stage) Encode(ctx context.Context, src io.Reader) (io.ReadCloser, error) {
	return pipeline.ReaderFunc(pipeline.ContextReader(ctx, src), nil), nil
}

// Decode returns src unchanged (wrapped so Close does not close it).
func (Stage) Decode(ctx context.Context, src io.Reader) (io.ReadCloser, error) {
	return pipeline.ReaderFunc(pipeline.ContextReader(ctx, src), nil), nil
}
