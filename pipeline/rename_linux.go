package pipeline

import "golang.org/x/sys/unix"

// renameatNoReplace is renameat2 with RENAME_NOREPLACE (see [renameAt]).
func renameatNoReplace(fromFd int, from string, toFd int, to string) error {
	return unix.Renameat2(fromFd, from, toFd, to, unix.RENAME_NOREPLACE)
}
