package gzip_test

import (
	"testing"

	"github.com/sluice-backup/sluice/pipeline"
	"github.com/sluice-backup/sluice/pipeline/stagetest"
	"github.com/sluice-backup/sluice/stages/gzip"
)

func TestConformance(t *testing.T) {
	stagetest.Run(t, stagetest.Harness{Spec: gzip.Spec, Opaque: false, New: func(t *testing.T) pipeline.Stage {
		o, err := pipeline.ParseOptions(gzip.Spec.Options, nil)
		if err != nil {
			t.Fatal(err)
		}
		st, err := gzip.Spec.New(o)
		if err != nil {
			t.Fatal(err)
		}
		return st
	}})
}
