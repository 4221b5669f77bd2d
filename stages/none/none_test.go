package none_test

import (
	"testing"

	"github.com/sluice-backup/sluice/pipeline"
	"github.com/sluice-backup/sluice/pipeline/stagetest"
	"github.com/sluice-backup/sluice/stages/none"
)

func TestConformance(t *testing.T) {
	stagetest.Run(t, stagetest.Harness{Spec: none.Spec, Opaque: true, New: func(t *testing.T) pipeline.Stage {
		o, err := pipeline.ParseOptions(none.Spec.Options, nil)
		if err != nil {
			t.Fatal(err)
		}
		st, err := none.Spec.New(o)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}})
}
