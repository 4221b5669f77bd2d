// Package fsync makes what was written to files, and the names in
// folders, survive a crash of the machine. A file system that cannot
// flush (it answers EINVAL or ENOTSUP, as some network and FUSE file
// systems do, at least for folders) is taken as it is: failing every
// write to it would help nobody.
package fsync

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
	"syscall"
)

// Sync flushes one open file or folder. Tests replace it to see what is
// flushed, and in what order, or to make flushing fail.
var Sync = (*os.File).Sync

// StartWriteback starts putting the n bytes of f at off on the disk,
// without waiting for them, where the system can (Linux's
// sync_file_range), so that a later [File] has less to wait for. It is a
// hint: it reports nothing, and elsewhere it does nothing. Tests replace
// it to see what is started.
var StartWriteback = startWriteback

// File flushes what was written to f.
func File(f *os.File) error {
	err := Sync(f)
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, errors.ErrUnsupported) {
		return nil
	}
	return err
}

// Folder flushes the folder dir, which makes the names created in it (and
// removed from it) durable. Windows cannot flush a folder; NTFS journals
// its names. A folder the process may write to but not read (a drop box,
// mode 0733) cannot be opened to be flushed, and is taken as it is.
func Folder(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	return flushPath(dir, os.O_RDONLY)
}

// flushPath opens path with flag and flushes it. What cannot be opened
// for lack of permission is taken as it is.
func flushPath(path string, flag int) error {
	return flushOpened(os.OpenFile(path, flag, 0))
}

// flushOpened flushes and closes f, the result of opening a file or
// folder with err. What could not be opened for lack of permission is
// taken as it is.
func flushOpened(f *os.File, err error) error {
	if errors.Is(err, fs.ErrPermission) {
		return nil
	}
	if err != nil {
		return err
	}
	defer f.Close()
	return File(f)
}

// flushEach flushes each regular file and folder under root's folder,
// and that folder. It goes through root, one name at a time, so a tree
// deeper than the system's longest path (1,024 bytes on macOS) is flushed
// too, and no symlink leads it out. Entries that cannot be read (a folder
// of mode 0) are taken as they are, as by [Folder].
func flushEach(root *os.Root) error {
	// Windows flushes a file only through a handle that may write, and
	// cannot flush a folder.
	fileFlag := os.O_RDONLY
	if runtime.GOOS == "windows" {
		fileFlag = os.O_RDWR
	}
	return fs.WalkDir(root.FS(), ".", func(name string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrPermission) {
			return nil
		}
		if err != nil {
			return err
		}
		switch {
		case d.IsDir() && runtime.GOOS != "windows":
			return flushOpened(root.OpenFile(name, os.O_RDONLY, 0))
		case d.Type().IsRegular():
			return flushOpened(root.OpenFile(name, fileFlag, 0))
		}
		return nil
	})
}

// Folders flushes the folder from and each folder above it, up to and
// including top (or the file system's root, if top is not above from):
// after a write that may have created folders, each holds a new name.
func Folders(from, top string) error {
	for dir := from; ; {
		if err := Folder(dir); err != nil {
			return err
		}
		parent := filepath.Dir(dir)
		if dir == top || parent == dir {
			return nil
		}
		dir = parent
	}
}

// MkdirAll makes dir and any folders missing above it, as os.MkdirAll
// does, and flushes the folders that hold their names, so the new folders
// survive a crash as what is then written in them does.
func MkdirAll(dir string, perm fs.FileMode) error {
	existing := dir
	for {
		if _, err := os.Stat(existing); err == nil {
			break
		}
		parent := filepath.Dir(existing)
		if parent == existing {
			break
		}
		existing = parent
	}
	if existing == dir {
		return nil
	}
	if err := os.MkdirAll(dir, perm); err != nil {
		return err
	}
	return Folders(filepath.Dir(dir), existing)
}

// SyncFS flushes the file system that holds root's folder: on Linux
// every file and folder written on it (syncfs(2)), elsewhere each file
// and folder under root (see [flushEach]). Tests replace it to see what
// is flushed.
var SyncFS = syncFS

// Tree flushes dir and everything under it, as [TreeRoot] does. It opens
// dir by its path: for a folder others may rename or replace, open it
// once and use TreeRoot.
func Tree(dir string) error {
	root, err := os.OpenRoot(dir)
	if err != nil {
		return err
	}
	defer root.Close()
	return TreeRoot(root)
}

// TreeRoot flushes root's folder and everything under it: a restored
// tree of any size, on Linux with one call rather than one per file
// (which flushes what others wrote to the same file system too). It goes
// through root only, never through a path: the tree is flushed wherever
// it has been moved meanwhile, and nothing planted at its former path
// (a symlink to a named pipe, which would block an open) is opened. A
// file system that cannot flush is taken as it is, as by [File].
func TreeRoot(root *os.Root) error {
	err := SyncFS(root)
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, errors.ErrUnsupported) {
		return nil
	}
	return err
}

// FolderFile flushes the open folder dir, as [Folder] does for a path:
// the names created in it (and removed from it) become durable. Windows
// cannot flush a folder; NTFS journals its names.
func FolderFile(dir *os.File) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	return File(dir)
}
