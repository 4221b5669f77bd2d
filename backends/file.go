package backends

import (
	"context"
	"errors"
	"net/url"
	"path"
	"path/filepath"

	"gocloud.dev/blob/fileblob"

	"github.com/sluice-backup/sluice/pipeline"
)

var fileSpec = pipeline.BackendSpec{
	Scheme: "file",
	Help:   "local folder: file:///abs/path (created when missing)",
	Check:  checkFile,
	Open:   openFile,
}

// checkFile implements [pipeline.BackendSpec.Check] for file URLs.
func checkFile(u *url.URL, _ pipeline.Options) error {
	if u.User != nil {
		return errors.New("file URLs take no credentials")
	}
	if (u.Host != "" && u.Host != "localhost") || !path.IsAbs(u.Path) {
		return errors.New("file URLs need an absolute path: use file:///abs/path (three slashes)")
	}
	return rejectQuery(u, nil)
}

// openFile opens a folder as a bucket. Objects are written to a temporary
// file beside their final name ("<name>.<hex>.tmp") and renamed into place
// on success, so a reader never sees a partial object and the rename never
// crosses file systems. A process killed mid-write can leave that
// temporary file behind.
//
// No object metadata is written: fileblob would compute an MD5 of every
// byte (about 2 ns/byte, more than zstd's share of a core at level 3) just
// to store it in a "<name>.attrs" sidecar. The folder holds only objects
// and their manifests; restore takes the stages from the manifest
// ("<name>.sluice.json"), else from magic bytes. Sidecars written by
// earlier versions are still read, hidden from listings, and removed with
// their object.
func openFile(_ context.Context, u *url.URL, _ pipeline.Options) (*pipeline.Target, error) {
	dir := filepath.Clean(filepath.FromSlash(u.Path))
	b, err := fileblob.OpenBucket(dir, &fileblob.Options{
		CreateDir: true,
		// Temporary files in os.TempDir would fail to rename onto another
		// file system, and could fill a small (or memory-backed) /tmp.
		NoTempDir: true,
		Metadata:  fileblob.MetadataDontWrite,
	})
	if err != nil {
		return nil, err
	}
	display := url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}
	return &pipeline.Target{URL: display.String(), Bucket: b}, nil
}
