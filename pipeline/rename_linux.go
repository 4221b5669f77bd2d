package pipeline

import (
	"errors"
	"os"

	"golang.org/x/sys/unix"
)

// renameNoReplace renames from to to, failing with an error matching
// [fs.ErrExist] if something is at to, whatever it is: renameat2 with
// RENAME_NOREPLACE decides atomically, so nothing created at to meanwhile
// is ever replaced. Kernels (before 3.15) and filesystems without the
// flag get the check-then-rename of [renameChecked].
func renameNoReplace(from, to string) error {
	err := unix.Renameat2(unix.AT_FDCWD, from, unix.AT_FDCWD, to, unix.RENAME_NOREPLACE)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) {
		return renameChecked(from, to)
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: from, New: to, Err: err}
	}
	return nil
}
