package s2_test

import (
	"testing"

	"github.com/sluice-backup/sluice/pipeline"
	"github.com/sluice-backup/sluice/pipeline/stagetest"
	"github.com/sluice-backup/sluice/stages/s2"
)

func TestConformance(t *testing.T) {
	stagetest.Run(t, stagetest.Harness{Spec: s2.Spec, Opaque: false, New: func(t *testing.T) pipeline.Stage {
		o, err := pipeline.ParseOptions(s2.Spec.Options, nil)
		if err != nil {
			t.Fatal(err)
		}
		st, err := s2.Spec.New(o)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}})
}
