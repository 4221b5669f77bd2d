package pipeline_test

import (
	"bytes"
	"errors"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/sluice-backup/sluice/pipeline"
	"github.com/sluice-backup/sluice/pipeline/stagetest"
)

// TestVerifyDecodedBlamesDamagedHeader damages the recipient stanza of an
// age header, which makes the right key look like a wrong one: verify
// with keys reports that the stored bytes no longer match the manifest,
// not that no key opens the object. With a wrong key on an intact object
// the key error stays.
func TestVerifyDecodedBlamesDamagedHeader(t *testing.T) {
	reg := testRegistry()
	recipient, keys := ageKeys(t)
	tg, dir := fileTarget(t, reg)
	name := backupTo(t, reg, tg, "data.txt", recipient, stagetest.Data(50<<10, 7), "zstd", "age")
	d := &pipeline.Decoder{Registry: reg, Keys: keys}
	if err := pipeline.VerifyDecoded(t.Context(), d, tg, name); err != nil {
		t.Fatalf("intact object: %v", err)
	}

	other, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	wrongPath := filepath.Join(t.TempDir(), "wrong.txt")
	if err := os.WriteFile(wrongPath, []byte(other.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	wrong := &pipeline.Decoder{Registry: reg, Keys: pipeline.Keys{"age": {"identity_file": []string{wrongPath}}}}
	const intact = "the stored object is intact (its size and SHA-256 match its manifest): the keys given do not fit it"
	if err := pipeline.VerifyDecoded(t.Context(), wrong, tg, name); !errors.Is(err, pipeline.ErrNoIdentity) || errors.Is(err, pipeline.ErrIntegrity) ||
		strings.Contains(err.Error(), "damaged") || !strings.Contains(err.Error(), intact) {
		t.Fatalf("wrong key, intact object: %v, want ErrNoIdentity saying the object is intact", err)
	}
	// No key for its encryption given at all (a key of another kind, or
	// none): intact, and nothing about keys that do not fit.
	nokey := &pipeline.Decoder{Registry: reg}
	if err := pipeline.VerifyDecoded(t.Context(), nokey, tg, name); !errors.Is(err, pipeline.ErrNoKey) ||
		!strings.Contains(err.Error(), "the stored object is intact") || strings.Contains(err.Error(), "do not fit") {
		t.Fatalf("no key, intact object: %v, want ErrNoKey saying the object is intact, no more", err)
	}

	path := filepath.Join(dir, name)
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	stanza := bytes.Index(b, []byte("-> X25519 "))
	if stanza < 0 {
		t.Fatalf("no X25519 stanza in %q", b[:100])
	}
	i := stanza + len("-> X25519 ") + 5
	b[i] = map[bool]byte{true: 'B', false: 'A'}[b[i] == 'A']
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	err = pipeline.VerifyDecoded(t.Context(), d, tg, name)
	if !errors.Is(err, pipeline.ErrIntegrity) || errors.Is(err, pipeline.ErrNoIdentity) ||
		!strings.Contains(err.Error(), "does not match the SHA-256 its manifest records: damaged or replaced") || strings.Contains(err.Error(), "intact") {
		t.Fatalf("damaged header: %v, want the manifest mismatch", err)
	}
	// Restore does not re-read the object, but says how to tell.
	_, err = d.RestoreTo(t.Context(), tg, name, "-", io.Discard)
	if !errors.Is(err, pipeline.ErrNoIdentity) || !strings.Contains(err.Error(), "the object may be damaged instead: verify "+tg.ObjectURL(name)+" without keys") {
		t.Fatalf("restore of the damaged header: %v, want a hint to verify", err)
	}
	// Without a manifest nothing tells a wrong key from damage.
	if err := os.Remove(path + pipeline.ManifestSuffix); err != nil {
		t.Fatal(err)
	}
	if err := pipeline.VerifyDecoded(t.Context(), wrong, tg, name); !errors.Is(err, pipeline.ErrNoIdentity) || strings.Contains(err.Error(), "intact") {
		t.Fatalf("wrong key, no manifest: %v, want ErrNoIdentity alone", err)
	}
}
