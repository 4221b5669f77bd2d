package gzip_test

import (
	"bytes"
	"errors"
	"io"
	"slices"
	"strings"
	"testing"

	kgzip "github.com/klauspost/compress/gzip"

	"github.com/sluice-backup/sluice/pipeline"
	"github.com/sluice-backup/sluice/pipeline/stagetest"
	"github.com/sluice-backup/sluice/stages/gzip"
)

func TestConformance(t *testing.T) {
	stagetest.Run(t, stagetest.Harness{Spec: gzip.Spec, Opaque: false, New: func(t *testing.T) pipeline.Stage {
		return stagetest.Build(t, gzip.Spec, nil)
	}})
}

// gz returns the gzip members of each part, concatenated.
func gz(t *testing.T, parts ...string) []byte {
	t.Helper()
	var buf bytes.Buffer
	for _, p := range parts {
		zw := kgzip.NewWriter(&buf)
		zw.Write([]byte(p))
		if err := zw.Close(); err != nil {
			t.Fatal(err)
		}
	}
	return buf.Bytes()
}

func decode(t *testing.T, data []byte) ([]byte, error) {
	t.Helper()
	rc, err := stagetest.Build(t, gzip.Spec, nil).Decode(t.Context(), bytes.NewReader(data))
	if err != nil {
		return nil, err
	}
	defer rc.Close()
	return io.ReadAll(rc)
}

// TestTrailingZeros: zero padding after the last member (tape or dd
// blocking) is ignored, as gzip -d and tar -xz ignore it; other trailing
// bytes are still an integrity error.
func TestTrailingZeros(t *testing.T) {
	two := gz(t, "first ", "second")
	for _, pad := range []int{1, 511, 10240, 100 << 10} {
		got, err := decode(t, append(slices.Clone(two), make([]byte, pad)...))
		if err != nil || string(got) != "first second" {
			t.Errorf("%d zero bytes: %q, %v", pad, got, err)
		}
	}
	for name, data := range map[string][]byte{
		"zeros then data":   append(append(slices.Clone(two), make([]byte, 5000)...), 'x'),
		"garbage":           append(slices.Clone(two), "garbage"...),
		"zeros then member": append(append(slices.Clone(two), make([]byte, 10)...), gz(t, "third")...),
		"cut member header": append(slices.Clone(two), two[:5]...),
	} {
		got, err := decode(t, data)
		if !errors.Is(err, pipeline.ErrIntegrity) {
			t.Errorf("%s: %q, %v; want ErrIntegrity", name, got, err)
		}
		if want := "not a complete gzip member"; !strings.HasPrefix(name, "zeros") && (err == nil || !strings.Contains(err.Error(), want)) {
			t.Errorf("%s: %v, want it to say %q", name, err, want)
		}
	}
}
