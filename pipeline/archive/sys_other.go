//go:build !unix

package archive

import (
	"fmt"
	"io/fs"
	"math"
	"os"
	"time"
)

// owner returns 0, 0: this platform has no numeric Unix owners.
func owner(fs.FileInfo) (uid, gid int) { return 0, 0 }

// folders does what the Unix version's *at calls do through root's
// methods, one walk from the root per call.
type folders struct{ root *os.Root }

func newFolders(root *os.Root) *folders { return &folders{root: root} }

// forget does nothing: no folder is kept open.
func (c *folders) forget() {}

// create creates the regular file name, mode 0600, for writing; it fails
// if anything is at name.
func (c *folders) create(name string) (*os.File, error) {
	return c.root.OpenFile(name, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o600)
}

// setTimes sets the access and modification times of name in root.
// os.Root.Chtimes takes nanoseconds since 1970 in an int64, so times
// outside the years 1678 to 2262 are refused here rather than wrapped.
func (c *folders) setTimes(name string, atime, mtime time.Time) error {
	for _, t := range []time.Time{atime, mtime} {
		if t.Before(time.Unix(0, math.MinInt64)) || t.After(time.Unix(0, math.MaxInt64)) {
			return fmt.Errorf("time %s cannot be set on this system (only 1678 to 2262)", t.UTC().Format(time.RFC3339))
		}
	}
	return c.root.Chtimes(name, atime, mtime)
}
