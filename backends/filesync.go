package backends

import (
	"errors"
	"os"
	"path/filepath"

	"gocloud.dev/blob"

	"github.com/sluice-backup/sluice/pipeline"
	"github.com/sluice-backup/sluice/pipeline/fsync"
)

// fileDurability makes one write to a file:// target durable
// ([pipeline.Target.Durable]). Flush fsyncs the temporary file fileblob
// writes, before Close renames it into place, so a crash of the machine
// cannot leave the object's name on a file whose data never reached the
// disk. Commit then fsyncs every folder from the object's up to the
// target's: each holds a name the write added (the object's, or a
// folder fileblob created for a name with "/" in it).
//
// While the object is written, every [writebackEvery] bytes are sent on
// their way to the disk ([fsync.StartWriteback]), so Flush waits for the
// last few MiB, not for the whole object: three targets on one disk
// would otherwise each wait at the end for hundreds of MiB.
type fileDurability struct {
	root string   // the target's folder
	f    *os.File // fileblob's temporary file, set through BeforeWrite
	// written counts the bytes written, started those whose writeback
	// was started.
	written, started int64
}

// writebackEvery is how many written bytes wait before their writeback
// is started: large enough for the disk to take them in one go.
const writebackEvery = 8 << 20

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

func (d *fileDurability) Written(n int) {
	d.written += int64(n)
	if d.f == nil || d.written-d.started < writebackEvery {
		return
	}
	fsync.StartWriteback(d.f, d.started, d.written-d.started)
	d.started = d.written
}

func (d *fileDurability) Flush() error {
	if d.f == nil {
		return errors.New("no file to flush: the writer was never opened")
	}
	return fsync.File(d.f)
}

func (d *fileDurability) Commit() error {
	return fsync.Folders(filepath.Dir(d.f.Name()), d.root)
}
