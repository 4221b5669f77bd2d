package fernet_test

import (
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-backup/sluice/pipeline"
	"github.com/sluice-backup/sluice/pipeline/stagetest"
	"github.com/sluice-backup/sluice/stages/fernet"
)

func newStage(t *testing.T, key string) pipeline.Stage {
	t.Helper()
	path := filepath.Join(t.TempDir(), "fernet.key")
	if err := os.WriteFile(path, []byte(key+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return stagetest.Build(t, fernet.Spec, map[string]any{"key_file": path})
}

func TestConformance(t *testing.T) {
	key := fernet.GenerateKey()
	stagetest.Run(t, stagetest.Harness{Spec: fernet.Spec, New: func(t *testing.T) pipeline.Stage { return newStage(t, key) }})
}

// TestVector decrypts the token from the Fernet specification's
// verify.json (github.com/fernet/spec), with its key.
func TestVector(t *testing.T) {
	const (
		token = "gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA=="
		key   = "cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4="
	)
	k, err := fernet.ParseKey(key)
	if err != nil {
		t.Fatal(err)
	}
	got, err := stagetest.Decode(fernet.NewWithKey(k), []byte(token))
	if err != nil {
		t.Fatal(err)
	}
	if string(got) != "hello" {
		t.Fatalf("got %q, want hello", got)
	}
}

func TestWrongKey(t *testing.T) {
	enc := stagetest.Encode(t, newStage(t, fernet.GenerateKey()), []byte("secret data"))
	_, err := stagetest.Decode(newStage(t, fernet.GenerateKey()), enc)
	if !errors.Is(err, pipeline.ErrNoIdentity) {
		t.Fatalf("wrong key: %v, want ErrNoIdentity", err)
	}
	if !strings.Contains(err.Error(), "wrong key") {
		t.Fatalf("error %q does not mention the key", err)
	}
}

func TestNoKey(t *testing.T) {
	o, _ := pipeline.ParseOptions(fernet.Spec.Options, nil)
	st, err := fernet.New(o)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := st.Decode(t.Context(), strings.NewReader("gAAAAA")); !errors.Is(err, pipeline.ErrNoIdentity) {
		t.Fatalf("decode without key: %v", err)
	}
	if _, err := st.Encode(t.Context(), strings.NewReader("x")); !errors.Is(err, pipeline.ErrNoRecipient) {
		t.Fatalf("encode without key: %v", err)
	}
	if err := pipeline.CheckEncode(st); !errors.Is(err, pipeline.ErrNoRecipient) || !strings.Contains(err.Error(), "key_file") {
		t.Fatalf("CheckEncode without key: %v", err)
	}
	if err := pipeline.CheckEncode(fernet.NewWithKey(&fernet.Key{})); err != nil {
		t.Fatalf("CheckEncode with a key: %v", err)
	}
}

func TestBadKeyFile(t *testing.T) {
	path := filepath.Join(t.TempDir(), "k")
	secret := "not-a-key-but-secret-looking-AAAAAAAAAAAAAAAA"
	os.WriteFile(path, []byte(secret), 0o600)
	_, err := fernet.ReadKeyFile(path)
	if err == nil || strings.Contains(err.Error(), secret) {
		t.Fatalf("err = %v: want an error that does not echo the file", err)
	}
}

// TestNothingBeforeVerify checks that a token whose HMAC fails releases
// no plaintext at all, even when only its last bytes are damaged.
func TestNothingBeforeVerify(t *testing.T) {
	st := newStage(t, fernet.GenerateKey())
	enc := stagetest.Encode(t, st, stagetest.Data(300<<10, 1))
	// Change one base64 character inside the MAC.
	bad := []byte(string(enc))
	i := len(bad) - 10
	if bad[i] == 'A' {
		bad[i] = 'B'
	} else {
		bad[i] = 'A'
	}
	got, err := stagetest.Decode(st, bad)
	if !errors.Is(err, pipeline.ErrIntegrity) || len(got) != 0 {
		t.Fatalf("released %d bytes, err %v", len(got), err)
	}
}

// FuzzDecode feeds arbitrary tokens to the decoder: it must never panic,
// and anything but an authentic token must fail with ErrIntegrity before
// releasing a byte.
func FuzzDecode(f *testing.F) {
	k, err := fernet.ParseKey("cw_0x689RpI-jtRR7oE8h_eQsKImvJapLeSbXpwF4e4=")
	if err != nil {
		f.Fatal(err)
	}
	st := fernet.NewWithKey(k)
	f.Add([]byte("gAAAAAAdwJ6wAAECAwQFBgcICQoLDA0ODy021cpGVWKZ_eEwCGM4BLLF_5CV9dOPmrhuVUPgJobwOz7JcbmrR64jVmpU4IwqDA=="))
	f.Add([]byte("gAAAAA"))
	f.Add([]byte{})
	f.Fuzz(func(t *testing.T, token []byte) {
		got, err := stagetest.Decode(st, token)
		if err != nil {
			if len(got) != 0 {
				t.Fatalf("released %d bytes before failing: %v", len(got), err)
			}
			if !errors.Is(err, pipeline.ErrIntegrity) {
				t.Fatalf("error %v does not wrap ErrIntegrity", err)
			}
		}
	})
}

// TestSpoolFailureIsLocal decodes a good token with $TMPDIR pointing
// nowhere: the spool cannot be made, which is this machine's problem, not
// the token's, and the error says where it looked.
func TestSpoolFailureIsLocal(t *testing.T) {
	st := newStage(t, fernet.GenerateKey())
	enc := stagetest.Encode(t, st, []byte("secret data"))
	dir := filepath.Join(t.TempDir(), "missing")
	t.Setenv("TMPDIR", dir)
	_, err := stagetest.Decode(st, enc)
	if !errors.Is(err, pipeline.ErrLocal) || errors.Is(err, pipeline.ErrIntegrity) || errors.Is(err, pipeline.ErrNoIdentity) ||
		!strings.Contains(err.Error(), dir) || !strings.Contains(err.Error(), "TMPDIR") {
		t.Fatalf("spool in a missing folder: %v, want ErrLocal naming %s", err, dir)
	}
}
