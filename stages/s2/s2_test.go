package s2_test

import (
	"testing"

	"github.com/sluice-backup/sluice/pipeline"
	"github.com/sluice-backup/sluice/pipeline/stagetest"
	"github.com/sluice-backup/sluice/stages/s2"
)

func TestConformance(t *testing.T) {
	stagetest.Run(t, stagetest.Harness{Spec: s2.Spec, Opaque: false, New: func(t *testing.T) pipeline.Stage {
		return stagetest.Build(t, s2.Spec, nil)
	}})
}
