//go:build !unix

package archive

import "io/fs"

// owner returns 0, 0: this platform has no numeric Unix owners.
func owner(fs.FileInfo) (uid, gid int) { return 0, 0 }
