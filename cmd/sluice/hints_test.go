package main

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"testing"

	"github.com/sluice-backup/sluice/pipeline/archive"
)

// TestWithSourceHint: a backup that stopped at an entry it cannot read
// says how to go on (whoever runs it, or an exclude, named as the command
// sets it), as one that met a changing file names the option that allows
// it; other errors, a target's permission error among them, get no hint.
func TestWithSourceHint(t *testing.T) {
	unreadable := fmt.Errorf("backup: %w", &archive.EntryError{Path: "/home/me/locked", Err: fs.ErrPermission})
	changed := fmt.Errorf("backup: %w", &archive.EntryError{Path: "/var/log/x", Err: archive.ErrChanged})
	target := fmt.Errorf("target file:///backups: create folder: %w", fs.ErrPermission)
	for _, c := range []struct {
		err  error
		want string
	}{
		{unreadable, `"/home/me/locked": permission denied (nothing was stored: run as a user who can read it, or leave it out with --exclude)`},
		{changed, "(--allow-changing-files archives such a file as read"},
		{target, ""},
	} {
		got := backupSourceHint(c.err)
		if !errors.Is(got, c.err) {
			t.Errorf("%v no longer wraps %v", got, c.err)
		}
		if c.want == "" && got.Error() != c.err.Error() || c.want != "" && !strings.Contains(got.Error(), c.want) {
			t.Errorf("backupSourceHint(%v) = %v, want %q", c.err, got, c.want)
		}
	}
	if got := runSourceHint(unreadable).Error(); !strings.HasSuffix(got, "leave it out with the pipeline's exclude)") {
		t.Errorf("runSourceHint names %q, want the pipeline's exclude", got)
	}
	if got := runSourceHint(changed).Error(); !strings.Contains(got, "(allow_changing_files: true archives") {
		t.Errorf("runSourceHint names %q, want allow_changing_files: true", got)
	}
}
