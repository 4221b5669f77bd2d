package pipeline_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"slices"
	"testing"

	"github.com/klauspost/compress/zstd"

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

// TestOpenAllowsMoreThanNamed: without metadata or manifest, content may
// show more stages than the name promises ("backup.tar" holding a gzip'd
// tar, "data.gz" holding zstd over gzip), in the name's order, but not
// other ones ("x.zst" holding gzip). A single stream restored into a
// directory loses the extensions of the stages decoded.
func TestOpenAllowsMoreThanNamed(t *testing.T) {
	reg := testRegistry()
	ctx := t.Context()
	tg, err := backends.OpenTarget(ctx, reg, "mem://named-more/p", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	var tarball bytes.Buffer
	tw := tar.NewWriter(&tarball)
	if err := tw.WriteHeader(&tar.Header{Name: "f", Mode: 0o644, Size: 2, Typeflag: tar.TypeReg}); err != nil {
		t.Fatal(err)
	}
	tw.Write([]byte("hi"))
	tw.Close()
	gz := func(b []byte) []byte {
		var out bytes.Buffer
		w := gzip.NewWriter(&out)
		w.Write(b)
		w.Close()
		return out.Bytes()
	}
	objects := map[string][]byte{
		"backup.tar": gz(tarball.Bytes()),
		"data.gz":    zstdBytes(t, gz([]byte("data"))),
		"x.zst":      gz([]byte("data")),
	}
	for name, b := range objects {
		if err := tg.Bucket.WriteAll(ctx, tg.Key(name), b, nil); err != nil {
			t.Fatal(err)
		}
	}
	d := &pipeline.Decoder{Registry: reg}
	for name, want := range map[string][]string{"backup.tar": {"tar", "gzip"}, "data.gz": {"gzip", "zstd"}} {
		obj, err := d.Open(ctx, tg, name)
		if err != nil {
			t.Errorf("Open(%q): %v", name, err)
			continue
		}
		if !slices.Equal(obj.Stages, want) {
			t.Errorf("Open(%q) found %q, want %q", name, obj.Stages, want)
		}
		obj.Close()
	}
	if obj, err := d.Open(ctx, tg, "x.zst"); !errors.Is(err, pipeline.ErrIntegrity) {
		t.Errorf("Open(x.zst) holding gzip = %v, want ErrIntegrity", err)
		if obj != nil {
			obj.Close()
		}
	}
	dir := t.TempDir()
	out, err := d.RestoreTo(ctx, tg, "data.gz", dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	if b, err := os.ReadFile(filepath.Join(dir, "data")); err != nil || string(b) != "data" || out != filepath.Join(dir, "data") {
		t.Errorf("restored data.gz to %s: %q, %v; want %s holding data", out, b, err, filepath.Join(dir, "data"))
	}
}

// TestRestoreEmptyArchive: an archive holding no entries is only its
// end-of-archive marker (tar -cf - -T /dev/null). Without metadata or
// manifest it restores as an empty directory where the name promises tar;
// without such a name the zeros are a single stream, and zeros followed by
// anything else are no archive.
func TestRestoreEmptyArchive(t *testing.T) {
	reg := testRegistry()
	ctx := t.Context()
	tg, err := backends.OpenTarget(ctx, reg, "mem://empty-archive/p", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	damaged := make([]byte, 1024)
	damaged[600] = 1
	// An archive of two files whose first header and data block were
	// zeroed starts like an empty one: what follows the zeros tells.
	var two bytes.Buffer
	tw := tar.NewWriter(&two)
	for _, name := range []string{"a", "b"} {
		if err := tw.WriteHeader(&tar.Header{Name: name, Mode: 0o644, Size: 5, Typeflag: tar.TypeReg}); err != nil {
			t.Fatal(err)
		}
		tw.Write([]byte("hello"))
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	zeroed := two.Bytes()
	clear(zeroed[:1024])
	objects := map[string][]byte{
		"gnu.tar.zst":     zstdBytes(t, make([]byte, 10240)), // GNU tar's default blocking
		"marker.tar":      make([]byte, 1024),
		"zeros.zst":       zstdBytes(t, make([]byte, 1024)),
		"damaged.tar.zst": zstdBytes(t, damaged),
		"zeroed.tar":      zeroed,
	}
	for name, b := range objects {
		if err := tg.Bucket.WriteAll(ctx, tg.Key(name), b, nil); err != nil {
			t.Fatal(err)
		}
	}
	d := &pipeline.Decoder{Registry: reg}
	for _, name := range []string{"gnu.tar.zst", "marker.tar"} {
		dest := filepath.Join(t.TempDir(), "out")
		if _, err := d.RestoreTo(ctx, tg, name, dest, nil); err != nil {
			t.Errorf("RestoreTo(%s): %v", name, err)
			continue
		}
		if ents, err := os.ReadDir(dest); err != nil || len(ents) != 0 {
			t.Errorf("%s restored to %v, %v; want an empty directory", name, ents, err)
		}
	}
	obj, err := d.Open(ctx, tg, "zeros.zst")
	if err != nil {
		t.Fatalf("Open(zeros.zst): %v", err)
	}
	if obj.Archive || !slices.Equal(obj.Stages, []string{"zstd"}) {
		t.Errorf("zeros.zst opened as %q (archive %v), want a zstd stream", obj.Stages, obj.Archive)
	}
	obj.Close()
	for _, name := range []string{"damaged.tar.zst", "zeroed.tar"} {
		dest := filepath.Join(t.TempDir(), "out")
		if _, err := d.RestoreTo(ctx, tg, name, dest, nil); err == nil {
			t.Errorf("RestoreTo(%s) succeeded", name)
		} else if _, serr := os.Lstat(dest); serr == nil {
			t.Errorf("failed restore of %s (%v) left %s", name, err, dest)
		}
	}
	if err := pipeline.VerifyDecoded(ctx, d, tg, "zeroed.tar"); !errors.Is(err, pipeline.ErrIntegrity) {
		t.Errorf("Verify(zeroed.tar) = %v, want an integrity failure", err)
	}
}

// zstdBytes returns b compressed with zstd.
func zstdBytes(t *testing.T, b []byte) []byte {
	t.Helper()
	w, err := zstd.NewWriter(nil)
	if err != nil {
		t.Fatal(err)
	}
	defer w.Close()
	return w.EncodeAll(b, nil)
}
