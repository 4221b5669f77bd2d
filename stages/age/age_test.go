package age_test

import (
	"bytes"
	"crypto/ed25519"
	"crypto/rand"
	"encoding/pem"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
	"golang.org/x/crypto/ssh"

	"github.com/sluice-backup/sluice/pipeline"
	"github.com/sluice-backup/sluice/pipeline/stagetest"
	agestage "github.com/sluice-backup/sluice/stages/age"
)

func newStage(t *testing.T, raw map[string]any) pipeline.Stage {
	t.Helper()
	return stagetest.Build(t, agestage.Spec, raw)
}

func writeFile(t *testing.T, name, content string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, []byte(content), 0o600); err != nil {
		t.Fatal(err)
	}
	return p
}

func x25519(t *testing.T) (idFile, recipient string) {
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	return writeFile(t, "key.txt", "# test\n"+id.String()+"\n"), id.Recipient().String()
}

func TestConformanceX25519(t *testing.T) {
	idFile, rec := x25519(t)
	stagetest.Run(t, stagetest.Harness{Spec: agestage.Spec, New: func(t *testing.T) pipeline.Stage {
		return newStage(t, map[string]any{"recipient": rec, "identity_file": idFile})
	}})
}

func TestConformancePassphrase(t *testing.T) {
	t.Setenv("SLUICE_TEST_PASS", "correct horse battery staple")
	stagetest.Run(t, stagetest.Harness{Spec: agestage.Spec, New: func(t *testing.T) pipeline.Stage {
		return newStage(t, map[string]any{"passphrase_env": "SLUICE_TEST_PASS", "work_factor": 10})
	}})
}

func TestSSHEd25519(t *testing.T) {
	pub, priv, err := ed25519.GenerateKey(rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	sshPub, err := ssh.NewPublicKey(pub)
	if err != nil {
		t.Fatal(err)
	}
	block, err := ssh.MarshalPrivateKey(priv, "")
	if err != nil {
		t.Fatal(err)
	}
	keyFile := writeFile(t, "id_ed25519", string(pem.EncodeToMemory(block)))
	recFile := writeFile(t, "recipients.txt", "# ssh\n"+string(ssh.MarshalAuthorizedKey(sshPub)))
	enc := newStage(t, map[string]any{"recipients_file": recFile})
	dec := newStage(t, map[string]any{"identity_file": keyFile})
	plain := stagetest.Data(100<<10, 1)
	got, err := stagetest.Decode(dec, stagetest.Encode(t, enc, plain))
	if err != nil || !bytes.Equal(got, plain) {
		t.Fatalf("ssh round trip: %v", err)
	}
}

func TestWrongKey(t *testing.T) {
	_, rec := x25519(t)
	otherID, _ := x25519(t)
	enc := newStage(t, map[string]any{"recipient": rec})
	dec := newStage(t, map[string]any{"identity_file": otherID})
	_, err := stagetest.Decode(dec, stagetest.Encode(t, enc, []byte("secret")))
	if !errors.Is(err, pipeline.ErrNoIdentity) {
		t.Fatalf("wrong key: got %v, want ErrNoIdentity", err)
	}
}

func TestWrongPassphrase(t *testing.T) {
	t.Setenv("P1", "first-Passphrase-x9")
	t.Setenv("P2", "second-Passphrase-y8")
	enc := newStage(t, map[string]any{"passphrase_env": "P1", "work_factor": 10})
	dec := newStage(t, map[string]any{"passphrase_env": "P2"})
	_, err := stagetest.Decode(dec, stagetest.Encode(t, enc, []byte("secret")))
	if !errors.Is(err, pipeline.ErrNoIdentity) {
		t.Fatalf("wrong passphrase: got %v, want ErrNoIdentity", err)
	}
	if strings.Contains(err.Error(), "Passphrase-") {
		t.Fatalf("error leaks a passphrase: %v", err)
	}
}

func TestNoKeys(t *testing.T) {
	st := newStage(t, nil)
	if _, err := st.Encode(t.Context(), strings.NewReader("x")); !errors.Is(err, pipeline.ErrNoRecipient) {
		t.Fatalf("encode without recipient: %v", err)
	}
	if _, err := st.Decode(t.Context(), strings.NewReader("x")); !errors.Is(err, pipeline.ErrNoIdentity) {
		t.Fatalf("decode without identity: %v", err)
	}
}

// TestCheckEncode: a stage built to restore, with identities only, says
// before any data moves that it cannot encrypt, and which options would
// let it.
func TestCheckEncode(t *testing.T) {
	idFile, rec := x25519(t)
	err := pipeline.CheckEncode(newStage(t, map[string]any{"identity_file": idFile}))
	if !errors.Is(err, pipeline.ErrNoRecipient) || !strings.Contains(err.Error(), "recipients_file") || !strings.Contains(err.Error(), "identity_file only decrypts") {
		t.Fatalf("identities only: %v", err)
	}
	if err := pipeline.CheckEncode(newStage(t, nil)); !errors.Is(err, pipeline.ErrNoRecipient) {
		t.Fatalf("no keys: %v", err)
	}
	t.Setenv("SLUICE_TEST_PASS", "correct horse battery staple")
	for _, raw := range []map[string]any{{"recipient": rec}, {"passphrase_env": "SLUICE_TEST_PASS"}} {
		if err := pipeline.CheckEncode(newStage(t, raw)); err != nil {
			t.Fatalf("%v: %v", raw, err)
		}
	}
}

func TestBadReferencesNeverLeak(t *testing.T) {
	id, _ := age.GenerateX25519Identity()
	secret := id.String()
	cases := map[string]map[string]any{
		"private key as recipient": {"recipient": secret},
		"identity file garbage":    {"identity_file": writeFile(t, "bad.txt", secret+"x\n")},
		"recipients file of keys":  {"recipients_file": writeFile(t, "r.txt", secret+"\n")},
		"unset passphrase var":     {"passphrase_env": "SLUICE_SURELY_UNSET"},
		"missing identity file":    {"identity_file": "/nonexistent/key.txt"},
	}
	for name, raw := range cases {
		o, err := pipeline.ParseOptions(agestage.Spec.Options, raw)
		if err != nil {
			t.Fatal(err)
		}
		_, err = agestage.New(o)
		if err == nil {
			t.Errorf("%s: accepted", name)
			continue
		}
		if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), secret[20:40]) {
			t.Errorf("%s: error leaks the key: %v", name, err)
		}
	}
}

func TestArmoredInput(t *testing.T) {
	idFile, rec := x25519(t)
	r, _ := age.ParseX25519Recipient(rec)
	var buf bytes.Buffer
	armorEncrypt(t, &buf, r, []byte("armored payload"))
	dec := newStage(t, map[string]any{"identity_file": idFile})
	if !agestage.Detect(buf.Bytes()) {
		t.Fatal("armored file not detected")
	}
	got, err := stagetest.Decode(dec, buf.Bytes())
	if err != nil || string(got) != "armored payload" {
		t.Fatalf("armored decode: %q %v", got, err)
	}
}

// TestWrongKindOfKey: when no key opens an object, the error says what
// kind of key the object was encrypted for and what kind was given, so a
// passphrase object given an identity file (or the reverse) is told
// apart from a wrong key of the right kind.
func TestWrongKindOfKey(t *testing.T) {
	idFile, rec := x25519(t)
	otherID, _ := x25519(t)
	t.Setenv("P1", "first-Passphrase-x9")
	t.Setenv("P2", "second-Passphrase-y8")
	toKey := stagetest.Encode(t, newStage(t, map[string]any{"recipient": rec}), []byte("secret"))
	toPass := stagetest.Encode(t, newStage(t, map[string]any{"passphrase_env": "P1", "work_factor": 10}), []byte("secret"))
	for _, c := range []struct {
		name   string
		object []byte
		keys   map[string]any
		want   string
	}{
		{"identity for passphrase", toPass, map[string]any{"identity_file": idFile}, "passphrase-encrypted, but only identity files were given (age X25519 keys)"},
		{"wrong passphrase", toPass, map[string]any{"passphrase_env": "P2"}, "incorrect passphrase"},
		{"passphrase for key", toKey, map[string]any{"passphrase_env": "P2"}, "encrypted to age X25519 keys, not with a passphrase"},
		{"wrong identity", toKey, map[string]any{"identity_file": otherID}, "none of the given keys opens this object (it is encrypted to age X25519 keys; the keys given are age X25519 keys)"},
	} {
		_, err := stagetest.Decode(newStage(t, c.keys), c.object)
		if !errors.Is(err, pipeline.ErrNoIdentity) || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%s: got %v, want ErrNoIdentity saying %q", c.name, err, c.want)
		}
	}
}

// TestRecipientsFileAsIdentity: a recipients file given as an identity
// file is named as such, not reported as an unknown identity type.
func TestRecipientsFileAsIdentity(t *testing.T) {
	_, rec := x25519(t)
	for name, content := range map[string]string{
		"age": "# recipients\n" + rec + "\n",
		"ssh": "ssh-ed25519 AAAAC3NzaC1lZDI1NTE5AAAAIEIOsmFKFX2dD8s4MhkeTQRRmMuZXnM1yPJtrbaE5sTs me@host\n",
	} {
		o, err := pipeline.ParseOptions(agestage.Spec.Options, map[string]any{"identity_file": writeFile(t, "rcpt.txt", content)})
		if err != nil {
			t.Fatal(err)
		}
		_, err = agestage.New(o)
		if err == nil || !strings.Contains(err.Error(), "is a recipients file (public keys), not an identity") {
			t.Errorf("%s recipients as identity: %v", name, err)
		}
	}
}

// TestWorkFactorRange: a passphrase backup's work factor must be one that
// age decrypts with (at most 22, its default limit): above it the backup
// could be restored by neither sluice nor `age -d`.
func TestWorkFactorRange(t *testing.T) {
	t.Setenv("P1", "first-Passphrase-x9")
	for wf, why := range map[int]string{9: "too cheap to guess", 23: "refuse to decrypt", 30: "refuse to decrypt"} {
		o, err := pipeline.ParseOptions(agestage.Spec.Options, map[string]any{"passphrase_env": "P1", "work_factor": wf})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := agestage.Spec.New(o); err == nil || !strings.Contains(err.Error(), "out of range 10..22") || !strings.Contains(err.Error(), why) {
			t.Errorf("work_factor %d: err %v, want out of range 10..22, %s", wf, err, why)
		}
	}
}
