//go:build unix

package archive

import (
	"fmt"
	"io/fs"
	"os"
	"path"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// owner returns the numeric owner and group of the file described by fi.
func owner(fi fs.FileInfo) (uid, gid int) {
	if st, ok := fi.Sys().(*syscall.Stat_t); ok {
		return int(st.Uid), int(st.Gid)
	}
	return 0, 0
}

// folders keeps open the folder of the entry last written, for the *at
// system calls os.Root has no method for: archives list a folder's
// entries together, so a tree of small files costs one openat per file
// rather than a walk from the root for each file and again for its times.
// Folders are opened through root, so they are inside it; the calls act on
// an entry of the folder by a name without separators, so nothing they do
// reaches outside root, as long as they do not follow a final symlink.
// The zero value is not usable; see [newFolders].
type folders struct {
	root  *os.Root
	name  string   // the open folder's name in root, "." for root itself
	dir   *os.File // nil when none is open
	dirfd int
}

func newFolders(root *os.Root) *folders { return &folders{root: root} }

// at calls f with a descriptor of the folder holding name and name's last
// element, opening that folder unless it is the one open already. f's
// error is returned as a *fs.PathError for op and name.
func (c *folders) at(name, op string, f func(dirfd int, base string) error) error {
	dir, base := path.Split(name)
	dir = path.Clean(dir) // "" becomes "."
	if c.dir == nil || c.name != dir {
		c.forget()
		d, err := c.root.Open(dir)
		if err != nil {
			return err
		}
		c.dir, c.name, c.dirfd = d, dir, int(d.Fd())
	}
	if err := f(c.dirfd, base); err != nil {
		return &fs.PathError{Op: op, Path: name, Err: err}
	}
	return nil
}

// forget closes the open folder. Call it before removing an entry: the
// folder open may be the one removed, and a new one made at its name
// later must be opened anew.
func (c *folders) forget() {
	if c.dir != nil {
		c.dir.Close()
		c.dir = nil
	}
}

// create creates the regular file name, mode 0600, for writing; it fails
// if anything, a symlink included, is at name.
func (c *folders) create(name string) (*os.File, error) {
	var f *os.File
	err := c.at(name, "open", func(dirfd int, base string) error {
		fd, err := unix.Openat(dirfd, base, unix.O_WRONLY|unix.O_CREAT|unix.O_EXCL|unix.O_NOFOLLOW|unix.O_CLOEXEC, 0o600)
		if err != nil {
			return err
		}
		f = os.NewFile(uintptr(fd), name)
		return nil
	})
	return f, err
}

// setTimes sets the access and modification times of name in root (a
// symlink itself, never its target); a time the file system cannot store
// becomes the nearest one it can.
//
// os.Root.Chtimes goes through nanoseconds since 1970 in an int64, which
// wrap outside the years 1678 to 2262 (2300 became 1901); utimensat takes
// seconds and nanoseconds, as the archive records them.
func (c *folders) setTimes(name string, atime, mtime time.Time) error {
	var ts [2]unix.Timespec
	for i, t := range []time.Time{atime, mtime} {
		var err error
		if ts[i], err = unix.TimeToTimespec(t); err != nil {
			return fmt.Errorf("time %s cannot be set on this system: %w", t.UTC().Format(time.RFC3339), err)
		}
	}
	return c.at(name, "utimensat", func(dirfd int, base string) error {
		return unix.UtimesNanoAt(dirfd, base, ts[:], unix.AT_SYMLINK_NOFOLLOW)
	})
}
