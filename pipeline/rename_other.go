//go:build !unix

package pipeline

import (
	"io/fs"
	"os"
)

// renameAt renames from in the folder fromDir to to in toDir, failing with
// an error matching [fs.ErrExist] if something is at to. Without
// descriptor-relative renames here (Windows), it goes through the paths
// the folders were opened by: a folder renamed meanwhile is not followed,
// and something created at to between the check and the rename may be
// replaced.
func renameAt(fromDir *os.File, from string, toDir *os.File, to string) error {
	oldPath, newPath := joinName(fromDir, from), joinName(toDir, to)
	if _, err := os.Lstat(newPath); err == nil {
		return &os.LinkError{Op: "rename", Old: oldPath, New: newPath, Err: fs.ErrExist}
	}
	return os.Rename(oldPath, newPath)
}
