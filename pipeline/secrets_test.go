package pipeline_test

import (
	"bytes"
	"encoding/base64"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-backup/sluice/pipeline"
)

// fernetKey is a Fernet key as Fernet.generate_key() writes it.
const fernetKey = "hF7bfXN91lxR3mUqkVnZ0aTqZ3yWcE5Jd8oP1sLq2k4="

func TestSecretKind(t *testing.T) {
	cases := []struct {
		in, want string
	}{
		{"AGE-SECRET-KEY-1QQQQ", "an age secret key"},
		{"age-secret-key-1qqqq", "an age secret key"},
		{"/keys/AGE-SECRET-KEY-1QQQQ", "an age secret key"},
		{"AGE-PLUGIN-YUBIKEY-1QQQQ", "an age plugin identity"},
		{"-----BEGIN OPENSSH PRIVATE KEY-----\nb3Bl\n-----END OPENSSH PRIVATE KEY-----", "a PEM private key"},
		{fernetKey, "a Fernet key"},
		{fernetKey + "\n", "a Fernet key"},
		{" " + fernetKey + " ", "a Fernet key"},
		{"/etc/sluice/" + fernetKey, "a Fernet key"},
		{"KEY=" + fernetKey, "a Fernet key"},
		{"s3://b/p?token=" + fernetKey + "&x=1", "a Fernet key"},
		{"-_" + strings.Repeat("A", 41) + "=", "a Fernet key"},

		{"", ""},
		{"/etc/sluice/fernet.key", ""},
		{"age1qyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqszqgpqyqs3290gq", ""},
		{"SLUICE_PASSPHRASE", ""},
		// Unpadded: as long as many names of variables and files.
		{strings.TrimSuffix(fernetKey, "="), ""},
		{"SLUICE_PIPELINES_PRODUCTION_DB_PASSPHRASE_X", ""},
		{"/keys/backup-" + fernetKey, "a Fernet key"},
		{"{pipeline}-" + fernetKey, "a Fernet key"},
		// Wrong lengths or padding: not 32 bytes.
		{fernetKey[1:], ""},
		{"/keys/" + fernetKey[1:], ""},
		{fernetKey + "=", ""},
		{fernetKey + "A", ""},
		{strings.TrimSuffix(fernetKey, "=") + "A", ""},
		// Standard base64 is not a Fernet key's alphabet; the run is cut.
		{"hF7bfXN91lxR3mUqkVnZ0aTqZ3yWc+5Jd8oP1sLq2k4=", ""},
		{"my secret passphrase", ""},
	}
	for _, c := range cases {
		if got := pipeline.SecretKind(c.in); got != c.want {
			t.Errorf("SecretKind(%q) = %q, want %q", c.in, got, c.want)
		}
		if got := pipeline.LooksSecret(c.in); got != (c.want != "") {
			t.Errorf("LooksSecret(%q) = %v", c.in, got)
		}
	}
}

func TestValidEnvName(t *testing.T) {
	for _, s := range []string{"A", "_", "SLUICE_PASS", "pass2", "_x_9"} {
		if !pipeline.ValidEnvName(s) {
			t.Errorf("%q refused", s)
		}
	}
	for _, s := range []string{"", "9A", "A-B", "A B", "PASS=", "SuperSecretPassPhrase-42xyz", fernetKey, "ÄB"} {
		if pipeline.ValidEnvName(s) {
			t.Errorf("%q accepted", s)
		}
	}
}

func TestOpenAndReadKeyFile(t *testing.T) {
	// A key where its file belongs: refused, not echoed, before any open
	// (a file of that name exists in the working directory).
	dir := t.TempDir()
	t.Chdir(dir)
	for _, k := range []string{fernetKey, "AGE-SECRET-KEY-1QQQQ"} {
		if err := os.WriteFile(k, []byte("x"), 0o600); err != nil {
			t.Fatal(err)
		}
		f, err := pipeline.OpenKeyFile("key file", k)
		if err == nil {
			f.Close()
			t.Fatalf("%s opened", k)
		}
		if !errors.Is(err, pipeline.ErrSecretForName) || !strings.HasPrefix(err.Error(), "key file: ") ||
			!strings.Contains(err.Error(), "give the path of a file holding it") {
			t.Errorf("error %q", err)
		}
		if strings.Contains(err.Error(), k) || strings.Contains(err.Error(), "QQQQ") {
			t.Errorf("key echoed: %v", err)
		}
		if _, err := pipeline.ReadKeyFile("key file", k); !errors.Is(err, pipeline.ErrSecretForName) || strings.Contains(err.Error(), k) {
			t.Errorf("ReadKeyFile: %v", err)
		}
	}
	if err := os.WriteFile("key.txt", []byte("content"), 0o600); err != nil {
		t.Fatal(err)
	}
	if b, err := pipeline.ReadKeyFile("key file", "key.txt"); err != nil || string(b) != "content" {
		t.Errorf("ReadKeyFile: %q, %v", b, err)
	}
	// A missing file: the path is named.
	missing := filepath.Join(dir, "no-such.key")
	_, err := pipeline.OpenKeyFile("identity file", missing)
	if err == nil || errors.Is(err, pipeline.ErrSecretForName) || err.Error() != "identity file: open "+missing+": no such file or directory" {
		t.Errorf("missing file: %v", err)
	}
}

func TestLookupSecretEnv(t *testing.T) {
	t.Setenv("SLUICE_TEST_SECRET_SET", "value")
	t.Setenv("SLUICE_TEST_SECRET_EMPTY", "")
	if v, err := pipeline.LookupSecretEnv("passphrase variable", "SLUICE_TEST_SECRET_SET"); err != nil || v != "value" {
		t.Fatalf("set variable: %q, %v", v, err)
	}
	for _, name := range []string{"SLUICE_TEST_SECRET_EMPTY", "SLUICE_TEST_SECRET_NEVER_SET"} {
		_, err := pipeline.LookupSecretEnv("passphrase variable", name)
		if err == nil || err.Error() != "passphrase variable "+name+" is not set or empty" {
			t.Errorf("%s: %v", name, err)
		}
	}
	for name, kind := range map[string]string{
		"SuperSecretPassPhrase-42xyz": "is not a variable name and may be the secret itself",
		"my secret passphrase":        "is not a variable name and may be the secret itself",
		fernetKey:                     "looks like a Fernet key, not a variable name",
		"AGE-SECRET-KEY-1QQQQ":        "looks like an age secret key, not a variable name",
	} {
		_, err := pipeline.LookupSecretEnv("passphrase variable", name)
		if !errors.Is(err, pipeline.ErrSecretForName) || !strings.Contains(err.Error(), kind) {
			t.Errorf("%q: %v", name, err)
		}
		if strings.Contains(err.Error(), name) {
			t.Errorf("name echoed: %v", err)
		}
	}
}

// TestSecretReferencesFromEnv: a passphrase given for passphrase_env
// through the environment is refused, naming the variable and not the
// value; an empty value (clearing the option) and a name are accepted.
func TestSecretReferencesFromEnv(t *testing.T) {
	reg := testRegistry()
	for value, wantErr := range map[string]bool{"my secret passphrase": true, fernetKey: true, "": false, "SLUICE_PASS": false} {
		doc := briefDoc()
		origins, err := pipeline.ApplyEnv(reg, doc, []string{"SLUICE_PIPELINES_PHOTOS_STAGES_AGE_PASSPHRASE_ENV=" + value})
		if err != nil {
			t.Fatal(err)
		}
		_, err = pipeline.DecodeConfig(reg, doc, pipeline.DecodeOptions{Origins: origins})
		if (err != nil) != wantErr {
			t.Fatalf("%q: error %v, want one: %v", value, err, wantErr)
		}
		if err == nil {
			continue
		}
		if !strings.Contains(err.Error(), "pipelines.photos.stages[1].age.passphrase_env (from SLUICE_PIPELINES_PHOTOS_STAGES_AGE_PASSPHRASE_ENV): ") {
			t.Errorf("%q: %v", value, err)
		}
		if strings.Contains(err.Error(), value) {
			t.Errorf("value echoed: %v", err)
		}
	}
}

// TestHideSecrets: words of a message that look like private key material
// are replaced, the rest kept; a key split across words (a PEM block)
// hides the whole message.
func TestHideSecrets(t *testing.T) {
	fernet := base64.URLEncoding.EncodeToString(bytes.Repeat([]byte{7}, 32))
	age := "AGE-SECRET-KEY-1QQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQQSAMPLE"
	for _, c := range []struct{ in, want string }{
		{"level: want an integer, got " + `"` + fernet + `"`, `level: want an integer, got "(a secret, not shown)"`},
		{"bucket " + age + "x: bad name", "bucket (a secret, not shown) bad name"},
		{"nothing to hide: /keys/backup.txt", "nothing to hide: /keys/backup.txt"},
		{"-----BEGIN OPENSSH PRIVATE KEY----- abc", "the message held what looks like private key material, so it is not shown"},
	} {
		if got := pipeline.HideSecrets(c.in); got != c.want {
			t.Errorf("HideSecrets(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}
