package main

import (
	"errors"
	"fmt"
	"io/fs"
	"strings"
	"syscall"
	"testing"

	"github.com/sluice-backup/sluice/pipeline/archive"
)

// TestWithRestoreHint checks that each refusal a restore flag lifts names
// that flag, that --owners and --devices without the privilege they need
// say so, and that other errors pass unchanged.
func TestWithRestoreHint(t *testing.T) {
	entry := func(err error) error { return fmt.Errorf("archive: entry %q: %w", "x", err) }
	for _, c := range []struct {
		err  error
		hint string
	}{
		{entry(errors.Join(archive.ErrUnsafe, archive.ErrExternalSymlink)), "restore with --allow-external-symlinks"},
		{entry(errors.Join(archive.ErrUnsafe, archive.ErrDevice)), "restore with --devices"},
		{entry(errors.Join(archive.ErrOwner, fs.ErrPermission)), "--owners needs root"},
		{entry(&fs.PathError{Op: "mknodat", Path: "null", Err: syscall.EPERM}), "making device nodes needs root"},
		{entry(&fs.PathError{Op: "open", Path: "f", Err: syscall.EPERM}), ""},
		{entry(archive.ErrOwner), ""},
		{entry(archive.ErrUnsafe), ""},
	} {
		got := withRestoreHint(c.err)
		if !errors.Is(got, c.err) {
			t.Errorf("%v: hint does not wrap the error", c.err)
		}
		if c.hint == "" && got.Error() != c.err.Error() {
			t.Errorf("%v: got %q, want it unchanged", c.err, got)
		}
		if c.hint != "" && !strings.Contains(got.Error(), c.hint) {
			t.Errorf("%v: got %q, want %q", c.err, got, c.hint)
		}
	}
}
