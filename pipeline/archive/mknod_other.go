//go:build !linux

package archive

import (
	"errors"
	"fmt"
	"io/fs"
)

// mknod is not implemented on this platform.
func mknod(_ *folders, name string, _ byte, _ fs.FileMode, _, _ int64) error {
	return fmt.Errorf("mknod %s: %w", name, errors.ErrUnsupported)
}
