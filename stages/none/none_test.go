package none_test

import (
	"testing"

	"github.com/sluice-backup/sluice/pipeline"
	"github.com/sluice-backup/sluice/pipeline/stagetest"
	"github.com/sluice-backup/sluice/stages/none"
)

func TestConformance(t *testing.T) {
	stagetest.Run(t, stagetest.Harness{Spec: none.Spec, Opaque: true, New: func(t *testing.T) pipeline.Stage {
		return stagetest.Build(t, none.Spec, nil)
	}})
}
