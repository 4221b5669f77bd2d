package gzip_test

import (
	"testing"

	"github.com/sluice-backup/sluice/pipeline"
	"github.com/sluice-backup/sluice/pipeline/stagetest"
	"github.com/sluice-backup/sluice/stages/gzip"
)

func TestConformance(t *testing.T) {
	stagetest.Run(t, stagetest.Harness{Spec: gzip.Spec, Opaque: false, New: func(t *testing.T) pipeline.Stage {
		return stagetest.Build(t, gzip.Spec, nil)
	}})
}
