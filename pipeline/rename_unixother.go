//go:build unix && !linux

package pipeline

import "golang.org/x/sys/unix"

// renameatNoReplace reports that there is no atomic no-replace rename
// here, so [renameAt] checks, then renames.
func renameatNoReplace(int, string, int, string) error { return unix.ENOSYS }
