package pipeline_test

import (
	"bytes"
	"compress/gzip"
	"encoding/json"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"gocloud.dev/blob"

	"github.com/sluice-backup/sluice/backends"
	"github.com/sluice-backup/sluice/pipeline"
	"github.com/sluice-backup/sluice/pipeline/stagetest"
)

// fileTarget opens a file:// target on a fresh folder, which keeps no
// metadata: restore takes the stages from the manifest alone.
func fileTarget(t *testing.T, reg *pipeline.Registry) (*pipeline.Target, string) {
	t.Helper()
	dir := t.TempDir()
	tg, err := backends.OpenTarget(t.Context(), reg, "file://"+dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { tg.Close() })
	return tg, dir
}

// ageKeys writes fuzzIdentity to a file and returns its recipient and the
// decoding keys that name the file.
func ageKeys(t *testing.T) (string, pipeline.Keys) {
	t.Helper()
	id, err := age.ParseX25519Identity(fuzzIdentity)
	if err != nil {
		t.Fatal(err)
	}
	path := filepath.Join(t.TempDir(), "key.txt")
	if err := os.WriteFile(path, []byte(fuzzIdentity+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return id.Recipient().String(), pipeline.Keys{"age": {"identity_file": []string{path}}}
}

// backupTo stores data on tg under name with the given stages (age to
// recipient) and returns the object's name, extensions included.
func backupTo(t *testing.T, reg *pipeline.Registry, tg *pipeline.Target, name, recipient string, data []byte, stages ...string) string {
	t.Helper()
	var chain []pipeline.ChainStage
	for _, s := range stages {
		var opts map[string]any
		if s == "age" {
			opts = map[string]any{"recipient": []string{recipient}}
		}
		st, err := reg.NewStage(s, opts)
		if err != nil {
			t.Fatal(err)
		}
		spec, _ := reg.Stage(s)
		chain = append(chain, pipeline.ChainStage{Spec: spec, Stage: st})
	}
	b := &pipeline.Backup{
		Source: pipeline.StreamSource("stdin", bytes.NewReader(data), -1), Stages: chain,
		Targets: []*pipeline.Target{tg}, Name: name, ExpectedSize: -1,
	}
	res, err := b.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	return res.Object
}

// setManifestStages rewrites the "stages" of the manifest in dir for
// object name to the JSON value stages, leaving the rest as it was.
func setManifestStages(t *testing.T, dir, name, stages string) {
	t.Helper()
	setManifestField(t, dir, name, "stages", stages)
}

// setManifestField rewrites field of the manifest in dir for object name
// to the JSON value v, leaving the rest as it was.
func setManifestField(t *testing.T, dir, name, field, v string) {
	t.Helper()
	path := filepath.Join(dir, name+pipeline.ManifestSuffix)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]json.RawMessage
	if err := json.Unmarshal(b, &m); err != nil {
		t.Fatal(err)
	}
	m[field] = json.RawMessage(v)
	if b, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRestoreRefusesTamperedStages: the manifest is not authenticated, so
// a stage list cut short, reordered or replaced must fail restore and
// verify with ErrIntegrity, leaving nothing at the destination, rather
// than restore still-compressed data or the ciphertext itself.
func TestRestoreRefusesTamperedStages(t *testing.T) {
	reg := testRegistry()
	recipient, keys := ageKeys(t)
	data := stagetest.Data(300<<10, 3)
	for stages, want := range map[string]string{
		`["age"]`:              "the stages recorded for it (age) decode it to",
		`[]`:                   "the stages recorded for it (none) decode it to",
		`null`:                 "the stages recorded for it (none) decode it to",
		`["zstd"]`:             "its name says zstd,age but its manifest records zstd",
		`["age","zstd"]`:       "its name says zstd,age but its manifest records age,zstd",
		`["gzip","age"]`:       "its name says zstd,age but its manifest records gzip,age",
		`["tar","zstd","age"]`: "its name says zstd,age but its manifest records tar,zstd,age",
	} {
		t.Run(stages, func(t *testing.T) {
			tg, dir := fileTarget(t, reg)
			name := backupTo(t, reg, tg, "data.txt", recipient, data, "zstd", "age")
			setManifestStages(t, dir, name, stages)
			d := &pipeline.Decoder{Registry: reg, Keys: keys}
			parent := filepath.Join(t.TempDir(), "new")
			dest := filepath.Join(parent, "out")
			_, err := d.RestoreTo(t.Context(), tg, name, dest, nil)
			if !errors.Is(err, pipeline.ErrIntegrity) || !strings.Contains(err.Error(), want) {
				t.Fatalf("restore: %v, want ErrIntegrity and %q", err, want)
			}
			if _, err := os.Lstat(parent); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("a failed restore left %s: %v", parent, err)
			}
			if _, err := d.RestoreTo(t.Context(), tg, name, "-", io.Discard); !errors.Is(err, pipeline.ErrIntegrity) {
				t.Errorf("restore to stdout: %v, want ErrIntegrity", err)
			}
			if err := pipeline.VerifyDecoded(t.Context(), d, tg, name); !errors.Is(err, pipeline.ErrIntegrity) || !strings.Contains(err.Error(), want) {
				t.Errorf("verify: %v, want ErrIntegrity and %q", err, want)
			}
		})
	}
}

// TestRestoreNameMayPromiseMore: a name given to backup may itself end in
// a stage extension ("{source}" of a .gz file); the stored bytes are then
// restored as they were backed up, not decoded further.
func TestRestoreNameMayPromiseMore(t *testing.T) {
	reg := testRegistry()
	recipient, keys := ageKeys(t)
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(stagetest.Data(64<<10, 4))
	zw.Close()
	for _, stages := range [][]string{{"zstd", "age"}, {"age"}, nil} {
		label := strings.Join(stages, ",")
		if label == "" {
			label = "no stage"
		}
		t.Run(label, func(t *testing.T) {
			tg, _ := fileTarget(t, reg)
			name := backupTo(t, reg, tg, "dump.sql.gz", recipient, gz.Bytes(), stages...)
			d := &pipeline.Decoder{Registry: reg, Keys: keys}
			dest := filepath.Join(t.TempDir(), "out")
			if _, err := d.RestoreTo(t.Context(), tg, name, dest, nil); err != nil {
				t.Fatal(err)
			}
			if got, _ := os.ReadFile(dest); !bytes.Equal(got, gz.Bytes()) {
				t.Fatalf("restored %d bytes, not the %d gzip bytes backed up", len(got), gz.Len())
			}
			if err := pipeline.VerifyDecoded(t.Context(), d, tg, name); err != nil {
				t.Fatal(err)
			}
		})
	}
}

// TestRecordedMetadataChecked: stages recorded in metadata (S3, GCS,
// Azure) are held to the name the same way.
func TestRecordedMetadataChecked(t *testing.T) {
	reg := testRegistry()
	tg := memTarget(t, "meta")
	ctx := t.Context()
	if err := tg.Bucket.WriteAll(ctx, "x.zst", []byte("data"), &blob.WriterOptions{Metadata: map[string]string{pipeline.MetaStages: "gzip"}}); err != nil {
		t.Fatal(err)
	}
	d := &pipeline.Decoder{Registry: reg}
	_, err := d.Open(ctx, tg, "x.zst")
	if !errors.Is(err, pipeline.ErrIntegrity) || !strings.Contains(err.Error(), "its name says zstd but its metadata records gzip") {
		t.Fatalf("Open: %v", err)
	}
}

// TestFailedRestoreRemovesFoldersItMade: the folders a restore creates
// for its destination go again when it fails, deepest first; folders that
// existed, or that hold something else by then, stay.
func TestFailedRestoreRemovesFoldersItMade(t *testing.T) {
	reg := testRegistry()
	recipient, keys := ageKeys(t)
	tg, dir := fileTarget(t, reg)
	ctx := t.Context()
	file := backupTo(t, reg, tg, "data", recipient, stagetest.Data(300<<10, 5), "zstd", "age")
	path := filepath.Join(dir, file)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// An archive that is not one fails in extraction.
	if err := os.WriteFile(filepath.Join(dir, "tree.tar"), []byte("not a tar archive"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "tree.tar.sluice.json"), []byte(`{"format":"sluice/1","object":"tree.tar","stages":["tar"],"size":17,"sha256":"x"}`), 0o644); err != nil {
		t.Fatal(err)
	}
	d := &pipeline.Decoder{Registry: reg, Keys: keys}
	for _, name := range []string{file, "tree.tar"} {
		t.Run(name, func(t *testing.T) {
			base := t.TempDir()
			dest := filepath.Join(base, "a", "b", "c", "out")
			if _, err := d.RestoreTo(ctx, tg, name, dest, nil); err == nil {
				t.Fatal("restore of a damaged object succeeded")
			}
			if _, err := os.Lstat(filepath.Join(base, "a")); !errors.Is(err, os.ErrNotExist) {
				t.Errorf("folders made for the destination were left: %v", err)
			}
			if _, err := os.Stat(base); err != nil {
				t.Errorf("a folder that existed was removed: %v", err)
			}
		})
	}
}

// TestDamageBlamesItsLayer: damage in the first chunk of an age layer is
// reported as age's, not as the gzip stage's above it, whose decoder
// reads its header as soon as it starts.
func TestDamageBlamesItsLayer(t *testing.T) {
	reg := testRegistry()
	recipient, keys := ageKeys(t)
	tg, dir := fileTarget(t, reg)
	name := backupTo(t, reg, tg, "data.txt", recipient, stagetest.Data(20<<10, 5), "gzip", "age")
	path := filepath.Join(dir, name)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)-20] ^= 1 // inside the one payload chunk
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	d := &pipeline.Decoder{Registry: reg, Keys: keys}
	_, err = d.RestoreTo(t.Context(), tg, name, "-", io.Discard)
	if !errors.Is(err, pipeline.ErrIntegrity) || strings.Contains(err.Error(), `stage "gzip"`) || !strings.Contains(err.Error(), "age") {
		t.Fatalf("restore: %v, want an integrity error of age's, not gzip's", err)
	}
}

// TestRestoreDamagedManifest: a manifest that cannot be parsed stops the
// restore of an intact object, with an error that says how to go on;
// once the manifest is moved aside, the object restores by its name's
// extensions and magic bytes.
func TestRestoreDamagedManifest(t *testing.T) {
	reg := testRegistry()
	recipient, keys := ageKeys(t)
	tg, dir := fileTarget(t, reg)
	data := stagetest.Data(100<<10, 5)
	name := backupTo(t, reg, tg, "data.bin", recipient, data, "zstd", "age")
	manifest := filepath.Join(dir, name+pipeline.ManifestSuffix)
	if err := os.WriteFile(manifest, []byte("{garbage\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	d := &pipeline.Decoder{Registry: reg, Keys: keys}
	dest := filepath.Join(t.TempDir(), "out")
	_, err := d.RestoreTo(t.Context(), tg, name, dest, nil)
	if err == nil || !strings.Contains(err.Error(), "move the manifest ("+tg.ObjectURL(name+pipeline.ManifestSuffix)+") aside") {
		t.Fatalf("restore with a damaged manifest: %v, want a refusal saying to move the manifest aside", err)
	}
	if _, err := os.Lstat(dest); !os.IsNotExist(err) {
		t.Fatalf("a refused restore left %s: %v", dest, err)
	}
	if err := os.Rename(manifest, filepath.Join(t.TempDir(), "aside.json")); err != nil {
		t.Fatal(err)
	}
	if _, err := d.RestoreTo(t.Context(), tg, name, dest, nil); err != nil {
		t.Fatalf("restore with the manifest moved aside: %v", err)
	}
	if got, err := os.ReadFile(dest); err != nil || !bytes.Equal(got, data) {
		t.Fatalf("restored %d bytes (%v), want the %d backed up", len(got), err, len(data))
	}
}
