package zstd_test

import (
	"testing"

	"github.com/sluice-backup/sluice/pipeline"
	"github.com/sluice-backup/sluice/pipeline/stagetest"
	"github.com/sluice-backup/sluice/stages/zstd"
)

func TestConformance(t *testing.T) {
	for _, raw := range []map[string]any{nil, {"level": 1, "concurrency": 1}, {"level": 19}, {"frame_size": 0}, {"frame_size": zstd.MinFrameSize, "concurrency": 3}} {
		stagetest.Run(t, stagetest.Harness{Spec: zstd.Spec, New: func(t *testing.T) pipeline.Stage {
			return stagetest.Build(t, zstd.Spec, raw)
		}})
	}
}

func TestBadLevel(t *testing.T) {
	o, _ := pipeline.ParseOptions(zstd.Spec.Options, map[string]any{"level": 23})
	if _, err := zstd.New(o); err == nil {
		t.Fatal("level 23 accepted")
	}
}
