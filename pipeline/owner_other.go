//go:build !unix

package pipeline

import "io/fs"

// private reports true: without Unix owners and modes (Windows) a
// temporary folder is told from one put in its place by its identity
// alone.
func private(fs.FileInfo) bool { return true }

// othersCanRename reports false: without Unix owners there is nothing to
// check beyond the folder's identity (see [private]).
func othersCanRename(fs.FileInfo) bool { return false }

// describeOwner says, for a message, what fi's mode is.
func describeOwner(fi fs.FileInfo) string { return fi.Mode().String() }
