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
