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
// say so (as root: name the capability), and that other errors pass
// unchanged.
func TestWithRestoreHint(t *testing.T) {
	entry := func(err error) error { return fmt.Errorf("archive: entry %q: %w", "x", err) }
	for _, c := range []struct {
		err  error
		root bool
		hint string
	}{
		{entry(errors.Join(archive.ErrUnsafe, archive.ErrExternalSymlink)), false, "restore with --allow-external-symlinks"},
		{entry(errors.Join(archive.ErrUnsafe, archive.ErrDevice)), true, "restore with --devices"},
		{entry(errors.Join(archive.ErrOwner, fs.ErrPermission)), false, "--owners needs root"},
		{entry(errors.Join(archive.ErrOwner, fs.ErrPermission)), true, "--owners needs the CAP_CHOWN capability"},
		{entry(&fs.PathError{Op: "mknodat", Path: "null", Err: syscall.EPERM}), false, "making device nodes needs root"},
		{entry(&fs.PathError{Op: "mknodat", Path: "null", Err: syscall.EPERM}), true, "making device nodes needs the CAP_MKNOD capability"},
		{entry(&fs.PathError{Op: "open", Path: "f", Err: syscall.EPERM}), true, ""},
		{entry(archive.ErrOwner), false, ""},
		{entry(archive.ErrUnsafe), false, ""},
	} {
		got := withRestoreHint(c.err, c.root)
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
