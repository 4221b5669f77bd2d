//go:build unix

package pipeline

import (
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
