package main

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// dataFile writes "data" to data.txt in dir and returns its path.
func dataFile(t *testing.T, dir string) string {
	t.Helper()
	path := filepath.Join(dir, "data.txt")
	if err := os.WriteFile(path, []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	return path
}

// decryptsWith reports, per identity file, whether restore of url
// succeeds with it alone.
func decryptsWith(t *testing.T, url string, keys ...string) []bool {
	t.Helper()
	out := make([]bool, len(keys))
	for i, k := range keys {
		_, _, code := cli(t, nil, "restore", url, "--to", "-", "-i", k)
		out[i] = code == 0
	}
	return out
}

// TestRepeatableOptionsAccumulate: a list option (age.recipient) takes
// every value the key flags and repeated -o give, on backup and run; per
// option the command line replaces the environment, never the reverse;
// -o age.recipient alone counts as a key given. Each case is checked by
// decrypting with each key.
func TestRepeatableOptionsAccumulate(t *testing.T) {
	k1, r1 := keypair(t)
	k2, r2 := keypair(t)
	k3, r3 := keypair(t)
	src := dataFile(t, t.TempDir())
	store := t.TempDir()
	cfg := writeConfig(t, "sluice.yaml", "pipelines:\n  docs:\n    source: "+src+"\n    stages: [zstd, {age: {recipient: "+r3+"}}]\n    targets: [file://"+store+"]\n    name: \"{time}-{source}\"\n")
	backup := []string{"backup", src, "--to", "file://" + store}
	cases := []struct {
		name string
		env  map[string]string
		args []string
		want [3]bool // k1, k2, k3 decrypt
	}{
		{"flag and -o", nil, append(backup, "-r", r3, "-o", "age.recipient="+r1), [3]bool{true, false, true}},
		{"-o twice", nil, append(backup, "--encrypt", "age", "-o", "age.recipient="+r1, "-o", "age.recipient="+r2), [3]bool{true, true, false}},
		{"-o alone is a key", nil, append(backup, "-o", "age.recipient="+r1), [3]bool{true, false, false}},
		{"command line beats env -o", map[string]string{"SLUICE_OPTION": "age.recipient=" + r1}, append(backup, "-r", r3), [3]bool{false, false, true}},
		{"-o beats env flag", map[string]string{"SLUICE_RECIPIENT": r1}, append(backup, "-o", "age.recipient="+r2), [3]bool{false, true, false}},
		{"env -o list", map[string]string{"SLUICE_OPTION": "age.recipient=" + r1 + "," + r2 + ",zstd.level=3"}, backup, [3]bool{true, true, false}},
		{"env -o and env flag", map[string]string{"SLUICE_RECIPIENT": r1, "SLUICE_OPTION": "age.recipient=" + r2}, backup, [3]bool{true, true, false}},
		{"run -o twice", nil, []string{"--config", cfg, "run", "-o", "age.recipient=" + r1, "-o", "age.recipient=" + r2}, [3]bool{true, true, false}},
		{"run env -o", map[string]string{"SLUICE_OPTION": "age.recipient=" + r1}, []string{"--config", cfg, "run"}, [3]bool{true, false, false}},
		{"run -o beats env -o", map[string]string{"SLUICE_OPTION": "age.recipient=" + r1}, []string{"--config", cfg, "run", "-o", "age.recipient=" + r2}, [3]bool{false, true, false}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			url := singleURL(t, mustCLI(t, nil, c.args...))
			for k := range c.env {
				os.Unsetenv(k) // restore below must not see SLUICE_OPTION
			}
			got := decryptsWith(t, url, k1, k2, k3)
			if [3]bool(got) != c.want {
				t.Errorf("k1, k2, k3 decrypt: %v, want %v", got, c.want)
			}
		})
	}

	url := singleURL(t, mustCLI(t, nil, append(backup, "-r", r1)...))
	for _, args := range [][]string{
		{"-i", k2, "-o", "age.identity_file=" + k1},
		{"-i", k1, "-o", "age.identity_file=" + k2},
	} {
		if out := mustCLI(t, nil, append([]string{"restore", url, "--to", "-"}, args...)...); out != "data" {
			t.Errorf("restore %v: got %q", args, out)
		}
	}
}

// TestSingleOptionGivenTwice: --compress zstd:LEVEL and -o zstd.level
// typed together are a usage error; from the environment, the level is
// replaced by the typed one. --workers from the environment is left
// unused where it does not apply; typed, it is an error there.
func TestSingleOptionGivenTwice(t *testing.T) {
	_, rec := keypair(t)
	src := dataFile(t, t.TempDir())
	backup := []string{"backup", src, "--to", "mem://", "-r", rec, "--dry-run"}
	const want = "--compress zstd:19 and --option zstd.level=1 both set zstd.level: give one"
	stdout, stderr, code := cli(t, nil, append(backup, "--compress", "zstd:19", "-o", "zstd.level=1")...)
	if code != exitUsage || !strings.Contains(stderr, want) || stdout != "" {
		t.Errorf("typed twice: exit %d, want 2 and %q\n%s", code, want, stderr)
	}
	stdout, stderr, code = cli(t, nil, append(backup, "-o", "zstd.level=1", "-o", "zstd.level=2")...)
	if code != exitUsage || !strings.Contains(stderr, "both set zstd.level") || stdout != "" {
		t.Errorf("-o twice: exit %d, want 2\n%s", code, stderr)
	}
	t.Run("env", func(t *testing.T) {
		t.Setenv("SLUICE_COMPRESS", "zstd:99") // out of range: only an error if used
		mustCLI(t, nil, append(backup, "-o", "zstd.level=1")...)
		t.Setenv("SLUICE_COMPRESS", "gzip")
		t.Setenv("SLUICE_WORKERS", "2")
		mustCLI(t, nil, backup...)
	})
	cfg := writeConfig(t, "sluice.yaml", "pipelines:\n  docs:\n    source: "+src+"\n    stages: [gzip, {age: {recipient: "+rec+"}}]\n    targets: [mem://x]\n")
	t.Run("run env workers", func(t *testing.T) {
		t.Setenv("SLUICE_WORKERS", "2")
		mustCLI(t, nil, "--config", cfg, "run")
	})
	if _, stderr, code := cli(t, nil, "--config", cfg, "run", "--workers", "2"); code != exitUsage || !strings.Contains(stderr, "--workers") {
		t.Errorf("run --workers for gzip: exit %d, want 2\n%s", code, stderr)
	}
}

// TestRestoreUnknownOption: -o naming an unknown stage or option is a
// usage error on restore and verify, before anything is read.
func TestRestoreUnknownOption(t *testing.T) {
	for _, c := range []struct{ opt, want string }{
		{"zstd.concurency=1", `stage "zstd": concurency: unknown option (known: level, concurrency, frame_size)`},
		{"bogus.x=1", `unknown stage "bogus"`},
	} {
		for _, cmd := range []string{"restore", "verify"} {
			_, stderr, code := cli(t, nil, cmd, "mem://nowhere/obj.zst", "--to", "-", "-o", c.opt)
			if cmd == "verify" {
				_, stderr, code = cli(t, nil, cmd, "mem://nowhere/obj.zst", "-o", c.opt)
			}
			if code != exitUsage || !strings.Contains(stderr, c.want) {
				t.Errorf("%s -o %s: exit %d, want 2 and %q\n%s", cmd, c.opt, code, c.want, stderr)
			}
		}
	}
}

// TestConfigExcludeAndStallTimeout: a malformed exclude pattern is a
// config error (exit 2) from validate and run, naming the pipeline and
// the pattern; stall_timeout: 0 as a number is accepted in YAML, TOML
// and JSON (0 waits forever).
func TestConfigExcludeAndStallTimeout(t *testing.T) {
	_, rec := keypair(t)
	src := dataFile(t, t.TempDir())
	cfg := writeConfig(t, "sluice.yaml", "pipelines:\n  docs:\n    source: "+src+"\n    exclude: [\"[abc\"]\n    stages: [zstd, {age: {recipient: "+rec+"}}]\n    targets: [mem://x]\n")
	const want = `pipelines.docs.exclude[0]: archive: exclude pattern "[abc": syntax error in pattern`
	for _, cmd := range [][]string{{"config", "validate"}, {"run"}} {
		stdout, stderr, code := cli(t, nil, append([]string{"--config", cfg}, cmd...)...)
		if code != exitUsage || !strings.Contains(stderr, want) || stdout != "" {
			t.Errorf("%v: exit %d, want 2 and %q\n%s", cmd, code, want, stderr)
		}
	}
	for name, text := range map[string]string{
		"sluice.yaml": "pipelines:\n  docs:\n    source: " + src + "\n    stall_timeout: 0\n    stages: [zstd, {age: {recipient: " + rec + "}}]\n    targets: [mem://x]\n",
		"sluice.toml": "[pipelines.docs]\nsource = \"" + src + "\"\nstall_timeout = 0\nstages = [\"zstd\", {age = {recipient = \"" + rec + "\"}}]\ntargets = [\"mem://x\"]\n",
		"sluice.json": `{"pipelines": {"docs": {"source": "` + src + `", "stall_timeout": 0, "stages": ["zstd", {"age": {"recipient": "` + rec + `"}}], "targets": ["mem://x"]}}}`,
	} {
		cfg := writeConfig(t, name, text)
		mustCLI(t, nil, "--config", cfg, "config", "validate")
		if out := mustCLI(t, nil, "--config", cfg, "config", "show"); !strings.Contains(out, "stall_timeout: 0s") {
			t.Errorf("%s: config show:\n%s", name, out)
		}
	}
}

// TestConfigShowRoundTrips: config show prints lists as lists and option
// values with their types, so its output (YAML or JSON) is a config that
// validates and shows the same again.
func TestConfigShowRoundTrips(t *testing.T) {
	_, rec := keypair(t)
	dir := t.TempDir()
	src := dataFile(t, dir)
	cfg := writeConfig(t, "sluice.yaml", `
defaults:
  retention: {keep_daily: 7}
pipelines:
  beta:
    source: `+src+`
    stall_timeout: 90s
    stages:
      - gzip: {level: 1}
      - age: {recipient: [`+rec+`, `+rec+`], work_factor: 15}
    targets:
      - {url: "s3://bkt1/beta", storage_class: STANDARD_IA, tags: ["env=prod", "team=ops"], sse: AES256}
`)
	shown := mustCLI(t, nil, "--config", cfg, "config", "show")
	for _, want := range []string{"level: 1\n", "work_factor: 15\n", "- env=prod\n", "- team=ops\n"} {
		if !strings.Contains(shown, want) {
			t.Errorf("config show lacks %q:\n%s", want, shown)
		}
	}
	for _, format := range []string{"yaml", "json"} {
		args := []string{"config", "show"}
		if format == "json" {
			args = append(args, "--json")
		}
		again := writeConfig(t, "shown."+format, mustCLI(t, nil, append([]string{"--config", cfg}, args...)...))
		mustCLI(t, nil, "--config", again, "config", "validate")
		if got := mustCLI(t, nil, "--config", again, "config", "show"); got != shown {
			t.Errorf("%s: config show of the shown config differs:\n%s\nwant:\n%s", format, got, shown)
		}
	}
}

// TestConfigValidateDuplicateTarget: a target listed twice in a pipeline
// is refused by config validate, as run refuses it.
func TestConfigValidateDuplicateTarget(t *testing.T) {
	_, rec := keypair(t)
	store := t.TempDir()
	src := dataFile(t, store)
	cfg := writeConfig(t, "sluice.yaml", "pipelines:\n  docs:\n    source: "+src+"\n    stages: [zstd, {age: {recipient: "+rec+"}}]\n    targets: [file://"+store+", file://"+store+"/]\n")
	const want = "pipelines.docs.targets[1]: the same target as pipelines.docs.targets[0]: give each target once"
	for _, cmd := range [][]string{{"config", "validate"}, {"run"}} {
		stdout, stderr, code := cli(t, nil, append([]string{"--config", cfg}, cmd...)...)
		if code != exitUsage || !strings.Contains(stderr, want) || stdout != "" {
			t.Errorf("%v: exit %d, want 2 and %q\n%s", cmd, code, want, stderr)
		}
	}
}

// TestEnvErrorsNameTheVariable: an error in a value from the environment
// names the variable, whatever check finds it; an exported
// SLUICE_EXCLUDE is left unused for a file source it cannot apply to.
func TestEnvErrorsNameTheVariable(t *testing.T) {
	_, rec := keypair(t)
	dir := t.TempDir()
	src := dataFile(t, dir)
	tree := makeTree(t)
	for _, c := range []struct {
		name, value string
		source      string
		key         bool // give -r
	}{
		{"SLUICE_NAME", "{bogus}", src, true},
		{"SLUICE_EXCLUDE", "[abc", tree, true},
		{"SLUICE_TO", "ftp://x", src, true},
		{"SLUICE_OPTION", "zstd.bogus=1", src, true},
		{"SLUICE_OPTION", "zstd.level=40", src, true},
		{"SLUICE_COMPRESS", "zstd:30", src, true},
		{"SLUICE_RECIPIENT", "age1bogus", src, false},
	} {
		t.Run(c.name+"="+c.value, func(t *testing.T) {
			t.Setenv(c.name, c.value)
			args := []string{"backup", c.source, "--dry-run"}
			if c.name != "SLUICE_TO" {
				args = append(args, "--to", "mem://")
			}
			if c.key {
				args = append(args, "-r", rec)
			}
			stdout, stderr, code := cli(t, nil, args...)
			if code != exitUsage || !strings.Contains(stderr, "environment "+c.name) || stdout != "" {
				t.Errorf("exit %d, want 2 and a message naming %s\n%s", code, c.name, stderr)
			}
		})
	}
	t.Run("exclude for a file", func(t *testing.T) {
		t.Setenv("SLUICE_EXCLUDE", "*.tmp")
		mustCLI(t, nil, "backup", src, "--to", "mem://", "-r", rec, "--dry-run")
		if _, stderr, code := cli(t, nil, "backup", src, "--to", "mem://", "-r", rec, "--exclude", "*.x", "--dry-run"); code != exitUsage {
			t.Errorf("typed --exclude for a file: exit %d, want 2\n%s", code, stderr)
		}
	})
	cfg := writeConfig(t, "sluice.yaml", "pipelines:\n  docs:\n    source: "+src+"\n    stages: [zstd, {age: {recipient: "+rec+"}}]\n    targets: [mem://x]\n")
	t.Run("run", func(t *testing.T) {
		t.Setenv("SLUICE_OPTION", "zstd.level=40")
		_, stderr, code := cli(t, nil, "--config", cfg, "run")
		if want := "pipelines.docs.stages[0].zstd (from SLUICE_OPTION): level 40"; code != exitUsage || !strings.Contains(stderr, want) {
			t.Errorf("run: exit %d, want 2 and %q\n%s", code, want, stderr)
		}
	})
}

// TestRunNamedTwice: a pipeline named twice (in any case) runs once.
func TestRunNamedTwice(t *testing.T) {
	_, rec := keypair(t)
	src := dataFile(t, t.TempDir())
	cfg := writeConfig(t, "sluice.yaml", "pipelines:\n  good:\n    source: "+src+"\n    stages: [zstd, {age: {recipient: "+rec+"}}]\n    targets: [file://"+t.TempDir()+"]\n")
	for _, args := range [][]string{{"good", "GOOD"}, {"good", "good"}} {
		out := mustCLI(t, nil, append([]string{"--config", cfg, "run"}, args...)...)
		singleURL(t, out)
	}
}

// TestBandwidthLimitLifted: a rate of 0 (or off) is no limit, so a run
// flag, its variable or a pipeline's key lifts a limit it would inherit.
func TestBandwidthLimitLifted(t *testing.T) {
	_, rec := keypair(t)
	src := dataFile(t, t.TempDir())
	cfg := writeConfig(t, "sluice.yaml", "defaults:\n  bwlimit: 8MiB\n  stages: [zstd, {age: {recipient: "+rec+"}}]\n  targets: [mem://x]\npipelines:\n  a:\n    source: "+src+"\n  b:\n    source: "+src+"\n    bwlimit: 0\n")
	limited := func(t *testing.T, args ...string) bool {
		t.Helper()
		_, stderr, code := cli(t, nil, append([]string{"--config", cfg, "run", "--dry-run", "--json"}, args...)...)
		if code != 0 {
			t.Fatalf("%v: exit %d\n%s", args, code, stderr)
		}
		return strings.Contains(stderr, `"bwlimit"`)
	}
	if !limited(t, "a") {
		t.Errorf("a inherits no limit from defaults")
	}
	for _, args := range [][]string{{"b"}, {"a", "--bwlimit", "0"}, {"a", "--bwlimit", "off"}} {
		if limited(t, args...) {
			t.Errorf("%v: still limited", args)
		}
	}
	t.Setenv("SLUICE_BWLIMIT", "0")
	if limited(t, "a") {
		t.Errorf("SLUICE_BWLIMIT=0: still limited")
	}
	if _, stderr, code := cli(t, nil, "--config", cfg, "run", "a", "--bwlimit", "10"); code != exitUsage || !strings.Contains(stderr, "at least 1KiB per second, or 0 for no limit") {
		t.Errorf("--bwlimit 10: exit %d\n%s", code, stderr)
	}
}

// TestConfigFlagWhereNoConfigIsRead: --config naming a missing file,
// typed for a command that reads no config file, is a usage error naming
// the commands that do; an existing file is left unused (the global flag
// may be given to every command), and so is SLUICE_CONFIG, which may be
// exported for every command.
func TestConfigFlagWhereNoConfigIsRead(t *testing.T) {
	src := dataFile(t, t.TempDir())
	const want = "/nonexistent.yaml: no such file (sluice"
	for _, args := range [][]string{
		{"--config", "/nonexistent.yaml", "keygen"},
		{"backup", src, "--to", "mem://", "--encrypt", "none", "--config", "/nonexistent.yaml"},
		{"restore", "mem://x/y", "--to", "-", "--config", "/nonexistent.yaml"},
		{"plugins", "--config", "/nonexistent.yaml"},
		{"list", "file://" + filepath.Dir(src), "--config", "/nonexistent.yaml"},
		{"verify", "file://" + src, "--config", "/nonexistent.yaml"},
	} {
		stdout, stderr, code := cli(t, nil, args...)
		if code != exitUsage || !strings.Contains(stderr, want) || stdout != "" {
			t.Errorf("%v: exit %d, want 2 and %q\n%s", args, code, want, stderr)
		}
	}
	cfg := writeConfig(t, "sluice.yaml", "pipelines: {}\n")
	mustCLI(t, nil, "--config", cfg, "backup", src, "--to", "mem://", "--encrypt", "none", "--dry-run")
	mustCLI(t, nil, "--config", cfg, "plugins")
	mustCLI(t, nil, "--config", cfg, "list", "file://"+filepath.Dir(src))
	// A pipeline name is looked up in the file: a missing one is the
	// config loader's error (exit 2), not this check's.
	if _, stderr, code := cli(t, nil, "list", "photos", "--config", "/nonexistent.yaml"); code != exitUsage || strings.Contains(stderr, want) {
		t.Errorf("list PIPELINE --config missing: exit %d\n%s", code, stderr)
	}
	t.Setenv("SLUICE_CONFIG", "/nonexistent.yaml")
	mustCLI(t, nil, "plugins")
	mustCLI(t, nil, "backup", src, "--to", "mem://", "--encrypt", "none", "--dry-run")
}

// TestConflictHidesMisplacedSecret: a passphrase typed where its variable's
// name belongs is never echoed, also not by the message about two values
// for one option.
func TestConflictHidesMisplacedSecret(t *testing.T) {
	src := dataFile(t, t.TempDir())
	const pass = "correct horse battery staple"
	for _, c := range []struct {
		env  []string
		args []string
	}{
		{nil, []string{"--passphrase-env", pass, "-o", "age.passphrase_env=PW"}},
		{[]string{"SLUICE_PASSPHRASE_ENV=" + pass, "SLUICE_OPTION=age.passphrase_env=PW"}, nil},
	} {
		for _, kv := range c.env {
			k, v, _ := strings.Cut(kv, "=")
			t.Setenv(k, v)
		}
		stdout, stderr, code := cli(t, nil, append([]string{"backup", src, "--to", "mem://"}, c.args...)...)
		if code != exitUsage || strings.Contains(stdout+stderr, "horse") || !strings.Contains(stderr, "both set age.passphrase_env") {
			t.Errorf("%v %v: exit %d\n%s", c.env, c.args, code, stderr)
		}
		for _, kv := range c.env {
			k, _, _ := strings.Cut(kv, "=")
			os.Unsetenv(k)
		}
	}
}

// TestTypedKeysReplaceExportedKeys: keys are replaced as a group: a
// typed recipient leaves an exported passphrase unused and the reverse
// (age refuses to combine them), on backup, and on restore an exported
// key that would fail gives way to a typed one. Each object decrypts
// with the typed key alone.
func TestTypedKeysReplaceExportedKeys(t *testing.T) {
	src := dataFile(t, t.TempDir())
	key, rec := keypair(t)
	t.Setenv("SLUICE_TEST_PW", "correct horse battery staple")
	backup := func(t *testing.T, args ...string) string {
		t.Helper()
		return singleURL(t, mustCLI(t, nil, append([]string{"backup", src, "--to", "file://" + t.TempDir()}, args...)...))
	}
	t.Run("exported recipient, typed passphrase", func(t *testing.T) {
		t.Setenv("SLUICE_RECIPIENT", rec)
		url := backup(t, "--passphrase-env", "SLUICE_TEST_PW")
		os.Unsetenv("SLUICE_RECIPIENT")
		if out := mustCLI(t, nil, "restore", url, "--to", "-", "--passphrase-env", "SLUICE_TEST_PW"); out != "data" {
			t.Errorf("restore with the passphrase: got %q", out)
		}
	})
	t.Run("exported passphrase, typed recipient", func(t *testing.T) {
		t.Setenv("SLUICE_PASSPHRASE_ENV", "SLUICE_TEST_PW")
		url := backup(t, "-r", rec)
		os.Unsetenv("SLUICE_PASSPHRASE_ENV")
		if got := decryptsWith(t, url, key); !got[0] {
			t.Errorf("the typed recipient's key does not decrypt %s", url)
		}
	})
	t.Run("restore: exported passphrase variable unset, typed -i", func(t *testing.T) {
		url := backup(t, "-r", rec)
		t.Setenv("SLUICE_PASSPHRASE_ENV", "SLUICE_TEST_UNSET_PW")
		if out := mustCLI(t, nil, "restore", url, "--to", "-", "-i", key); out != "data" {
			t.Errorf("restore -i: got %q", out)
		}
	})
}

// TestTypedKeysBeatExportedOnes: keys or an encryption typed on the
// command line choose the encryption; variables exported for other
// backups (another stage's keys, SLUICE_ENCRYPT, another compressor's
// options) give way instead of making the backup a usage error, while the
// same settings typed are still refused.
func TestTypedKeysBeatExportedOnes(t *testing.T) {
	src := dataFile(t, t.TempDir())
	_, rec := keypair(t)
	fk := fernetKey(t)
	for _, c := range []struct {
		env    map[string]string
		args   []string
		suffix string
	}{
		{map[string]string{"SLUICE_RECIPIENT": rec}, []string{"--fernet-key", fk}, ".zst.fernet"},
		{map[string]string{"SLUICE_FERNET_KEY": fk}, []string{"-r", rec}, ".zst.age"},
		{map[string]string{"SLUICE_ENCRYPT": "age"}, []string{"--fernet-key", fk}, ".zst.fernet"},
		{map[string]string{"SLUICE_OPTION": "zstd.level=3"}, []string{"--compress", "gzip", "-r", rec}, ".gz.age"},
		{map[string]string{"SLUICE_RECIPIENT": rec}, []string{"--encrypt", "none"}, ".zst"},
	} {
		t.Run(strings.Join(c.args, " "), func(t *testing.T) {
			for k, v := range c.env {
				t.Setenv(k, v)
			}
			url := singleURL(t, mustCLI(t, nil, append([]string{"backup", src, "--to", "file://" + t.TempDir()}, c.args...)...))
			if !strings.HasSuffix(url, c.suffix) {
				t.Errorf("stored %s, want a %s object", url, c.suffix)
			}
		})
	}
	for _, args := range [][]string{
		{"-r", rec, "--encrypt", "none"},
		{"--compress", "gzip", "-o", "zstd.level=3", "-r", rec},
		{"-r", rec, "--passphrase-env", "SLUICE_TEST_PW"},
	} {
		if _, stderr, code := cli(t, nil, append([]string{"backup", src, "--to", "mem://"}, args...)...); code != exitUsage {
			t.Errorf("%v typed: exit %d, want 2\n%s", args, code, stderr)
		}
	}
}
