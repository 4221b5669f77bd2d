package pipeline_test

import (
	"errors"
	"slices"
	"testing"

	"github.com/sluice-backup/sluice/backends"
	"github.com/sluice-backup/sluice/pipeline"
)

func TestStagesFromName(t *testing.T) {
	reg := testRegistry()
	for name, want := range map[string][]string{
		"db-20261129T042500Z.sql.zst.age": {"zstd", "age"},
		"photos-x.tar.zst.age":            {"tar", "zstd", "age"},
		"x.tar":                           {"tar"},
		"x.tar.gz":                        {"tar", "gzip"},
		"notes.txt":                       nil,
		"plain":                           nil,
		".zst":                            nil,
	} {
		if got := pipeline.StagesFromName(reg, name); !slices.Equal(got, want) {
			t.Errorf("StagesFromName(%q) = %q, want %q", name, got, want)
		}
	}
}

// TestOpenChecksNamedStages: without metadata or manifest (file:// keeps
// no metadata), an object whose content shows fewer stages than its name
// promises is refused; one whose name promises none opens as raw bytes.
func TestOpenChecksNamedStages(t *testing.T) {
	reg := testRegistry()
	ctx := t.Context()
	tg, err := backends.OpenTarget(ctx, reg, "mem://named-stages/p", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	for _, name := range []string{"empty.tar.zst", "raw.zst", "raw.bin"} {
		if err := tg.Bucket.WriteAll(ctx, tg.Key(name), []byte("not compressed at all"), nil); err != nil {
			t.Fatal(err)
		}
	}
	if err := tg.Bucket.WriteAll(ctx, tg.Key("empty.tar.zst"), nil, nil); err != nil {
		t.Fatal(err)
	}
	d := &pipeline.Decoder{Registry: reg}
	for _, name := range []string{"empty.tar.zst", "raw.zst"} {
		obj, err := d.Open(ctx, tg, name)
		if !errors.Is(err, pipeline.ErrIntegrity) {
			t.Errorf("Open(%q) = %v, want ErrIntegrity", name, err)
		}
		if obj != nil {
			obj.Close()
		}
	}
	obj, err := d.Open(ctx, tg, "raw.bin")
	if err != nil {
		t.Fatalf("Open(raw.bin): %v", err)
	}
	obj.Close()
}
