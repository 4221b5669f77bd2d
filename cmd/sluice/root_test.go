package main

import (
	"os"
	"regexp"
	"strings"
	"testing"

	"github.com/spf13/cobra"
)

// TestCommandUsage checks that a missing or unknown command is a usage
// error (exit 2, usage or hint on stderr, nothing on stdout), and that help
// asked for goes to stdout.
func TestCommandUsage(t *testing.T) {
	errCases := []struct {
		args []string
		want []string
	}{
		{nil, []string{"Usage:", "sluice [command]", "no command given; see sluice --help"}},
		{[]string{"--log-level", "debug"}, []string{"no command given"}},
		{[]string{"bogus"}, []string{`unknown command "bogus"; see sluice --help`}},
		{[]string{"bakup", "x"}, []string{`unknown command "bakup" (did you mean backup?)`}},
		{[]string{"backup", "--bogus-flag"}, []string{"unknown flag: --bogus-flag"}},
		{[]string{"help", "bogus"}, []string{`unknown help topic "bogus"; see sluice --help`}},
		{[]string{"--config", "/nonexistent/sluice.yaml", "run"}, []string{"--config /nonexistent/sluice.yaml: no such file"}},
	}
	for _, c := range errCases {
		stdout, stderr, code := cli(t, nil, c.args...)
		if code != exitUsage || stdout != "" {
			t.Errorf("sluice %v: exit %d, stdout %q; want 2 and nothing on stdout", c.args, code, stdout)
		}
		for _, w := range c.want {
			if !strings.Contains(stderr, w) {
				t.Errorf("sluice %v: stderr lacks %q:\n%s", c.args, w, stderr)
			}
		}
	}
	// The root's usage offers only commands, not "sluice [flags]" alone.
	if _, stderr, _ := cli(t, nil); strings.Contains(stderr, "sluice [flags]") {
		t.Errorf("usage offers sluice without a command:\n%s", stderr)
	}
	helpCases := []struct {
		args []string
		want string
	}{
		{[]string{"--help"}, "Available Commands:"},
		{[]string{"-h"}, "Available Commands:"},
		{[]string{"help"}, "Available Commands:"},
		{[]string{"backup", "--help"}, "sluice backup SOURCE --to TARGET"},
		{[]string{"help", "restore"}, "sluice restore OBJECT_URL"},
		{[]string{"help", "config", "validate"}, "sluice config validate"},
		{[]string{"config", "-h"}, "sluice config validate|show"},
	}
	for _, c := range helpCases {
		stdout, stderr, code := cli(t, nil, c.args...)
		if code != 0 || !strings.Contains(stdout, c.want) || stderr != "" {
			t.Errorf("sluice %v: exit %d, want 0 and %q on stdout\nstdout: %s\nstderr: %s", c.args, code, c.want, stdout, stderr)
		}
	}
}

// TestEnvErrorsNameVariable checks that an error about a flag's value
// names the SLUICE_ variable when the value came from the environment, in
// text and in JSON, and only then.
func TestEnvErrorsNameVariable(t *testing.T) {
	_, rec := keypair(t)
	store := "file://" + t.TempDir()
	t.Setenv("SLUICE_COMPRESS", "lz4")
	_, stderr, code := cli(t, strings.NewReader("x"), "backup", "-", "--to", store, "-r", rec)
	if code != exitUsage || !strings.Contains(stderr, `sluice: environment SLUICE_COMPRESS: --compress "lz4": want zstd`) {
		t.Errorf("SLUICE_COMPRESS=lz4: exit %d\n%s", code, stderr)
	}
	// A flag on the command line wins, and its error names only the flag.
	_, stderr, code = cli(t, strings.NewReader("x"), "backup", "-", "--to", store, "-r", rec, "--compress", "lzma")
	if code != exitUsage || strings.Contains(stderr, "SLUICE_") || !strings.Contains(stderr, `--compress "lzma"`) {
		t.Errorf("--compress lzma: exit %d\n%s", code, stderr)
	}
	t.Setenv("SLUICE_PROGRESS", "sometimes")
	_, stderr, code = cli(t, strings.NewReader("x"), "backup", "-", "--to", store, "-r", rec, "--compress", "zstd", "--json")
	if code != exitUsage || !strings.Contains(stderr, `"error":"environment SLUICE_PROGRESS: --progress \"sometimes\"`) {
		t.Errorf("SLUICE_PROGRESS=sometimes --json: exit %d\n%s", code, stderr)
	}
	// The global --config too.
	t.Setenv("SLUICE_CONFIG", "/nonexistent/sluice.yaml")
	_, stderr, code = cli(t, nil, "config", "validate")
	if code != exitUsage || !strings.Contains(stderr, "environment SLUICE_CONFIG: --config /nonexistent/sluice.yaml: no such file") {
		t.Errorf("SLUICE_CONFIG: exit %d\n%s", code, stderr)
	}
}

func TestNamesFlag(t *testing.T) {
	for _, c := range []struct {
		msg, name string
		want      bool
	}{
		{`--compress "lz4": bad`, "compress", true},
		{`stage zstd: see --workers`, "workers", true},
		{`--compress-level 3: bad`, "compress", false},
		{`--upload-memory: bad`, "upload", false},
		{`x--to y`, "to", false},
		{`--to-x, then --to`, "to", true},
		{`no flag here`, "to", false},
	} {
		if got := namesFlag(c.msg, c.name); got != c.want {
			t.Errorf("namesFlag(%q, %q) = %v, want %v", c.msg, c.name, got, c.want)
		}
	}
}

// TestJSONFlagErrors: a bad flag before --json (parsing stops there) or
// with SLUICE_JSON set still ends in a JSON error event, stderr all JSON.
func TestJSONFlagErrors(t *testing.T) {
	for _, c := range []struct {
		env  string
		args []string
	}{
		{"", []string{"backup", "-", "--to", "mem://", "--bogus", "--json"}},
		{"", []string{"list", "mem://", "--workers", "x", "--json=true"}},
		{"1", []string{"backup", "-", "--to", "mem://", "--bogus"}},
	} {
		t.Setenv("SLUICE_JSON", c.env)
		_, stderr, code := cli(t, nil, c.args...)
		evs := jsonEvents(t, stderr)
		if code != exitUsage || len(evs) != 1 || evs[0]["event"] != "error" || evs[0]["exit_code"] != 2.0 {
			t.Errorf("%v (SLUICE_JSON=%q): exit %d, events %v", c.args, c.env, code, evs)
		}
	}
	// --json=false after the bad flag keeps the text error.
	t.Setenv("SLUICE_JSON", "")
	if _, stderr, _ := cli(t, nil, "backup", "-", "--to", "mem://", "--bogus", "--json=false"); !strings.HasPrefix(stderr, "sluice: unknown flag") {
		t.Errorf("--json=false: %q", stderr)
	}
}

// TestLogLevelCheckedEverywhere: a --log-level (or SLUICE_LOG_LEVEL) that
// is not a level is a usage error for every command, also those that log
// nothing, as it is for backup; a valid one is accepted by all.
func TestLogLevelCheckedEverywhere(t *testing.T) {
	const want = `--log-level "verbose": want debug, info, warn or error`
	for _, args := range [][]string{{"plugins"}, {"config", "show"}, {"keygen", "--fernet"}, {"list", "mem://loglevel"}} {
		stdout, stderr, code := cli(t, nil, append([]string{"--log-level", "verbose"}, args...)...)
		if code != exitUsage || stdout != "" || !strings.Contains(stderr, want) {
			t.Errorf("%v --log-level verbose: exit %d, want 2 and %q\n%s", args, code, want, stderr)
		}
	}
	mustCLI(t, nil, "--log-level", "debug", "plugins")
	t.Setenv("SLUICE_LOG_LEVEL", "verbose")
	if _, stderr, code := cli(t, nil, "plugins"); code != exitUsage || !strings.Contains(stderr, "environment SLUICE_LOG_LEVEL: "+want) {
		t.Errorf("SLUICE_LOG_LEVEL=verbose plugins: exit %d, want 2 naming the variable\n%s", code, stderr)
	}
	// Help and shell completion work whatever the level says.
	for _, args := range [][]string{{"help", "backup"}, {"completion", "bash"}, {"__complete", ""}} {
		if stdout, stderr, code := cli(t, nil, args...); code != 0 || stdout == "" {
			t.Errorf("SLUICE_LOG_LEVEL=verbose %v: exit %d, stdout %d bytes, want 0 and output\n%s", args, code, len(stdout), stderr)
		}
	}
}

// TestHelpNamesSourcesAndStageRecords: backup --help names every kind of
// SOURCE, named pipes too, and restore --help every place the stages
// are read from, the manifest too (the only record on file://).
func TestHelpNamesSourcesAndStageRecords(t *testing.T) {
	for _, c := range []struct {
		cmd  string
		want []string
	}{
		{"backup", []string{"a directory (stored as a tar archive), a named pipe", "- for stdin"}},
		{"restore", []string{"metadata, else from its manifest", "else detected"}},
	} {
		out := strings.Join(strings.Fields(mustCLI(t, nil, c.cmd, "--help")), " ")
		for _, w := range c.want {
			if !strings.Contains(out, w) {
				t.Errorf("%s --help lacks %q:\n%s", c.cmd, w, out)
			}
		}
	}
}

// TestHelpREADMESectionsExist: every command's help that points to the
// README names a section, and that section is a heading of README.md
// (or a bold paragraph title), word for word.
func TestHelpREADMESectionsExist(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	sections := map[string]bool{}
	for _, line := range strings.Split(string(readme), "\n") {
		if title, ok := strings.CutPrefix(strings.TrimLeft(line, "#"), " "); ok && strings.HasPrefix(line, "#") {
			sections[title] = true
		}
		if m := regexp.MustCompile(`^\*\*([^*]+)\.\*\*`).FindStringSubmatch(line); m != nil {
			sections[m[1]] = true
		}
	}
	ref := regexp.MustCompile(`README(?:\.md)?(?:, "([^"]+)")?`)
	var walk func(c *cobra.Command)
	walk = func(c *cobra.Command) {
		help := strings.Join(strings.Fields(c.Long+" "+c.UsageString()), " ")
		for _, m := range ref.FindAllStringSubmatch(help, -1) {
			if m[1] == "" {
				t.Errorf("%s --help points to the README without naming a section: %q", c.CommandPath(), m[0])
			} else if !sections[m[1]] {
				t.Errorf("%s --help points to README section %q, which README.md does not have", c.CommandPath(), m[1])
			}
		}
		for _, sub := range c.Commands() {
			walk(sub)
		}
	}
	walk(newRootCmd(&env{stdin: strings.NewReader(""), stdout: &strings.Builder{}, stderr: &strings.Builder{}}))
}
