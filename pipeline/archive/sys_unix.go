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

// atParent calls f with a descriptor of the directory holding name and
// name's last element, for the *at system calls os.Root has no method for.
// The directory is opened through root, so it is inside root, and f acts
// on an entry of it by a name without separators: nothing f does can
// reach outside root, as long as it does not follow a final symlink.
// f's error is returned as a *fs.PathError for op and name.
func atParent(root *os.Root, name, op string, f func(dirfd int, base string) error) error {
	dir, base := path.Split(name)
	if dir == "" {
		dir = "."
	}
	d, err := root.Open(dir)
	if err != nil {
		return err
	}
	defer d.Close()
	rc, err := d.SyscallConn()
	if err != nil {
		return err
	}
	var ferr error
	if err := rc.Control(func(fd uintptr) { ferr = f(int(fd), base) }); err != nil {
		return err
	}
	if ferr != nil {
		return &fs.PathError{Op: op, Path: name, Err: ferr}
	}
	return nil
}

// setTimes sets the access and modification times of name in root (a
// symlink itself, never its target); a time the file system cannot store
// becomes the nearest one it can.
//
// os.Root.Chtimes goes through nanoseconds since 1970 in an int64, which
// wrap outside the years 1678 to 2262 (2300 became 1901); utimensat takes
// seconds and nanoseconds, as the archive records them.
func setTimes(root *os.Root, name string, atime, mtime time.Time) error {
	var ts [2]unix.Timespec
	for i, t := range []time.Time{atime, mtime} {
		var err error
		if ts[i], err = unix.TimeToTimespec(t); err != nil {
			return fmt.Errorf("time %s cannot be set on this system: %w", t.UTC().Format(time.RFC3339), err)
		}
	}
	return atParent(root, name, "utimensat", func(dirfd int, base string) error {
		return unix.UtimesNanoAt(dirfd, base, ts[:], unix.AT_SYMLINK_NOFOLLOW)
	})
}
