package pipeline_test

import (
	"testing"

	"github.com/sluice-backup/sluice/pipeline"
)

func TestParseSize(t *testing.T) {
	for in, want := range map[string]int64{
		"0": 0, "1048576": 1 << 20, "512MiB": 512 << 20, " 40GB ": 40e9, "1.5KiB": 1536,
		"1TiB": 1 << 40, "16M": 16 << 20, "8MiB": 8 << 20, "8K": 8 << 10, "100B": 100, "2 GiB": 2 << 30,
		"8000000TiB": 8000000 << 40, "1e3": 1000,
	} {
		if got, err := pipeline.ParseSize(in); err != nil || got != want {
			t.Errorf("ParseSize(%q) = %d, %v; want %d", in, got, err, want)
		}
	}
	for _, in := range []string{"", "lots", "-1MiB", "MiB", "12XB", "NaN", "Inf", "1e30", "9223372036854775807", "8EiB", "8192PiB", "0x1p20", "1_000_000", "9000000TiB"} {
		if got, err := pipeline.ParseSize(in); err == nil {
			t.Errorf("ParseSize(%q) = %d, want an error", in, got)
		}
	}
}
