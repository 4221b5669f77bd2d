//go:build unix

package pipeline

import (
	"io/fs"
	"os"
	"syscall"
)

// ownedByProcess reports whether fi, the result of a stat, belongs to the
// process's effective user.
func ownedByProcess(fi fs.FileInfo) bool {
	st, ok := fi.Sys().(*syscall.Stat_t)
	return ok && int(st.Uid) == os.Geteuid()
}
