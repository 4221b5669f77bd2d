package main

import (
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/fsouza/fake-gcs-server/fakestorage"

	"github.com/sluice-backup/sluice/backends/azuretest"
	"github.com/sluice-backup/sluice/backends/gcstest"
	"github.com/sluice-backup/sluice/backends/s3test"
	"github.com/sluice-backup/sluice/pipeline"
)

// writeConfig writes a config file and returns its path.
func writeConfig(t *testing.T, name, text string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(path, []byte(text), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// recipientFile writes rec to a file and returns its path.
func recipientFile(t *testing.T, rec string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "recipients.txt")
	if err := os.WriteFile(path, []byte(rec+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// urlLines returns stdout's lines, each of which must be a URL.
func urlLines(t *testing.T, stdout string) []string {
	t.Helper()
	lines := strings.Fields(stdout)
	for _, l := range lines {
		if !strings.Contains(l, "://") {
			t.Fatalf("stdout line %q is not a URL", l)
		}
	}
	return lines
}

type listed struct {
	Time     time.Time `json:"time"`
	Size     int64     `json:"size"`
	Stages   []string  `json:"stages"`
	URL      string    `json:"url"`
	Pipeline string    `json:"pipeline"`
}

func listJSON(t *testing.T, args ...string) []listed {
	t.Helper()
	out := mustCLI(t, nil, append([]string{"list", "--json"}, args...)...)
	var l []listed
	if err := json.Unmarshal([]byte(out), &l); err != nil {
		t.Fatalf("list --json: %v\n%s", err, out)
	}
	return l
}

// pipelineFlow runs, lists, verifies, restores and prunes a declared
// pipeline on targets; foreign is called to place an object sluice did not
// make on the first target, and reports whether it is still there.
func pipelineFlow(t *testing.T, targets []string, foreign func(put bool) bool) {
	key, rec := keypair(t)
	tree := makeTree(t)
	var tl strings.Builder
	for _, u := range targets {
		fmt.Fprintf(&tl, "      - %s\n", u)
	}
	cfg := writeConfig(t, "sluice.yaml", fmt.Sprintf(`
pipelines:
  docs:
    source: %s
    exclude: ["*.tmp"]
    stages:
      - zstd: {level: 3}
      - age: {recipients_file: %s}
    targets:
%s    name: "{pipeline}-{host}-{time}"
    retention: {keep_last: 2}
  broken:
    source: %s
    stages:
      - zstd
      - age: {recipients_file: /nonexistent/recipients.txt}
    targets:
%s`, tree, recipientFile(t, rec), tl.String(), tree, tl.String()))
	foreign(true)

	// All pipelines: docs is stored, broken stops before any I/O; exit 3.
	stdout, stderr, code := cli(t, nil, "--config", cfg, "run")
	if code != exitPartial {
		t.Fatalf("run all: exit %d, want 3\n%s", code, stderr)
	}
	if got := urlLines(t, stdout); len(got) != len(targets) {
		t.Fatalf("run all: %d URLs, want %d: %q\n%s", len(got), len(targets), got, stderr)
	}
	if !strings.Contains(stderr, "run broken: FAILED: pipelines.broken.stages[1].age: recipients file: open /nonexistent/recipients.txt") {
		t.Fatalf("broken pipeline not reported:\n%s", stderr)
	}

	// Two more runs of docs alone, in the same second: no collision.
	seen := map[string]bool{}
	for range 2 {
		for _, u := range urlLines(t, mustCLI(t, nil, "--config", cfg, "run", "docs")) {
			if seen[u] {
				t.Fatalf("run reused %s", u)
			}
			seen[u] = true
		}
	}

	l := listJSON(t, "--config", cfg, "docs")
	if len(l) != 3*len(targets) {
		t.Fatalf("list: %d entries, want %d", len(l), 3*len(targets))
	}
	for i, e := range l {
		if e.Pipeline != "docs" || !slices.Equal(e.Stages, []string{"tar", "zstd", "age"}) || e.Size <= 0 {
			t.Fatalf("entry %+v", e)
		}
		if i > 0 && e.Time.After(l[i-1].Time) {
			t.Fatalf("list not newest first: %v after %v", e.Time, l[i-1].Time)
		}
	}
	text := mustCLI(t, nil, "--config", cfg, "list", "docs")
	if lines := strings.Split(strings.TrimSpace(text), "\n"); len(lines) != len(l) || !strings.Contains(lines[0], "tar,zstd,age") || !strings.HasSuffix(lines[0], l[0].URL) {
		t.Fatalf("list text:\n%s", text)
	}
	if byURL := listJSON(t, targets[0]); len(byURL) != 3 {
		t.Fatalf("list %s: %d entries, want 3", targets[0], len(byURL))
	}

	_, stderr, code = cli(t, nil, "--config", cfg, "verify", "docs")
	if code != 0 || strings.Count(stderr, "OK ") != len(l) {
		t.Fatalf("verify: exit %d\n%s", code, stderr)
	}
	_, stderr, code = cli(t, nil, "--config", cfg, "verify", "docs", "-i", key)
	if code != 0 || strings.Count(stderr, "OK ") != len(l) {
		t.Fatalf("verify with keys: exit %d\n%s", code, stderr)
	}
	dest := filepath.Join(t.TempDir(), "restored")
	mustCLI(t, nil, "restore", l[0].URL, "--to", dest, "-i", key)
	compareTrees(t, tree, dest, "*.tmp")

	_, stderr, code = cli(t, nil, "--config", cfg, "prune", "docs", "--dry-run")
	if code != 0 || strings.Count(stderr, "would remove") != len(targets) {
		t.Fatalf("prune --dry-run: exit %d\n%s", code, stderr)
	}
	if n := len(listJSON(t, "--config", cfg, "docs")); n != len(l) {
		t.Fatalf("prune --dry-run removed backups: %d left of %d", n, len(l))
	}
	_, stderr, code = cli(t, nil, "--config", cfg, "prune", "docs")
	if code != 0 {
		t.Fatalf("prune: exit %d\n%s", code, stderr)
	}
	after := listJSON(t, "--config", cfg, "docs")
	if len(after) != 2*len(targets) {
		t.Fatalf("after prune: %d backups, want %d", len(after), 2*len(targets))
	}
	for _, e := range after {
		if e.Time.Before(l[2*len(targets)-1].Time) {
			t.Fatalf("prune kept an older backup %s", e.URL)
		}
	}
	if !foreign(false) {
		t.Fatal("prune removed an object sluice did not make")
	}
}

func TestPipelinesFile(t *testing.T) {
	dir := t.TempDir()
	a, b := filepath.Join(dir, "a"), filepath.Join(dir, "b", "nested")
	pipelineFlow(t, []string{"file://" + a, "file://" + b}, func(put bool) bool {
		p := filepath.Join(a, "docs-foreign.tar.zst.age")
		if put {
			os.MkdirAll(a, 0o755)
			if err := os.WriteFile(p, []byte("not ours"), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		_, err := os.Stat(p)
		return err == nil
	})
}

func TestPipelinesS3Moto(t *testing.T) {
	endpoint := s3test.StartMoto(t)
	s3test.CreateBucket(t, endpoint, "pipes")
	s3test.CreateBucket(t, endpoint, "pipes2")
	client := s3test.Client(endpoint)
	pipelineFlow(t, []string{"s3://pipes/docs", "s3://pipes2/nightly/docs"}, func(put bool) bool {
		ctx := context.Background()
		k := aws.String("docs/docs-foreign.tar.zst.age")
		if put {
			if _, err := client.PutObject(ctx, &s3.PutObjectInput{Bucket: aws.String("pipes"), Key: k, Body: strings.NewReader("not ours")}); err != nil {
				t.Fatal(err)
			}
		}
		_, err := client.HeadObject(ctx, &s3.HeadObjectInput{Bucket: aws.String("pipes"), Key: k})
		return err == nil
	})
}

func TestVerifyCatchesCorruption(t *testing.T) {
	key, rec := keypair(t)
	store := t.TempDir()
	cfg := writeConfig(t, "sluice.toml", fmt.Sprintf(`
[pipelines.db]
source = %q
stages = [{zstd = {}}, {age = {recipients_file = %q}}]
targets = ["file://%s"]
`, makeTree(t), recipientFile(t, rec), store))
	good := singleURL(t, mustCLI(t, nil, "--config", cfg, "run", "db"))
	bad := singleURL(t, mustCLI(t, nil, "--config", cfg, "run", "db"))
	path := strings.TrimPrefix(bad, "file://")
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 0x40
	if err := os.WriteFile(path, b, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, args := range [][]string{{"verify", "db"}, {"verify", "db", "-i", key}} {
		_, stderr, code := cli(t, nil, append([]string{"--config", cfg}, args...)...)
		if code != exitFailure {
			t.Fatalf("%v: exit %d, want 1\n%s", args, code, stderr)
		}
		if !strings.Contains(stderr, "BAD  "+bad+": ") || !strings.Contains(stderr, "OK   "+good) || !strings.Contains(stderr, "integrity check failed") {
			t.Fatalf("%v: bad object not named:\n%s", args, stderr)
		}
	}
	_, stderr, code := cli(t, nil, "verify", bad)
	if code != exitFailure || !strings.Contains(stderr, "BAD") {
		t.Fatalf("verify OBJECT_URL: exit %d\n%s", code, stderr)
	}
	_, stderr, code = cli(t, nil, "verify", good, "-i", key, "--json")
	if code != 0 || !strings.Contains(stderr, `"event":"verified"`) {
		t.Fatalf("verify good --json: exit %d\n%s", code, stderr)
	}
}

func TestConfigErrorsExit2(t *testing.T) {
	_, rec := keypair(t)
	rf := recipientFile(t, rec)
	cases := []struct{ file, text, want string }{
		{"sluice.yaml", "pipelines:\n  docs:\n    source: /x\n    stages: [zstd, age]\n    targets: [mem://x]\n    retension: {keep_last: 3}\n",
			"pipelines.docs.retension: unknown key (known: source, sources, exclude, stages, targets, name, retention, allow_plaintext, all_or_nothing, allow_changing_files, stall_timeout, upload_memory, bwlimit, bwlimit_target)"},
		{"sluice.yaml", "pipelines:\n  docs:\n    source: /x\n    stages: [zstd, {age: {recipients_fil: " + rf + "}}]\n    targets: [mem://x]\n",
			"pipelines.docs.stages[1].age.recipients_fil: unknown option (known: recipient, recipients_file, identity_file, passphrase_env, passphrase_file, work_factor)"},
		{"sluice.json", `{"pipelines": {"docs": {"source": "/x", "stages": ["zstd", "age"], "targets": ["mem://x"], "retention": {"keep_last": "seven"}}}}`,
			`pipelines.docs.retention.keep_last: want an integer, got "seven"`},
		{"sluice.yaml", "pipelines:\n  docs:\n    source: /x\n    stages: [brotli, age]\n    targets: [mem://x]\n",
			`pipelines.docs.stages[0]: unknown stage "brotli" (known: age, fernet, gzip, none, s2, zstd)`},
		{"sluice.yaml", "pipelines: [\n", "sluice.yaml: yaml: line 1:"},
		{"sluice.ini", "x=1", `unknown format "ini"`},
	}
	for _, c := range cases {
		cfg := writeConfig(t, c.file, c.text)
		for _, cmd := range [][]string{{"config", "validate"}, {"run"}, {"list", "docs"}, {"prune", "docs"}} {
			_, stderr, code := cli(t, nil, append([]string{"--config", cfg}, cmd...)...)
			if code != exitUsage || !strings.Contains(stderr, c.want) {
				t.Errorf("%s %v: exit %d, want 2 and %q\nstderr: %s", c.file, cmd, code, c.want, stderr)
			}
		}
	}
	// A missing key file is found by validate, before any run.
	cfg := writeConfig(t, "sluice.yaml", "pipelines:\n  docs:\n    source: /x\n    stages: [zstd, {age: {recipients_file: /nonexistent/r.txt}}]\n    targets: [mem://x]\n")
	_, stderr, code := cli(t, nil, "--config", cfg, "config", "validate")
	if code != exitUsage || !strings.Contains(stderr, "pipelines.docs.stages[1].age: recipients file: open /nonexistent/r.txt: no such file or directory") {
		t.Fatalf("validate missing key file: exit %d\n%s", code, stderr)
	}
	// run of a pipeline whose only failure is its config: exit 2, nothing stored.
	_, stderr, code = cli(t, nil, "--config", cfg, "run", "docs")
	if code != exitUsage {
		t.Fatalf("run with missing key file: exit %d\n%s", code, stderr)
	}
	if _, _, code := cli(t, nil, "--config", cfg, "run", "nope"); code != exitUsage {
		t.Fatalf("unknown pipeline: exit %d", code)
	}
	for _, args := range [][]string{{"list"}, {"verify", "a", "b"}, {"prune"}, {"config", "validate", "x"}, {"config", "nope"}, {"plugins", "x"}} {
		if _, _, code := cli(t, nil, args...); code != exitUsage {
			t.Errorf("sluice %v: exit %d, want 2", args, code)
		}
	}
}

func TestConfigPrecedence(t *testing.T) {
	key, rec := keypair(t)
	fileStore, envStore := t.TempDir(), t.TempDir()
	src := filepath.Join(t.TempDir(), "db.sql")
	if err := os.WriteFile(src, []byte("select 1;\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, "sluice.yaml", fmt.Sprintf(`
defaults:
  name: "{pipeline}-defaults-{time}"
pipelines:
  db-prod:
    source: %s
    stages:
      - zstd: {level: 3}
      - age: {recipients_file: %s}
    targets: [file://%s]
`, src, recipientFile(t, rec), fileStore))

	// The defaults section fills the name.
	url := singleURL(t, mustCLI(t, nil, "--config", cfg, "run", "db-prod"))
	if !strings.HasPrefix(url, "file://"+fileStore+"/db-prod-defaults-") || !strings.HasSuffix(url, ".zst.age") {
		t.Fatalf("file config: %s", url)
	}
	// Environment beats the file: targets and a stage.
	t.Setenv("SLUICE_PIPELINES_DB_PROD_TARGETS", "file://"+envStore)
	t.Setenv("SLUICE_PIPELINES_DB_PROD_STAGES", "gzip,age")
	t.Setenv("SLUICE_PIPELINES_DB_PROD_STAGES_AGE_RECIPIENT", rec)
	t.Setenv("SLUICE_PIPELINES_DB_PROD_STAGES_GZIP_LEVEL", "bogus")
	t.Setenv("SLUICE_DEFAULTS_NAME", "{pipeline}-env-{date}")
	_, stderr, code := cli(t, nil, "--config", cfg, "run", "db-prod")
	if code != exitUsage || !strings.Contains(stderr, `pipelines.db-prod.stages[0].gzip.level (from SLUICE_PIPELINES_DB_PROD_STAGES_GZIP_LEVEL): want an integer, got "bogus"`) {
		t.Fatalf("bad env value: exit %d\n%s", code, stderr)
	}
	// A flag of run beats the environment.
	url = singleURL(t, mustCLI(t, nil, "--config", cfg, "run", "db-prod", "-o", "gzip.level=9"))
	if !strings.HasPrefix(url, "file://"+envStore+"/db-prod-env-") || !strings.HasSuffix(url, ".gz.age") {
		t.Fatalf("env and flag config: %s", url)
	}
	if got := mustCLI(t, nil, "restore", url, "--to", "-", "-i", key); got != "select 1;\n" {
		t.Fatalf("restored %q", got)
	}
	// config show reflects the environment.
	t.Setenv("SLUICE_PIPELINES_DB_PROD_STAGES_GZIP_LEVEL", "7")
	show := mustCLI(t, nil, "--config", cfg, "config", "show", "--json")
	if !strings.Contains(show, envStore) || !strings.Contains(show, `"{pipeline}-env-{date}"`) || !strings.Contains(show, `"level": 7`) {
		t.Fatalf("config show:\n%s", show)
	}
}

func TestConfigShowRedacts(t *testing.T) {
	cfg := writeConfig(t, "sluice.yaml", `
pipelines:
  docs:
    source: /x
    stages: [zstd, {age: {passphrase_env: DOCS_PASS}}]
    targets:
      - azblob://bucket/p?domain=http%3A%2F%2Fu%3Atopsecretsig%40h
      - mem://x
`)
	t.Setenv("DOCS_PASS", "hunter2-passphrase")
	out := mustCLI(t, nil, "--config", cfg, "config", "show")
	if strings.Contains(out, "topsecretsig") || strings.Contains(out, "hunter2") {
		t.Fatalf("secret shown:\n%s", out)
	}
	if !strings.Contains(out, "passphrase_env: DOCS_PASS") || !strings.Contains(out, "domain=http%3A%2F%2FREDACTED%40h") {
		t.Fatalf("config show:\n%s", out)
	}
	// The run settings show as the effective values a run would use.
	cfg = writeConfig(t, "sluice.yaml", `
defaults:
  upload_memory: 96MiB
  bwlimit: 8MiB/s
pipelines:
  docs:
    source: /x
    stages: [zstd, {age: {passphrase_env: DOCS_PASS}}]
    targets: [mem://x]
    all_or_nothing: true
    stall_timeout: 90s
    bwlimit_target: 2MiB
`)
	out = mustCLI(t, nil, "--config", cfg, "config", "show")
	for _, want := range []string{"all_or_nothing: true", "stall_timeout: 1m30s", "upload_memory: 100663296", "bwlimit: 8388608", "bwlimit_target: 2097152"} {
		if !strings.Contains(out, want) {
			t.Errorf("config show lacks %q:\n%s", want, out)
		}
	}
	// A literal secret in the file is refused.
	cfg = writeConfig(t, "sluice.yaml", "pipelines:\n  docs:\n    source: /x\n    stages: [zstd, {age: {identity_file: AGE-SECRET-KEY-1ABCDEF}}]\n    targets: [mem://x]\n")
	_, stderr, code := cli(t, nil, "--config", cfg, "config", "validate")
	if code != exitUsage || !strings.Contains(stderr, "secret written into the config") || strings.Contains(stderr, "ABCDEF") {
		t.Fatalf("literal secret: exit %d\n%s", code, stderr)
	}
}

// TestBriefExample checks that the brief's config works exactly as
// written (testdata/brief.yaml is a verbatim copy).
func TestBriefExample(t *testing.T) {
	home := t.TempDir()
	t.Setenv("HOME", home)
	_, rec := keypair(t)
	os.MkdirAll(filepath.Join(home, ".config", "sluice"), 0o700)
	if err := os.WriteFile(filepath.Join(home, ".config", "sluice", "recipients.txt"), []byte(rec+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code := cli(t, nil, "--config", "testdata/brief.yaml", "config", "validate")
	if code != 0 {
		t.Fatalf("brief example: exit %d\n%s", code, stderr)
	}
	show := mustCLI(t, nil, "--config", "testdata/brief.yaml", "config", "show")
	for _, want := range []string{filepath.Join(home, ".config/sluice/recipients.txt"), "s3://my-backups/photos?region=eu-central-1", "gs://other-cloud/photos", "keep_monthly: 12", "'{pipeline}-{host}-{time}'"} {
		if !strings.Contains(show, want) {
			t.Errorf("config show lacks %q:\n%s", want, show)
		}
	}
}

// TestExamplesValidate loads, strictly decodes and builds the stages of
// every example config.
func TestExamplesValidate(t *testing.T) {
	var files []string
	for _, pat := range []string{"*.yaml", "*.yml", "*.toml", "*.json"} {
		m, _ := filepath.Glob(filepath.Join("..", "..", "examples", pat))
		files = append(files, m...)
	}
	if len(files) < 3 {
		t.Fatalf("found %d example configs", len(files))
	}
	for _, f := range files {
		_, stderr, code := cli(t, nil, "--config", f, "config", "validate")
		if code != 0 {
			t.Errorf("%s: exit %d\n%s", f, code, stderr)
		}
	}
}

func TestPlugins(t *testing.T) {
	out := mustCLI(t, nil, "plugins")
	for _, want := range []string{"zstd", "recipients_file", "s3://", "part_size", "secret reference", "kept in printed URLs"} {
		if !strings.Contains(out, want) {
			t.Errorf("plugins lacks %q", want)
		}
	}
	var doc struct {
		Stages []struct {
			Name    string `json:"name"`
			Options []struct {
				Name   string `json:"name"`
				Secret bool   `json:"secret"`
			} `json:"options"`
		} `json:"stages"`
		Backends []struct {
			Scheme string `json:"scheme"`
		} `json:"backends"`
	}
	if err := json.Unmarshal([]byte(mustCLI(t, nil, "plugins", "--json")), &doc); err != nil {
		t.Fatal(err)
	}
	if len(doc.Stages) < 5 || len(doc.Backends) < 5 || doc.Stages[0].Name != "age" || !doc.Stages[0].Options[2].Secret {
		t.Fatalf("plugins --json: %+v", doc)
	}
}

// TestRunPipelinesScript runs examples/run-pipelines.sh with a built
// sluice on the quick start config, redirected to a temporary target.
func TestRunPipelinesScript(t *testing.T) {
	requireTool(t, "bash")
	bin := filepath.Join(t.TempDir(), "sluice")
	if out, err := exec.Command("go", "build", "-o", bin, ".").CombinedOutput(); err != nil {
		t.Fatalf("go build: %v\n%s", err, out)
	}
	store := t.TempDir()
	urls := filepath.Join(t.TempDir(), "urls.log")
	script := filepath.Join("..", "..", "examples", "run-pipelines.sh")
	config := filepath.Join("..", "..", "examples", "quickstart.yaml")
	run := func(env ...string) (int, string) {
		cmd := exec.Command("bash", script, config, "demo")
		cmd.Env = append(os.Environ(), append([]string{"SLUICE=" + bin, "SLUICE_URL_LOG=" + urls, "SLUICE_PIPELINES_DEMO_TARGETS=file://" + store}, env...)...)
		out, err := cmd.CombinedOutput()
		if err != nil {
			if ee, ok := err.(*exec.ExitError); ok {
				return ee.ExitCode(), string(out)
			}
			t.Fatal(err)
		}
		return 0, string(out)
	}
	if code, out := run(); code != 0 || !strings.Contains(out, "prune demo on file://"+store) {
		t.Fatalf("script: exit %d\n%s", code, out)
	}
	if b, _ := os.ReadFile(urls); !strings.HasPrefix(string(b), "file://"+store+"/demo-") {
		t.Fatalf("URL log %q", b)
	}
	if code, out := run("SLUICE_PIPELINES_DEMO_RETENTION_KEEP_LAST=many"); code != 2 || !strings.Contains(out, "config error") {
		t.Fatalf("config error: exit %d\n%s", code, out)
	}

	// Pipelines without retention are not pruned, and the most severe
	// status wins: config error > failure > some targets failed.
	rf := recipientFile(t, "age1ql3z7hjy54pw3hyww5ayyfg7zqgvc7w3j2elw8zmrj2kg5sfn9aqmcac8p")
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, "sluice.yaml", fmt.Sprintf(`
defaults:
  stages: [zstd, {age: {recipients_file: %[1]s}}]
pipelines:
  kept: {source: %[1]s, targets: [file://%[2]s/kept], retention: {keep_last: 2}}
  plain: {source: %[1]s, targets: [file://%[2]s/plain]}
  badcfg: {source: %[1]s, targets: [file://%[2]s/badcfg], stages: [zstd, {age: {recipients_file: /nonexistent}}]}
  broken: {source: %[1]s, targets: [file://%[3]s/sub]}
  partial: {source: %[1]s, targets: [file://%[2]s/partial, file://%[3]s/sub]}
`, rf, store, notDir))
	for _, c := range []struct {
		pipelines []string
		want      int
		says      []string
	}{
		{[]string{"kept", "plain"}, 0, []string{"prune kept on file://"}},
		{[]string{"partial"}, 3, []string{"partial: stored, but some targets failed; not pruning"}},
		{[]string{"partial", "broken", "plain"}, 1, []string{"broken: backup failed (exit 1)"}},
		{[]string{"badcfg", "broken", "partial"}, 2, []string{"badcfg: config error", "broken: backup failed"}},
		{[]string{"broken", "badcfg", "kept"}, 2, []string{"badcfg: config error", "prune kept on file://"}},
	} {
		cmd := exec.Command("bash", append([]string{script, cfg}, c.pipelines...)...)
		cmd.Env = append(os.Environ(), "SLUICE="+bin)
		out, _ := cmd.CombinedOutput()
		code := cmd.ProcessState.ExitCode()
		if code != c.want || strings.Contains(string(out), "prune failed") || strings.Contains(string(out), "no retention") {
			t.Errorf("run-pipelines.sh %v: exit %d, want %d\n%s", c.pipelines, code, c.want, out)
		}
		for _, w := range c.says {
			if !strings.Contains(string(out), w) {
				t.Errorf("run-pipelines.sh %v: output lacks %q\n%s", c.pipelines, w, out)
			}
		}
	}
}

// TestPruneReportsUndeletable makes one old backup undeletable (an
// immutable file stands in for S3 Object Lock) and checks that prune
// reports it, removes the others and exits 1.
func TestPruneReportsUndeletable(t *testing.T) {
	chattr := requireTool(t, "chattr")
	_, rec := keypair(t)
	store := t.TempDir()
	cfg := writeConfig(t, "sluice.yaml", fmt.Sprintf(`
pipelines:
  logs:
    source: %s
    stages: [zstd, {age: {recipients_file: %s}}]
    targets: [file://%s]
    retention: {keep_last: 1}
`, makeTree(t), recipientFile(t, rec), store))

	// --dry-run stores nothing; --json reports in JSON.
	stdout, stderr, code := cli(t, nil, "--config", cfg, "run", "--dry-run")
	if code != 0 || stdout != "" || !strings.Contains(stderr, "dry run logs: would store") {
		t.Fatalf("run --dry-run: exit %d, stdout %q\n%s", code, stdout, stderr)
	}
	if entries, _ := os.ReadDir(store); len(entries) != 0 {
		t.Fatalf("dry run stored %d files", len(entries))
	}
	var urls []string
	for range 3 {
		stdout, stderr, code := cli(t, nil, "--config", cfg, "run", "--json")
		if code != 0 || !strings.Contains(stderr, `"event":"summary"`) || !strings.Contains(stderr, `"pipeline":"logs"`) {
			t.Fatalf("run --json: exit %d\n%s", code, stderr)
		}
		jsonEvents(t, stderr) // every line JSON
		urls = append(urls, singleURL(t, stdout))
	}
	locked := strings.TrimPrefix(urls[0], "file://")
	if out, err := exec.Command(chattr, "+i", locked).CombinedOutput(); err != nil {
		skipOutsideCI(t, "this file system has no immutable files: %v %s", err, out)
	}
	t.Cleanup(func() { exec.Command(chattr, "-i", locked).Run() })

	_, stderr, code = cli(t, nil, "--config", cfg, "prune", "logs")
	if code != exitFailure || !strings.Contains(stderr, "FAILED") || !strings.Contains(stderr, urls[0]) {
		t.Fatalf("prune: exit %d, want 1 naming %s\n%s", code, urls[0], stderr)
	}
	if _, err := os.Stat(strings.TrimPrefix(urls[1], "file://")); err == nil {
		t.Fatal("prune stopped at the undeletable object")
	}
	if _, err := os.Stat(strings.TrimPrefix(urls[2], "file://")); err != nil {
		t.Fatal("prune removed the newest backup")
	}
}

// TestNameTemplates runs a pipeline with two sources and every
// placeholder: one object per source, in a sub-folder, with the stage
// extensions appended.
func TestNameTemplates(t *testing.T) {
	_, rec := keypair(t)
	store := t.TempDir()
	dir := t.TempDir()
	for _, n := range []string{"alpha", "beta.txt"} {
		if err := os.WriteFile(filepath.Join(dir, n), []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	cfg := writeConfig(t, "sluice.yaml", fmt.Sprintf(`
pipelines:
  multi:
    sources: [%s/alpha, %s/beta.txt]
    stages: [gzip, {age: {recipients_file: %s}}]
    targets: [file://%s]
    name: "{pipeline}/{date}/{source}-{host}-{time}"
`, dir, dir, recipientFile(t, rec), store))
	urls := urlLines(t, mustCLI(t, nil, "--config", cfg, "run"))
	if len(urls) != 2 {
		t.Fatalf("%d objects, want one per source: %q", len(urls), urls)
	}
	host := pipeline.ShortHost()
	for i, src := range []string{"alpha", "beta.txt"} {
		prefix := "file://" + store + "/multi/"
		rest, ok := strings.CutPrefix(urls[i], prefix)
		parts := strings.Split(rest, "/")
		if !ok || len(parts) != 2 || len(parts[0]) != len("2006-01-02") || !strings.HasPrefix(parts[1], src+"-"+host+"-") || !strings.HasSuffix(parts[1], "Z.gz.age") {
			t.Errorf("object %d: %s, want %s<date>/%s-%s-<time>.gz.age", i, urls[i], prefix, src, host)
		}
	}
}

// TestPipelinesGCSAndAzure runs the whole run/list/verify/prune flow on
// Google Cloud Storage (fake-gcs-server) and Azure Blob Storage (Azurite),
// with a foreign object on each that prune must leave alone.
func TestPipelinesGCSAndAzure(t *testing.T) {
	gcs := gcstest.StartFakeGCS(t, "pipes")
	azureURL := azuretest.StartAzurite(t, "pipes")
	az := azuretest.Client(t, azureURL)
	const foreignKey = "docs/docs-foreign.tar.zst.age"
	pipelineFlow(t, []string{"gs://pipes/docs", "azblob://pipes/docs"}, func(put bool) bool {
		ctx := context.Background()
		if put {
			gcs.CreateObject(fakestorage.Object{
				ObjectAttrs: fakestorage.ObjectAttrs{BucketName: "pipes", Name: foreignKey},
				Content:     []byte("not ours"),
			})
			if _, err := az.UploadBuffer(ctx, "pipes", foreignKey, []byte("not ours"), nil); err != nil {
				t.Fatal(err)
			}
		}
		_, gerr := gcs.GetObject("pipes", foreignKey)
		_, aerr := az.ServiceClient().NewContainerClient("pipes").NewBlobClient(foreignKey).GetProperties(ctx, nil)
		return gerr == nil && aerr == nil
	})
}

// TestPruneJSONTargetFailed checks prune --json when a target does not
// open: a target_failed event naming it in "target", the other target
// pruned, an error event last, no line that is not JSON, and exit 3 (some
// targets failed, the others succeeded).
func TestPruneJSONTargetFailed(t *testing.T) {
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, "sluice.yaml", fmt.Sprintf(`pipelines:
  logs:
    source: %s
    stages: [zstd]
    allow_plaintext: true
    targets: [file://%s/x, file://%s]
    retention: {keep_last: 1}
`, t.TempDir(), notDir, t.TempDir()))
	_, stderr, code := cli(t, nil, "--config", cfg, "prune", "logs", "--json")
	evs := jsonEvents(t, stderr)
	if code != exitPartial || len(evs) != 2 || evs[0]["event"] != "target_failed" || !strings.Contains(evs[0]["error"].(string), notDir) ||
		evs[0]["target"] != "file://"+notDir+"/x" || evs[1]["event"] != "error" {
		t.Fatalf("prune --json with a target that does not open: exit %d\n%s", code, stderr)
	}
}
