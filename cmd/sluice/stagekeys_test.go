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
