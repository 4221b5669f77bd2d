//go:build unix

package pipeline

import (
	"errors"
	"os"
	"runtime"

	"golang.org/x/sys/unix"
)

// renameAt renames the entry from in the open folder fromDir to to in the
// open folder toDir, failing with an error matching [fs.ErrExist] if
// something is at to, whatever it is. Both names are single names
// resolved from the descriptors, never paths, so a folder renamed or
// replaced by a symlink meanwhile leads nowhere else; a symlink at from
// is moved itself, not followed. On Linux renameat2 with RENAME_NOREPLACE
// decides atomically, so nothing created at to meanwhile is ever
// replaced; kernels (before 3.15), file systems and systems without it
// get a check (fstatat) then renameat, where something created at to
// between the two may be replaced.
func renameAt(fromDir *os.File, from string, toDir *os.File, to string) error {
	fromFd, toFd := int(fromDir.Fd()), int(toDir.Fd())
	defer runtime.KeepAlive(fromDir)
	defer runtime.KeepAlive(toDir)
	err := renameatNoReplace(fromFd, from, toFd, to)
	if errors.Is(err, unix.ENOSYS) || errors.Is(err, unix.EINVAL) {
		var st unix.Stat_t
		err = unix.Fstatat(toFd, to, &st, unix.AT_SYMLINK_NOFOLLOW)
		switch {
		case err == nil:
			err = unix.EEXIST
		case errors.Is(err, unix.ENOENT):
			err = unix.Renameat(fromFd, from, toFd, to)
		}
	}
	if err != nil {
		return &os.LinkError{Op: "rename", Old: joinName(fromDir, from), New: joinName(toDir, to), Err: err}
	}
	return nil
}
