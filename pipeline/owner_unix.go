//go:build unix

package pipeline

import (
	"fmt"
	"io/fs"
	"os"
	"syscall"
)

// private reports whether fi, the result of a stat, belongs to the
// process's effective user and grants nothing to group and others.
func private(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Geteuid() && fi.Mode().Perm()&0o077 == 0
}

// othersCanRename reports whether a user other than the process's
// effective one (root aside) may rename entries in the folder fi
// describes, and so put something of theirs under a name made there: the
// folder is theirs, or group or others may write to it without the
// sticky bit (which keeps each user to their own entries, as in /tmp).
func othersCanRename(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	if !ok || int(st.Uid) != os.Geteuid() {
		return true
	}
	return fi.Mode().Perm()&0o022 != 0 && fi.Mode()&fs.ModeSticky == 0
}

// describeOwner says, for a message, whose fi is and its mode.
func describeOwner(fi fs.FileInfo) string {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return fmt.Sprintf("owned by uid %d with mode %04o", st.Uid, fi.Mode().Perm())
	}
	return fmt.Sprintf("of mode %04o", fi.Mode().Perm())
}
