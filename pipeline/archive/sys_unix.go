//go:build unix

package archive

import (
	"io/fs"
	"syscall"
)

// owner returns the numeric owner and group of the file described by fi.
func owner(fi fs.FileInfo) (uid, gid int) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), int(st.Gid)
	}
	return 0, 0
}
