package backends

import (
	"errors"
	"os"
	"path/filepath"
	"runtime"
	"syscall"

	"gocloud.dev/blob"

	"github.com/sluice-backup/sluice/pipeline"
)

// fsync makes what was written to f durable. Tests replace it to see
// which files and folders are flushed, and in what order.
var fsync = func(f *os.File) error { return f.Sync() }

// fileDurability makes one write to a file:// target durable
// ([pipeline.Target.Durable]). Flush fsyncs the temporary file fileblob
// writes, before Close renames it into place, so a crash of the machine
// cannot leave the object's name on a file whose data never reached the
// disk. Commit then fsyncs every folder from the object's up to the
// target's: each holds a name the write added (the object's, or a
// folder fileblob created for a name with "/" in it).
type fileDurability struct {
	root string   // the target's folder
	f    *os.File // fileblob's temporary file, set through BeforeWrite
}

// newFileDurability returns the durability of one write to the folder
// root with options wo, whose BeforeWrite it extends to learn the file.
func newFileDurability(root string, wo *blob.WriterOptions) pipeline.Durability {
	d := &fileDurability{root: root}
	before := wo.BeforeWrite
	wo.BeforeWrite = func(as func(any) bool) error {
		if before != nil {
			if err := before(as); err != nil {
				return err
			}
		}
		if !as(&d.f) {
			return errors.New("the folder's writer exposes no file to flush")
		}
		return nil
	}
	return d
}

func (d *fileDurability) Flush() error {
	if d.f == nil {
		return errors.New("no file to flush: the writer was never opened")
	}
	return syncUnlessUnsupported(d.f)
}

func (d *fileDurability) Commit() error {
	return syncFolders(filepath.Dir(d.f.Name()), d.root)
}

// syncFolders fsyncs the folder from and each folder above it, up to and
// including top (or the file system's root, if top is not above from).
func syncFolders(from, top string) error {
	for dir := from; ; {
		if err := syncFolder(dir); err != nil {
			return err
		}
		parent := filepath.Dir(dir)
		if dir == top || parent == dir {
			return nil
		}
		dir = parent
	}
}

// syncFolder fsyncs the folder dir, which makes the names in it durable.
// Windows cannot flush a folder; NTFS journals its names.
func syncFolder(dir string) error {
	if runtime.GOOS == "windows" {
		return nil
	}
	f, err := os.Open(dir)
	if err != nil {
		return err
	}
	defer f.Close()
	return syncUnlessUnsupported(f)
}

// syncUnlessUnsupported fsyncs f. A file system that cannot (it answers
// EINVAL or ENOTSUP, as some network and FUSE file systems do for
// folders) is taken as is: failing every backup to it would help nobody.
func syncUnlessUnsupported(f *os.File) error {
	err := fsync(f)
	if errors.Is(err, syscall.EINVAL) || errors.Is(err, errors.ErrUnsupported) {
		return nil
	}
	return err
}

// existingAncestor returns dir, or the nearest folder above it that
// exists.
func existingAncestor(dir string) string {
	for {
		if _, err := os.Stat(dir); err == nil {
			return dir
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return dir
		}
		dir = parent
	}
}
