package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"filippo.io/age"
)

// TestSecretsNeverShownByCommands runs every command that prints about a
// pipeline — config show, run, list, verify, prune, backup with progress,
// plugins — succeeding and failing, with --json, while a passphrase, an
// age identity, a Fernet key, AWS credentials and credential-carrying
// target URLs hold canaries; no canary may appear on stdout or stderr.
// Fernet's wrong-key and damaged-token errors are checked the same way.
func TestSecretsNeverShownByCommands(t *testing.T) {
	const (
		passCanary   = "CANARYpassphrase-77aa01"
		secretCanary = "CANARYsecretAccessKey-77aa02"
		urlCanary    = "CANARYurlPassword77aa03"
		queryCanary  = "CANARYqueryToken77aa04"
	)
	dir := t.TempDir()
	id, err := age.GenerateX25519Identity()
	if err != nil {
		t.Fatal(err)
	}
	idFile := filepath.Join(dir, "id.txt")
	if err := os.WriteFile(idFile, []byte(id.String()+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	recFile := recipientFile(t, id.Recipient().String())
	fkey := fernetKey(t)
	fkeyText, err := os.ReadFile(fkey)
	if err != nil {
		t.Fatal(err)
	}
	fernetCanary := strings.TrimSpace(string(fkeyText))
	otherFkey := fernetKey(t)
	otherText, _ := os.ReadFile(otherFkey)
	body := strings.TrimPrefix(id.String(), "AGE-SECRET-KEY-")
	canaries := []string{passCanary, secretCanary, urlCanary, queryCanary, id.String(), body, strings.ToLower(body),
		fernetCanary, strings.TrimSpace(string(otherText))}
	t.Setenv("SLUICE_CANARY_PASS", passCanary)
	t.Setenv("AWS_ACCESS_KEY_ID", "AKIACANARYID")
	t.Setenv("AWS_SECRET_ACCESS_KEY", secretCanary)

	tree := makeTree(t)
	stores := map[string]string{}
	for _, n := range []string{"docs", "rec", "fern", "adhoc"} {
		stores[n] = t.TempDir()
	}
	credURL := "file://backup:" + urlCanary + "@localhost" + t.TempDir()
	tokenURL := "file://" + t.TempDir() + "?token=" + queryCanary
	// A well-formed target whose query carries a secret: the config
	// loads, and opening it fails (no Azure account is configured).
	sasURL := "azblob://canary/p?sig=" + queryCanary
	cfg := writeConfig(t, "sluice.yaml", `
defaults:
  retention: {keep_last: 1}
pipelines:
  docs:
    source: `+tree+`
    stages: [zstd, {age: {passphrase_env: SLUICE_CANARY_PASS}}]
    targets: [file://`+stores["docs"]+`]
  rec:
    source: `+tree+`
    stages: [zstd, {age: {recipients_file: `+recFile+`, identity_file: `+idFile+`}}]
    targets: [file://`+stores["rec"]+`]
  fern:
    source: `+tree+`
    stages: [zstd, {fernet: {key_file: `+fkey+`}}]
    targets: [file://`+stores["fern"]+`]
  creds:
    source: `+tree+`
    stages: [zstd, {age: {passphrase_env: SLUICE_CANARY_PASS}}]
    targets: ['`+sasURL+`']
`)
	// Targets that are wrong in themselves make the config invalid.
	badCfg := writeConfig(t, "bad.yaml", `
pipelines:
  creds:
    source: `+tree+`
    stages: [zstd, {age: {passphrase_env: SLUICE_CANARY_PASS}}]
    targets: ['`+credURL+`', '`+tokenURL+`']
`)
	check := func(name, stdout, stderr string) {
		t.Helper()
		for _, c := range canaries {
			if strings.Contains(stdout, c) || strings.Contains(stderr, c) {
				t.Errorf("%s: canary %q shown\nstdout:\n%s\nstderr:\n%s", name, c, stdout, stderr)
			}
		}
	}
	runs := 0
	do := func(wantOK bool, args ...string) string {
		t.Helper()
		runs++
		stdout, stderr, code := cli(t, nil, append([]string{"--config", cfg}, args...)...)
		if (code == 0) != wantOK {
			t.Fatalf("%v: exit %d, want success %v\nstdout:\n%s\nstderr:\n%s", args, code, wantOK, stdout, stderr)
		}
		check(strings.Join(args, " "), stdout, stderr)
		return stdout
	}

	show := do(true, "config", "show")
	if !strings.Contains(show, "passphrase_env: SLUICE_CANARY_PASS") || !strings.Contains(show, "sig=REDACTED") {
		t.Fatalf("config show lost the references or the redaction:\n%s", show)
	}
	do(true, "config", "show", "--json")
	do(true, "config", "validate")
	for range 2 { // twice, so prune has something to remove
		do(true, "run", "--json", "docs", "rec", "fern")
	}
	do(false, "run", "--json", "creds")
	do(false, "run", "--log-level", "debug", "creds")
	for _, args := range [][]string{{"config", "show"}, {"config", "validate"}, {"run", "--json", "creds"}, {"run", "--log-level", "debug", "creds"}} {
		do(false, append([]string{"--config", badCfg}, args...)...)
	}
	for _, p := range []string{"docs", "rec", "fern", "file://" + stores["docs"]} {
		do(true, "list", "--json", p)
		do(true, "list", p)
	}
	do(false, "list", "--json", tokenURL)
	do(false, "list", credURL)
	for _, p := range []string{"docs", "rec", "fern"} {
		do(true, "verify", "--json", p)
		do(true, "prune", "--dry-run", "--json", p)
	}
	do(false, "verify", "--json", "creds")
	do(true, "backup", "--json", "--progress", "always", tree, "--to", "file://"+stores["adhoc"], "--passphrase-env", "SLUICE_CANARY_PASS")
	do(false, "backup", "--json", "--progress", "always", tree, "--to", credURL, "--to", tokenURL, "--passphrase-env", "SLUICE_CANARY_PASS")
	do(true, "plugins", "--json")
	do(true, "plugins")

	// Damage every docs object: verify fails, naming objects, not keys.
	damage := func(store string) []string {
		t.Helper()
		var objs []string
		filepath.WalkDir(store, func(p string, d os.DirEntry, err error) error {
			if err == nil && !d.IsDir() && !strings.HasSuffix(p, ".attrs") {
				objs = append(objs, p)
				b, _ := os.ReadFile(p)
				b[len(b)/2] ^= 0xff
				os.WriteFile(p, b, 0o644)
			}
			return nil
		})
		if len(objs) == 0 {
			t.Fatalf("no object in %s", store)
		}
		return objs
	}
	damage(stores["docs"])
	do(false, "verify", "--json", "docs")
	t.Setenv("SLUICE_CANARY_PASS", "a-wrong-passphrase")
	do(false, "verify", "--json", "rec", "docs")

	// Fernet: a wrong key and a damaged token.
	urls := listJSON(t, "--config", cfg, "fern")
	if len(urls) == 0 {
		t.Fatal("no fern backup listed")
	}
	do(false, "restore", urls[0].URL, "--to", filepath.Join(t.TempDir(), "x"), "--fernet-key", otherFkey)
	do(false, "verify", "--json", urls[0].URL, "--fernet-key", otherFkey)
	damage(stores["fern"])
	do(false, "restore", urls[0].URL, "--to", filepath.Join(t.TempDir(), "x"), "--fernet-key", fkey)
	do(false, "verify", "--json", "fern")
	t.Logf("%d command runs checked against %d canaries", runs, len(canaries))
}
