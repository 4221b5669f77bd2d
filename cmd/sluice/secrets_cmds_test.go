package main

import (
	"encoding/json"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"filippo.io/age"

	"github.com/sluice-backup/sluice/backends/azuretest"
	"github.com/sluice-backup/sluice/backends/gcstest"
	"github.com/sluice-backup/sluice/pipeline"
	agestage "github.com/sluice-backup/sluice/stages/age"
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
	sasURL := "azblob://canary/p?domain=" + url.QueryEscape("http://u:"+queryCanary+"@h")
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
	runs := 0
	do := func(wantOK bool, args ...string) string {
		t.Helper()
		runs++
		return cliNoCanary(t, canaries, wantOK, append([]string{"--config", cfg}, args...)...)
	}

	show := do(true, "config", "show")
	if !strings.Contains(show, "passphrase_env: SLUICE_CANARY_PASS") || !strings.Contains(show, "domain=http%3A%2F%2FREDACTED%40h") {
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

// cliNoCanary runs sluice with args, fails the test unless it succeeds
// or fails as wantOK says, and fails it (going on) when stdout or stderr
// holds one of canaries. It returns stdout.
func cliNoCanary(t *testing.T, canaries []string, wantOK bool, args ...string) string {
	t.Helper()
	stdout, stderr, code := cli(t, nil, args...)
	if (code == 0) != wantOK {
		t.Fatalf("%v: exit %d, want success %v\nstdout:\n%s\nstderr:\n%s", args, code, wantOK, stdout, stderr)
	}
	for _, c := range canaries {
		if strings.Contains(stdout, c) || strings.Contains(stderr, c) {
			t.Errorf("%v: canary %q shown\nstdout:\n%s\nstderr:\n%s", args, c, stdout, stderr)
		}
	}
	return stdout
}

// TestSecretQueryValuesNeverShown backs up to a gs:// target
// (fake-gcs-server) and an azblob:// one (Azurite) whose query values
// carry a password — a URL with userinfo in universe_domain, a bare
// user:pass@host domain — then lists, verifies and restores through them,
// with and without --json, succeeding and failing: the passwords never
// show, and the printed URLs leave those parameters out (the emulators'
// variables still reach the stores).
func TestSecretQueryValuesNeverShown(t *testing.T) {
	const gsCanary, azCanary = "CANARYgsPassword77bb01", "CANARYazPassword77bb02"
	canaries := []string{gsCanary, azCanary}
	gcstest.StartFakeGCS(t, "canary")
	azureURL := azuretest.StartAzurite(t, "canary")
	domain := strings.TrimSuffix(strings.TrimPrefix(azureURL, "http://"), "/"+azuretest.Account)
	gsTarget := "gs://canary/p?universe_domain=http://u:" + gsCanary + "@h.example"
	azTarget := "azblob://canary/p?localemu=true&domain=u:" + azCanary + "@" + domain + "&protocol=http"
	do := func(wantOK bool, args ...string) string {
		t.Helper()
		return cliNoCanary(t, canaries, wantOK, args...)
	}
	// withQuery is a printed URL with the target's own query instead.
	withQuery := func(printed, target string) string {
		base, _, _ := strings.Cut(printed, "?")
		_, q, _ := strings.Cut(target, "?")
		return base + "?" + q
	}

	tree := makeTree(t)
	urls := urlLines(t, do(true, "backup", tree, "--to", gsTarget, "--to", azTarget, "--encrypt", "none", "--name", "plain"))
	do(true, "backup", "--json", tree, "--to", gsTarget, "--to", azTarget, "--encrypt", "none", "--name", "json")
	want := []string{"gs://canary/p/plain.tar.zst", "azblob://canary/p/plain.tar.zst?localemu=true&protocol=http"}
	if !slices.Equal(urls, want) {
		t.Fatalf("backup printed %q, want %q", urls, want)
	}
	for i, target := range []string{gsTarget, azTarget} {
		do(true, "list", target)
		do(true, "list", "--json", target)
		missing := withQuery(strings.Replace(urls[i], "plain", "missing", 1), target)
		for _, obj := range []string{urls[i], withQuery(urls[i], target)} {
			do(true, "verify", obj)
			do(true, "verify", "--json", obj)
			do(true, "restore", obj, "--to", filepath.Join(t.TempDir(), "out"))
		}
		do(false, "verify", missing)
		do(false, "verify", "--json", missing)
		do(false, "restore", missing, "--to", filepath.Join(t.TempDir(), "out"))
		do(false, "restore", "--json", missing, "--to", filepath.Join(t.TempDir(), "out"))
	}
}

// TestSecretGivenForName passes keys and a passphrase where a file name or
// a variable name belongs, on the command line and in the config: each is
// refused with exit status 2 and a message saying what was passed in
// kind, and never echoed, with or without --json. A missing file that is
// not secret-looking, and an unset variable with a proper name, are named.
func TestSecretGivenForName(t *testing.T) {
	idFile, rec := keypair(t)
	idText, err := os.ReadFile(idFile)
	if err != nil {
		t.Fatal(err)
	}
	var idKey string
	for _, l := range strings.Split(string(idText), "\n") {
		if strings.HasPrefix(l, "AGE-SECRET-KEY-") {
			idKey = l
		}
	}
	fkText, err := os.ReadFile(fernetKey(t))
	if err != nil {
		t.Fatal(err)
	}
	fKey := strings.TrimSpace(string(fkText))
	if idKey == "" || len(fKey) != 44 {
		t.Fatalf("keys: %q %q", idKey, fKey)
	}
	const pass = "SuperSecretPassPhrase-42xyz"
	secrets := []string{idKey, strings.TrimPrefix(idKey, "AGE-SECRET-KEY-"), fKey, strings.TrimSuffix(fKey, "="), pass}

	dir := t.TempDir()
	data := filepath.Join(dir, "data.txt")
	if err := os.WriteFile(data, []byte("hello\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	obj := singleURL(t, mustCLI(t, nil, "backup", data, "--to", "file://"+t.TempDir(), "-r", rec, "--compress", "none"))
	fobj := singleURL(t, mustCLI(t, nil, "backup", data, "--to", "file://"+t.TempDir(), "--fernet-key", fernetKey(t), "--compress", "none"))
	to := "file://" + t.TempDir()

	refusedOnce := func(t *testing.T, want string, args ...string) {
		t.Helper()
		stdout, stderr, code := cli(t, nil, args...)
		if code != exitUsage {
			t.Errorf("%v: exit %d, want %d\nstderr: %s", args, code, exitUsage, stderr)
		}
		if !strings.Contains(stderr, want) {
			t.Errorf("%v: stderr does not say %q:\n%s", args, want, stderr)
		}
		for _, s := range secrets {
			if strings.Contains(stdout, s) || strings.Contains(stderr, s) {
				t.Errorf("%v: secret %q shown\nstdout:\n%s\nstderr:\n%s", args, s, stdout, stderr)
			}
		}
	}
	refused := func(t *testing.T, want string, args ...string) { // with and without --json
		t.Helper()
		refusedOnce(t, want, args...)
		refusedOnce(t, want, append(args[:len(args):len(args)], "--json")...)
	}
	const (
		ageKind    = "looks like an age secret key; give the path of a file holding it"
		fernetKind = "looks like a Fernet key; give the path of a file holding it"
		notName    = "is not a variable name and may be the secret itself"
	)

	t.Run("flags", func(t *testing.T) {
		refused(t, ageKind, "restore", obj, "--to", "-", "-i", idKey)
		refused(t, ageKind, "verify", obj, "-i", idKey)
		refused(t, ageKind, "backup", data, "--to", to, "-R", idKey)
		refused(t, fernetKind, "backup", data, "--to", to, "--fernet-key", fKey, "--compress", "none")
		refused(t, fernetKind, "restore", fobj, "--to", "-", "--fernet-key", fKey)
		refused(t, fernetKind, "backup", data, "--to", to, "--passphrase-file", fKey)
		refused(t, fernetKind, "backup", data, "--to", to, "--passphrase-file", filepath.Join(dir, fKey))
		refused(t, notName, "backup", data, "--to", to, "--passphrase-env", pass)
		refused(t, notName, "restore", obj, "--to", "-", "--passphrase-env", pass)
		refused(t, "looks like a Fernet key, not a variable name", "backup", data, "--to", to, "--passphrase-env", fKey)
		// Not secret-looking: named.
		refused(t, "passphrase variable SLUICE_TEST_NEVER_SET is not set or empty", "backup", data, "--to", to, "--passphrase-env", "SLUICE_TEST_NEVER_SET")
		missing := filepath.Join(dir, "my passphrase file")
		refused(t, "passphrase file: open "+missing+": no such file", "backup", data, "--to", to, "--passphrase-file", missing)
	})

	t.Run("config", func(t *testing.T) {
		section := func(stage string) string {
			return writeConfig(t, "sluice.yaml", `
pipelines:
  p:
    source: `+data+`
    stages: [zstd, `+stage+`]
    targets: [`+to+`]
`)
		}
		for _, c := range []struct{ cfg, want string }{
			{section(`{fernet: {key_file: "` + fKey + `"}}`), "fernet.key_file: secret written into the config: this value " + fernetKind},
			{section(`{age: {identity_file: ["` + idKey + `"]}}`), "age.identity_file[0]: secret written into the config: this value " + ageKind},
			{section(`{age: {passphrase_env: "` + pass + `"}}`), "age.passphrase_env: the value given " + notName},
			{section(`{age: {passphrase_env: "` + fKey + `"}}`), "age.passphrase_env: secret written into the config: this value looks like a Fernet key"},
		} {
			for _, args := range [][]string{{"config", "show"}, {"config", "show", "--json"}, {"config", "validate"}, {"run", "p"}, {"run", "--json", "p"}} {
				refusedOnce(t, c.want, append([]string{"--config", c.cfg}, args...)...)
			}
		}
		// The same through the environment and run -o.
		cfg := section(`{age: {passphrase_env: SLUICE_TEST_PASS}}`)
		t.Setenv("SLUICE_PIPELINES_P_STAGES_AGE_PASSPHRASE_ENV", pass)
		refused(t, "age.passphrase_env (from SLUICE_PIPELINES_P_STAGES_AGE_PASSPHRASE_ENV): the value given "+notName, "--config", cfg, "config", "show")
		refused(t, "age.passphrase_env (from SLUICE_PIPELINES_P_STAGES_AGE_PASSPHRASE_ENV): the value given "+notName, "--config", cfg, "run", "p")
		t.Setenv("SLUICE_PIPELINES_P_STAGES_AGE_PASSPHRASE_ENV", "SLUICE_TEST_PASS")
		refused(t, "the value given "+notName, "--config", cfg, "run", "p", "-o", "age.passphrase_env="+pass)
		refused(t, "this value looks like a Fernet key", "--config", cfg, "run", "p", "-o", "age.passphrase_file="+fKey)
	})
}

// TestConfigShowRedactsSecretLooking: config show prints no value that
// looks like a key, whatever key it sits under, even one the decoder did
// not see (the decoder refuses those it sees, so the config is built here).
func TestConfigShowRedactsSecretLooking(t *testing.T) {
	const fKey = "hF7bfXN91lxR3mUqkVnZ0aTqZ3yWcE5Jd8oP1sLq2k4="
	opts, err := pipeline.ParseOptions(agestage.Spec.Options, map[string]any{
		"passphrase_file": "/keys/" + fKey,
		"identity_file":   []any{"/keys/id.txt", "/keys/AGE-SECRET-KEY-1QQQQ"},
	})
	if err != nil {
		t.Fatal(err)
	}
	cfg := &pipeline.Config{Pipelines: map[string]*pipeline.PipelineConfig{"p": {
		Name:         "p",
		Sources:      []string{"/data/" + fKey, "/data/ok"},
		Exclude:      []string{"AGE-SECRET-KEY-1QQQQ"},
		Stages:       []pipeline.StageConfig{{Spec: agestage.Spec, Options: opts}},
		Targets:      []pipeline.TargetConfig{{URL: "file:///srv/" + fKey}},
		NameTemplate: "{pipeline}-" + fKey,
	}}}
	b, err := json.Marshal(showConfig(cfg))
	if err != nil {
		t.Fatal(err)
	}
	out := string(b)
	if strings.Contains(out, fKey) || strings.Contains(out, "QQQQ") {
		t.Fatalf("config show printed a key:\n%s", out)
	}
	// Source, exclude, both stage options, target and name.
	if !strings.Contains(out, `"/data/ok"`) || strings.Count(out, `"REDACTED"`) != 6 {
		t.Fatalf("config show lost what is not secret, or did not say REDACTED in each place:\n%s", out)
	}
}

// TestKeyTypedWhereNoKeyBelongs: a key typed as a value that is no key at
// all (a level, a worker count) is refused without being echoed, by
// whatever parses the value: the final message is the last guard.
func TestKeyTypedWhereNoKeyBelongs(t *testing.T) {
	src := writeConfig(t, "data.txt", "data")
	key, rec := keypair(t)
	b, err := os.ReadFile(key)
	if err != nil {
		t.Fatal(err)
	}
	var secret string
	for _, line := range strings.Split(string(b), "\n") {
		if strings.HasPrefix(line, "AGE-SECRET-KEY-") {
			secret = line
		}
	}
	for _, args := range [][]string{
		{"-o", "zstd.level=" + secret},
		{"--compress", "zstd:" + secret},
		{"--workers", secret, "--json"},
	} {
		stdout, stderr, code := cli(t, nil, append([]string{"backup", src, "--to", "mem://", "-r", rec}, args...)...)
		if code != exitUsage || strings.Contains(stdout+stderr, "AGE-SECRET-KEY") {
			t.Errorf("%v: exit %d, want 2 without the key\n%s", args[:1], code, stderr)
		}
	}
}
