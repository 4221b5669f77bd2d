package main

import (
	"strings"
	"testing"
)

// TestConfigKeysDifferingInCase checks that keys viper would merge
// (equal once lower-cased) and JSON keys given twice are config errors
// naming the keys and where they are, in every format.
func TestConfigKeysDifferingInCase(t *testing.T) {
	const p = "source: /x\n    allow_plaintext: true\n    targets: [mem://x]\n"
	cases := []struct{ file, text, want string }{
		{"sluice.yaml", "pipelines:\n  Photos:\n    " + p + "  photos:\n    " + p,
			`pipelines: keys "Photos" and "photos" differ only in case`},
		{"sluice.yaml", "pipelines:\n  a:\n    SOURCE: /y\n    " + p,
			`pipelines.a: keys "SOURCE" and "source" differ only in case`},
		{"sluice.yaml", "pipelines:\n  a:\n    stages: [{zstd: {level: 1, Level: 2}}]\n    " + p,
			`pipelines.a.stages[0].zstd: keys "Level" and "level" differ only in case`},
		// A merge key brings in "Source" beside "source".
		{"sluice.yaml", "pipelines:\n  b: &b {Source: /y}\n  a:\n    <<: *b\n    " + p,
			`pipelines.a: keys "Source" and "source" differ only in case`},
		{"sluice.toml", "[pipelines.a]\nsource = \"/x\"\nallow_plaintext = true\ntargets = [\"mem://x\"]\n[pipelines.A]\nsource = \"/y\"\n",
			`pipelines: keys "A" and "a" differ only in case`},
		{"sluice.toml", "[pipelines.a]\nsource = \"/x\"\nSource = \"/y\"\nallow_plaintext = true\ntargets = [\"mem://x\"]\n",
			`pipelines.a: keys "Source" and "source" differ only in case`},
		{"sluice.json", `{"pipelines": {"a": {"source": "/x", "source": "/y", "allow_plaintext": true, "targets": ["mem://x"]}}}`,
			`pipelines.a: key "source" appears twice`},
		{"sluice.json", `{"pipelines": {"a": {"source": "/x", "allow_plaintext": true, "targets": ["mem://x"]}, "A": {"source": "/y"}}}`,
			`pipelines: keys "a" and "A" differ only in case`},
		{"sluice.json", `{"Pipelines": {}, "pipelines": {"a": {"source": "/x", "allow_plaintext": true, "targets": ["mem://x"]}}}`,
			`: keys "Pipelines" and "pipelines" differ only in case`},
		{"sluice.json", `{"pipelines": {"a": {"source": "/x", "allow_plaintext": true, "targets": [{"url": "mem://x", "url": "mem://y"}]}}}`,
			`pipelines.a.targets[0]: key "url" appears twice`},
	}
	for _, c := range cases {
		cfg := writeConfig(t, c.file, c.text)
		_, stderr, code := cli(t, nil, "--config", cfg, "config", "validate")
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("%s %q: exit %d, want 2 and %q\nstderr: %s", c.file, c.text, code, c.want, stderr)
		}
	}
	// Keys equal as written once merged are fine: an explicit key
	// overrides what a YAML merge key brings in.
	cfg := writeConfig(t, "sluice.yaml", "pipelines:\n  b: &b\n    "+p+"  a:\n    <<: *b\n    source: /y\n")
	if _, stderr, code := cli(t, nil, "--config", cfg, "config", "validate"); code != 0 {
		t.Errorf("merge key overridden: exit %d\n%s", code, stderr)
	}
}

// TestURLCredentialsRedacted checks that userinfo in a target option that
// is a URL, or nested in a target URL's query value, never shows: S3
// refuses credentials in its endpoint when the config loads, with an
// error that does not echo them, and a query value that passes through
// to a gocloud opener is redacted by config show (YAML and JSON) and in
// run's JSON events.
func TestURLCredentialsRedacted(t *testing.T) {
	src := writeConfig(t, "data.txt", "data")
	check := func(what, out string) {
		t.Helper()
		for _, secret := range []string{"PASSWD", "keyid"} {
			if strings.Contains(out, secret) {
				t.Errorf("%s shows %q:\n%s", what, secret, out)
			}
		}
	}
	refused := writeConfig(t, "sluice.yaml", `
pipelines:
  docs:
    source: `+src+`
    allow_plaintext: true
    targets:
      - {url: s3://bkt/q, endpoint: "http://keyid:PASSWD7@host"}
      - s3://bkt/r?endpoint=http%3A%2F%2Fkeyid%3APASSWD8%40host&region=x
`)
	for _, args := range [][]string{{"config", "show"}, {"config", "validate"}, {"run", "--json"}} {
		stdout, stderr, code := cli(t, nil, append([]string{"--config", refused}, args...)...)
		if code != exitUsage || !strings.Contains(stderr, "credentials in the URL are not supported") {
			t.Errorf("%v: exit %d, want 2 and the refusal\n%s", args, code, stderr)
		}
		check(strings.Join(args, " "), stdout+stderr)
	}
	cfg := writeConfig(t, "sluice.yaml", `
pipelines:
  docs:
    source: `+src+`
    allow_plaintext: true
    targets:
      - azblob://c/r?domain=http%3A%2F%2Fkeyid%3APASSWD8%40host&protocol=https
`)
	out := mustCLI(t, nil, "--config", cfg, "config", "show")
	check("config show", out)
	if !strings.Contains(out, "domain=http%3A%2F%2FREDACTED%40host&protocol=https") {
		t.Errorf("config show lost the harmless parts:\n%s", out)
	}
	check("config show --json", mustCLI(t, nil, "--config", cfg, "config", "show", "--json"))
	stdout, stderr, code := cli(t, nil, "--config", cfg, "run", "--json")
	if code == 0 || !strings.Contains(stderr, "REDACTED") {
		t.Fatalf("run --json: exit %d\n%s", code, stderr)
	}
	check("run --json", stdout+stderr)
}

// TestEmptyMappingsKept checks that a mapping with nothing in it, or a
// key with no value, reads as written in every format: viper leaves such
// keys out, which made an empty retention inherit the defaults' policy
// (and prune delete by it) and an empty pipeline vanish from every run.
func TestEmptyMappingsKept(t *testing.T) {
	dir := t.TempDir()
	src := writeConfig(t, "data.txt", "data")
	target := "file://" + dir + "/t"
	yamlBody := func(retention string) string {
		return "defaults:\n  retention: {keep_last: 1}\npipelines:\n  keepall:\n    source: " + src +
			"\n    allow_plaintext: true\n    targets: [" + target + "]\n    retention:" + retention + "\n"
	}
	keepAll := []struct{ file, text string }{
		{"sluice.yaml", yamlBody(" {}")},
		{"sluice.yaml", yamlBody("\n      # keep_last: 3")},
		{"sluice.toml", "[defaults.retention]\nkeep_last = 1\n[pipelines.keepall]\nsource = \"" + src +
			"\"\nallow_plaintext = true\ntargets = [\"" + target + "\"]\n[pipelines.keepall.retention]\n"},
		{"sluice.json", `{"defaults": {"retention": {"keep_last": 1}}, "pipelines": {"keepall": {"source": "` + src +
			`", "allow_plaintext": true, "targets": ["` + target + `"], "retention": {}}}}`},
	}
	for _, c := range keepAll {
		cfg := writeConfig(t, c.file, c.text)
		_, stderr, code := cli(t, nil, "--config", cfg, "prune", "keepall")
		if code != exitUsage || !strings.Contains(stderr, "no retention policy") {
			t.Errorf("%s %q: prune exit %d, want 2 and no retention policy\n%s", c.file, c.text, code, stderr)
		}
		out := mustCLI(t, nil, "--config", cfg, "config", "show")
		if !strings.Contains(out, "retention: {}") || strings.Contains(out, "keep_last") {
			t.Errorf("%s %q: config show does not show the empty retention:\n%s", c.file, c.text, out)
		}
	}
	docs := "source: " + src + "\n    allow_plaintext: true\n    targets: [" + target + "]\n"
	empty := []struct{ file, text, want string }{
		{"sluice.yaml", "pipelines:\n  photos:\n    # source: /x\n  docs:\n    " + docs, "pipelines.photos: empty pipeline"},
		{"sluice.yaml", "pipelines:\n  photos: {}\n  docs:\n    " + docs, "pipelines.photos: no source"},
		{"sluice.toml", "[pipelines.photos]\n[pipelines.docs]\nsource = \"" + src + "\"\nallow_plaintext = true\ntargets = [\"" + target + "\"]\n",
			"pipelines.photos: no source"},
		{"sluice.json", `{"pipelines": {"photos": null, "docs": {"source": "` + src + `", "allow_plaintext": true, "targets": ["` + target + `"]}}}`,
			"pipelines.photos: empty pipeline"},
		{"sluice.json", `{"pipelines": {"photos": {}, "docs": {"source": "` + src + `", "allow_plaintext": true, "targets": ["` + target + `"]}}}`,
			"pipelines.photos: no source"},
		// A null key is judged as written too, not dropped.
		{"sluice.yaml", "pipelines:\n  docs:\n    name:\n    " + docs, "pipelines.docs.name: want a string, got nothing"},
		// stages with every entry commented out: neither the defaults'
		// stages nor none is clearly meant.
		{"sluice.yaml", "defaults:\n  stages: [zstd]\npipelines:\n  docs:\n    stages:\n      # - zstd\n    " + docs, "pipelines.docs.stages: no value (null, or every entry commented out)"},
		{"sluice.yaml", "pipelines:\n  docs:\n    stall_timeout:\n    " + docs, "pipelines.docs.stall_timeout: want a duration such as 90s or 2h, got nothing"},
	}
	for _, c := range empty {
		cfg := writeConfig(t, c.file, c.text)
		_, stderr, code := cli(t, nil, "--config", cfg, "config", "validate")
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("%s %q: exit %d, want 2 and %q\nstderr: %s", c.file, c.text, code, c.want, stderr)
		}
	}

	// A variable sets one key of the empty policy, not of the defaults'.
	t.Setenv("SLUICE_PIPELINES_KEEPALL_RETENTION_KEEP_DAILY", "3")
	out := mustCLI(t, nil, "--config", writeConfig(t, "sluice.yaml", yamlBody("")), "config", "show")
	if !strings.Contains(out, "keep_daily: 3") || strings.Contains(out, "keep_last") {
		t.Errorf("variable on an empty retention:\n%s", out)
	}
}

// TestConfigSyntaxErrorPosition checks that a syntax error in a config
// file names the file, line and column in every format.
func TestConfigSyntaxErrorPosition(t *testing.T) {
	cases := []struct{ file, text, want string }{
		{"sluice.toml", "[pipelines.a]\nsource = \"/x\"\nupload_memory = 1_\n", "sluice.toml:3:18: toml: "},
		{"sluice.toml", "[pipelines.a]\nsource = \"/x\nx = 1\n", "sluice.toml:2:"},
		{"sluice.json", "{\n  \"pipelines\": {\n    \"a\": {\"source\": \"/x\",}\n  }\n}\n", "sluice.json:3:26: invalid character '}'"},
		{"sluice.json", "{\"pipelines\": {}", "sluice.json:1:16: unexpected end of JSON input"},
		{"sluice.json", "", "sluice.json:1:1: unexpected end of JSON input"},
		{"sluice.json", "\n\n", "sluice.json:3:1: unexpected end of JSON input"},
		{"sluice.json", "\n [1]", "sluice.json:2:2: the document must be an object (of defaults and pipelines), not a JSON array"},
		{"sluice.yaml", "pipelines:\n  a:\n    x: [1\n", "sluice.yaml: yaml: line "},
	}
	for _, c := range cases {
		cfg := writeConfig(t, c.file, c.text)
		_, stderr, code := cli(t, nil, "--config", cfg, "config", "validate")
		if code != exitUsage || !strings.Contains(stderr, c.want) {
			t.Errorf("%s %q: exit %d, want 2 and %q\nstderr: %s", c.file, c.text, code, c.want, stderr)
		}
	}
}
