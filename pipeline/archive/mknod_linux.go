package archive

import (
	"archive/tar"
	"fmt"
	"io/fs"
	"syscall"
)

// mknod creates the device node or named pipe name in c's root. os.Root
// has no Mknod, so the node is created relative to a descriptor of its
// parent directory (see [folders]).
func mknod(c *folders, name string, typ byte, perm fs.FileMode, major, minor int64) error {
	mode := uint32(perm.Perm())
	switch typ {
	case tar.TypeChar:
		mode |= syscall.S_IFCHR
	case tar.TypeBlock:
		mode |= syscall.S_IFBLK
	case tar.TypeFifo:
		mode |= syscall.S_IFIFO
	default:
		return fmt.Errorf("mknod: unexpected type %q", typ)
	}
	if major < 0 || major > 0xffffffff || minor < 0 || minor > 0xffffffff {
		return fmt.Errorf("mknod: device number %d,%d out of range", major, minor)
	}
	// Linux's makedev encoding, as in glibc's gnu_dev_makedev.
	maj, mnr := uint64(major), uint64(minor)
	dev := (maj&0xfffff000)<<32 | (maj&0xfff)<<8 | (mnr&0xffffff00)<<12 | mnr&0xff

	return c.at(name, "mknodat", func(dirfd int, base string) error {
		return syscall.Mknodat(dirfd, base, mode, int(dev))
	})
}
