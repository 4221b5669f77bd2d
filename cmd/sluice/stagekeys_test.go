package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestMissingEncryptionKeyExit2: an encryption stage with no one to
// encrypt to is a config or usage error (exit 2) found when the backup's
// stages are built, by validate, run, run --dry-run and backup alike, and
// the message names what to give.
func TestMissingEncryptionKeyExit2(t *testing.T) {
	src := filepath.Join(t.TempDir(), "single.txt")
	if err := os.WriteFile(src, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	const ageWant = "pipelines.docs.stages[1].age: no recipient to encrypt to: give recipient, recipients_file, passphrase_env or passphrase_file"
	cases := []struct {
		name, stages, env, want string
	}{
		{"age", "[zstd, age]", "", ageWant},
		{"fernet", "[zstd, fernet]", "", "pipelines.docs.stages[1].fernet: no recipient: give key_file, the key to encrypt with"},
		{"env", "[zstd, {fernet: {key_file: /nonexistent/key}}]", "s2,age", ageWant},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			if c.env != "" {
				t.Setenv("SLUICE_PIPELINES_DOCS_STAGES", c.env)
			}
			cfg := writeConfig(t, "sluice.yaml", "pipelines:\n  docs:\n    source: "+src+"\n    stages: "+c.stages+"\n    targets: [mem://x]\n")
			for _, cmd := range [][]string{{"config", "validate"}, {"run", "--dry-run"}, {"run"}} {
				stdout, stderr, code := cli(t, nil, append([]string{"--config", cfg}, cmd...)...)
				if code != exitUsage || !strings.Contains(stderr, c.want) || stdout != "" {
					t.Errorf("%v: exit %d, want 2 and %q\nstdout: %s\nstderr: %s", cmd, code, c.want, stdout, stderr)
				}
			}
		})
	}
	for _, c := range []struct{ encrypt, want string }{
		{"age", "--encrypt age: no recipient: give -r RECIPIENT, -R FILE, --passphrase-env VAR or --passphrase-file FILE"},
		{"fernet", "--encrypt fernet: no recipient: give --fernet-key FILE"},
	} {
		stdout, stderr, code := cli(t, nil, "backup", src, "--to", "mem://", "--encrypt", c.encrypt)
		if code != exitUsage || !strings.Contains(stderr, c.want) || stdout != "" {
			t.Errorf("backup --encrypt %s: exit %d, want 2 and %q\nstderr: %s", c.encrypt, code, c.want, stderr)
		}
	}
}

// TestKeysForTwoEncryptions: a backup has one encryption, so keys typed
// for both (or --encrypt naming one and a key for the other) are a usage
// error that says so and names the flags, not an option "not used".
func TestKeysForTwoEncryptions(t *testing.T) {
	src := dataFile(t, t.TempDir())
	_, rec := keypair(t)
	fk := fernetKey(t)
	for _, c := range []struct {
		args []string
		want string
	}{
		{[]string{"-r", rec, "--fernet-key", fk}, "keys for two encryptions given, age (--recipient) and fernet (--fernet-key): choose one"},
		{[]string{"--encrypt", "fernet", "--fernet-key", fk, "-o", "age.recipient=" + rec}, "keys for two encryptions given, age (--option age.recipient) and fernet (--fernet-key): choose one"},
		{[]string{"--encrypt", "fernet", "-r", rec}, "--encrypt fernet, but a key for age given (--recipient): choose one encryption"},
		{[]string{"--encrypt", "age", "--fernet-key", fk}, "--encrypt age, but a key for fernet given (--fernet-key): choose one encryption"},
	} {
		args := append([]string{"backup", src, "--to", "mem://two-encryptions"}, c.args...)
		stdout, stderr, code := cli(t, nil, args...)
		if code != exitUsage || !strings.Contains(stderr, c.want) || stdout != "" {
			t.Errorf("%v: exit %d, want 2 and %q\nstderr: %s", c.args, code, c.want, stderr)
		}
	}
}

// TestPipelineExcludeWithFileSource: exclude patterns (here from the
// defaults) apply to a pipeline's directory sources and leave its file
// sources whole; on the command line, patterns for a file stay an error.
func TestPipelineExcludeWithFileSource(t *testing.T) {
	key, rec := keypair(t)
	tree := makeTree(t)
	file := filepath.Join(t.TempDir(), "single.txt")
	if err := os.WriteFile(file, []byte("whole file"), 0o644); err != nil {
		t.Fatal(err)
	}
	store := t.TempDir()
	cfg := writeConfig(t, "sluice.yaml", `
defaults:
  exclude: ["*.tmp"]
pipelines:
  mixed:
    sources: [`+file+`, `+tree+`]
    stages: [zstd, {age: {recipient: `+rec+`}}]
    targets: [file://`+store+`]
`)
	_, stderr, code := cli(t, nil, "--config", cfg, "run", "--dry-run")
	if code != 0 || strings.Count(stderr, "would store") != 2 {
		t.Fatalf("dry run: exit %d\n%s", code, stderr)
	}
	stdout, stderr, code := cli(t, nil, "--config", cfg, "run")
	urls := urlLines(t, stdout)
	if code != 0 || len(urls) != 2 {
		t.Fatalf("run: exit %d, %d URLs\n%s", code, len(urls), stderr)
	}
	for _, u := range urls {
		dest := filepath.Join(t.TempDir(), "r")
		if strings.Contains(u, "/single.txt-") {
			if got := mustCLI(t, nil, "restore", u, "--to", "-", "-i", key); got != "whole file" {
				t.Fatalf("file source restored as %q", got)
			}
			continue
		}
		mustCLI(t, nil, "restore", u, "--to", dest, "-i", key)
		compareTrees(t, tree, dest, "notes.tmp")
		if _, err := os.Stat(filepath.Join(dest, "sub", "notes.tmp")); err == nil {
			t.Fatal("excluded file restored")
		}
	}
	_, stderr, code = cli(t, nil, "backup", file, "--to", "mem://", "-r", rec, "--exclude", "*.tmp")
	if code != exitUsage || !strings.Contains(stderr, "exclude patterns apply to directories only") {
		t.Fatalf("backup FILE --exclude: exit %d\n%s", code, stderr)
	}
}

// TestLooseConfigKeyFileWarning: the secret files a config's stages name
// (passphrase_file, identity_file, a Fernet key_file) get the same warning
// as key flags when group or others can read them, from config validate
// and run, once per file however many pipelines share it, and never with
// the secret; recipients files are public and get none. verify warns
// about its -i files as restore does.
func TestLooseConfigKeyFileWarning(t *testing.T) {
	key, rec := keypair(t)
	dir := t.TempDir()
	const secret = "Loose-Passphrase-q7"
	pass := filepath.Join(dir, "pass")
	if err := os.WriteFile(pass, []byte(secret+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	fk := fernetKey(t)
	rf := recipientFile(t, rec)
	for _, p := range []string{key, fk, rf} {
		if err := os.Chmod(p, 0o640); err != nil {
			t.Fatal(err)
		}
	}
	src := filepath.Join(dir, "single.txt")
	if err := os.WriteFile(src, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	store := "file://" + t.TempDir()
	cfg := writeConfig(t, "sluice.yaml", `
defaults:
  stages: [zstd, {age: {passphrase_file: `+pass+`, work_factor: 10}}]
  targets: [`+store+`]
  name: "{pipeline}-{time}"
pipelines:
  a: {source: `+src+`}
  b: {source: `+src+`}
  c:
    source: `+src+`
    stages: [zstd, {age: {recipients_file: `+rf+`, identity_file: `+key+`}}]
  d:
    source: `+src+`
    stages: [zstd, {fernet: {key_file: `+fk+`}}]
`)
	wants := []string{
		"warning: defaults.stages[1].age.passphrase_file " + pass + " is accessible by others (mode 0644); run chmod 600 " + pass,
		"warning: pipelines.c.stages[1].age.identity_file " + key + " is accessible by others (mode 0640)",
		"warning: pipelines.d.stages[1].fernet.key_file " + fk + " is accessible by others (mode 0640)",
	}
	check := func(what, stderr string) {
		t.Helper()
		for _, w := range wants {
			if n := strings.Count(stderr, w); n != 1 {
				t.Errorf("%s: %d warnings %q, want 1\n%s", what, n, w, stderr)
			}
		}
		if strings.Contains(stderr, rf) || strings.Contains(stderr, secret) {
			t.Errorf("%s: warned about the recipients file or showed the passphrase:\n%s", what, stderr)
		}
	}
	_, stderr, code := cli(t, nil, "--config", cfg, "config", "validate")
	if code != 0 {
		t.Fatalf("validate: exit %d\n%s", code, stderr)
	}
	check("validate", stderr)
	stdout, stderr, code := cli(t, nil, "--config", cfg, "run")
	if code != 0 {
		t.Fatalf("run: exit %d\n%s", code, stderr)
	}
	check("run", stderr)
	// With --json each warning is a JSON log record.
	_, stderr, code = cli(t, nil, "--config", cfg, "run", "a", "--json", "--dry-run")
	warned := 0
	for _, ev := range jsonEvents(t, stderr) {
		if msg, _ := ev["msg"].(string); ev["level"] == "WARN" && strings.Contains(msg, "passphrase_file "+pass+" is accessible") {
			warned++
		}
	}
	if code != 0 || warned != 1 {
		t.Errorf("run --json: exit %d, %d warning records\n%s", code, warned, stderr)
	}
	url := urlLines(t, stdout)[0]
	_, stderr, _ = cli(t, nil, "verify", url, "-i", key)
	if !strings.Contains(stderr, "warning: identity file "+key+" is accessible by others") {
		t.Errorf("verify -i: no warning\n%s", stderr)
	}

	for _, p := range []string{pass, key, fk} {
		if err := os.Chmod(p, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if _, stderr, code := cli(t, nil, "--config", cfg, "config", "validate"); code != 0 || strings.Contains(stderr, "warning") {
		t.Fatalf("0600 files: exit %d\n%s", code, stderr)
	}
}

// TestWorkersWithConcurrencyOption: --workers and -o zstd.concurrency set
// the same option; giving both is a usage error rather than one silently
// winning.
func TestWorkersWithConcurrencyOption(t *testing.T) {
	_, rec := keypair(t)
	src := filepath.Join(t.TempDir(), "single.txt")
	if err := os.WriteFile(src, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, "sluice.yaml", "pipelines:\n  docs:\n    source: "+src+"\n    stages: [zstd, {age: {recipient: "+rec+"}}]\n    targets: [mem://x]\n")
	const want = "--workers 2 and --option zstd.concurrency=3 both set zstd.concurrency: give one"
	for _, args := range [][]string{
		{"--config", cfg, "run", "--workers", "2", "-o", "zstd.concurrency=3"},
		{"backup", src, "--to", "mem://", "-r", rec, "--workers", "2", "-o", "zstd.concurrency=3"},
	} {
		stdout, stderr, code := cli(t, nil, args...)
		if code != exitUsage || !strings.Contains(stderr, want) || stdout != "" {
			t.Errorf("%v: exit %d, want 2 and %q\n%s", args, code, want, stderr)
		}
	}
	mustCLI(t, nil, "--config", cfg, "run", "--workers", "2", "--dry-run")
	mustCLI(t, nil, "--config", cfg, "run", "-o", "zstd.concurrency=3", "--dry-run")
}
