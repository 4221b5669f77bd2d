package main

import (
	"strings"
	"testing"
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
		{[]string{"config", "-h"}, "sluice config validate|show"},
	}
	for _, c := range helpCases {
		stdout, stderr, code := cli(t, nil, c.args...)
		if code != 0 || !strings.Contains(stdout, c.want) || stderr != "" {
			t.Errorf("sluice %v: exit %d, want 0 and %q on stdout\nstdout: %s\nstderr: %s", c.args, code, c.want, stdout, stderr)
		}
	}
}
