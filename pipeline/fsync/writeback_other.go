//go:build !linux

package fsync

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"runtime"
)

func startWriteback(*os.File, int64, int64) {}

// syncFS flushes each regular file and folder under dir: without
// syncfs(2) there is no one call for a whole tree. Entries that cannot be
// read (a folder of mode 0) are taken as they are, as by [Folder].
func syncFS(dir *os.File) error {
	return filepath.WalkDir(dir.Name(), func(path string, d fs.DirEntry, err error) error {
		if errors.Is(err, fs.ErrPermission) {
			return nil
		}
		if err != nil {
			return err
		}
		switch {
		case d.IsDir():
			return Folder(path)
		case d.Type().IsRegular():
			// Windows flushes a file only through a handle that may write.
			flag := os.O_RDONLY
			if runtime.GOOS == "windows" {
				flag = os.O_RDWR
			}
			return flushPath(path, flag)
		}
		return nil
	})
}
