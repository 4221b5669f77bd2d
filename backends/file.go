package backends

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"net/url"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/blob/fileblob"

	"github.com/sluice-backup/sluice/pipeline"
	"github.com/sluice-backup/sluice/pipeline/fsync"
)

var fileSpec = pipeline.BackendSpec{
	Scheme: "file",
	Help:   "local folder: file:///abs/path (created when missing)",
	Check:  checkFile,
	Open:   openFile,
	// Reading commands must not create the folder they were pointed at,
	// and a mistyped folder should say so rather than list nothing.
	OpenExisting: openExistingFile,
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
// temporary file behind. A backup fsyncs each object and manifest before
// it is renamed into place, and the folders that hold it after, so what it
// reports stored survives a crash of the machine ([pipeline.Target.Durable]).
//
// No object metadata is written: fileblob would compute an MD5 of every
// byte (about 2 ns/byte, more than zstd's share of a core at level 3) just
// to store it in a "<name>.attrs" sidecar. The folder holds only objects
// and their manifests; restore takes the stages from the manifest
// ("<name>.sluice.json"), else from magic bytes. Sidecars written by
// earlier versions are still read, hidden from listings, and removed with
// their object.
//
// A folder that does not exist yet is not created when the target opens
// (a dry run creates nothing) but by [pipeline.Target.Create], which a
// backup calls before its first request.
func openFile(_ context.Context, u *url.URL, _ pipeline.Options) (*pipeline.Target, error) {
	return openFileTarget(u, true)
}

// openExistingFile opens a folder that must exist, for reading
// ([pipeline.BackendSpec.OpenExisting]).
func openExistingFile(_ context.Context, u *url.URL, _ pipeline.Options) (*pipeline.Target, error) {
	return openFileTarget(u, false)
}

// openFileTarget opens the folder u names; a missing one is an error,
// or with create a target whose Create makes it.
func openFileTarget(u *url.URL, create bool) (*pipeline.Target, error) {
	dir, t := fileTarget(u)
	open := func() (err error) {
		t.Bucket, err = openFolder(dir)
		return err
	}
	err := checkFolder(dir)
	if err == nil && !create {
		err = checkReadable(dir)
	}
	if create && errors.Is(err, fs.ErrNotExist) {
		t.Create = func(context.Context) error {
			// The new folders' names must survive a crash as the
			// objects in them do.
			if err := fsync.MkdirAll(dir, 0o777); err != nil {
				return fmt.Errorf("create folder: %w", err)
			}
			return open()
		}
		return t, nil
	}
	if err == nil {
		err = open()
	}
	if err != nil {
		return nil, err
	}
	return t, nil
}

// fileTarget returns the folder u names and a target for it without a
// bucket.
func fileTarget(u *url.URL) (string, *pipeline.Target) {
	dir := filepath.Clean(filepath.FromSlash(u.Path))
	display := url.URL{Scheme: "file", Path: filepath.ToSlash(dir)}
	t := &pipeline.Target{URL: display.String()}
	t.WriteNew = func(ctx context.Context, key string, body []byte) error {
		if !plainKey(key) {
			return pipeline.WriteSmall(ctx, t.Bucket, key, body, &blob.WriterOptions{IfNotExist: true})
		}
		return writeNewFile(filepath.Join(dir, filepath.FromSlash(key)), body)
	}
	t.Occupied = func(ctx context.Context, key string) (bool, error) {
		if !plainKey(key) {
			return t.Bucket.Exists(ctx, key)
		}
		_, err := os.Lstat(filepath.Join(dir, filepath.FromSlash(key)))
		if errors.Is(err, fs.ErrNotExist) {
			return false, nil
		}
		return err == nil, err
	}
	t.CheckKey = checkFileKey
	t.Durable = func(wo *blob.WriterOptions) pipeline.Durability { return newFileDurability(dir, wo) }
	return dir, t
}

// attrsSuffix ends the names of the metadata sidecars fileblob keeps
// beside objects; it refuses to store an object under such a name.
const attrsSuffix = ".attrs"

// checkFileKey implements [pipeline.Target.CheckKey] for file targets.
func checkFileKey(key string) error {
	if strings.HasSuffix(key, attrsSuffix) {
		return fmt.Errorf("object name %q ends in %s, which a file:// target keeps for metadata sidecars: choose another name", key, attrsSuffix)
	}
	return nil
}

// writeNewFile creates the file at path holding body, failing with an
// error wrapping [pipeline.ErrExists] if there is one. O_EXCL makes the
// check and the creation one step: fileblob's IfNotExist checks, then
// renames its temporary file into place, so two processes claiming one
// name could both succeed.
func writeNewFile(path string, body []byte) error {
	if err := os.MkdirAll(filepath.Dir(path), 0o777); err != nil {
		return err
	}
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o666)
	if errors.Is(err, fs.ErrExist) {
		return fmt.Errorf("%s: %w", path, pipeline.ErrExists)
	}
	if err != nil {
		return err
	}
	_, err = f.Write(body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		os.Remove(path)
	}
	return err
}

// plainKey reports whether fileblob stores key at the path it reads as
// (after "/" becomes the path separator), escaping nothing: no control
// characters, "//", "../" (fileblob escapes that "/", also after a folder
// named "a.."), ".." segments, leading or trailing "/", on Windows no path
// separators and none of <>:"|?*, and no [pipeline.EscapeMark] (fileblob
// escapes its "_" so that escaping stays reversible). Every name
// [pipeline.CheckName] accepts is plain (on Windows, one without <>:"|?*);
// a key that is not goes through fileblob, which writes, finds and
// deletes it under the escaped path, as it does the object.
func plainKey(key string) bool {
	return key != "" && !strings.ContainsFunc(key, func(r rune) bool {
		return r < 32 || (os.PathSeparator != '/' && r == os.PathSeparator) || (os.PathSeparator == '\\' && strings.ContainsRune(`<>:"|?*`, r))
	}) &&
		!strings.Contains(key, "//") && !strings.Contains(key, "../") && !strings.Contains(key, pipeline.EscapeMark) &&
		!strings.HasPrefix(key, "/") && !strings.HasSuffix(key, "/") &&
		!slices.Contains(strings.Split(key, "/"), "..")
}

// checkFolder returns nil if dir is a folder, an error wrapping
// fs.ErrNotExist if there is nothing at dir, and another error otherwise.
func checkFolder(dir string) error {
	fi, err := os.Stat(dir)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		return noFolderError(dir)
	case err != nil:
		return err
	case !fi.IsDir():
		return fmt.Errorf("%s is not a folder", dir)
	}
	return nil
}

// checkReadable returns an error if the folder dir cannot be listed. A
// reading command needs it: gocloud's fileblob leaves out of a listing,
// without a word, a folder it cannot read, which would make a drop box
// (written to, not readable) look empty rather than unreadable.
func checkReadable(dir string) error {
	f, err := os.Open(dir)
	if err == nil {
		_, err = f.Readdirnames(1)
		f.Close()
	}
	if err != nil && err != io.EOF {
		return fmt.Errorf("folder %s cannot be read: %w", dir, err)
	}
	return nil
}

// noFolderError reads "folder DIR does not exist" and matches
// fs.ErrNotExist.
type noFolderError string

func (e noFolderError) Error() string { return "folder " + string(e) + " does not exist" }
func (e noFolderError) Unwrap() error { return fs.ErrNotExist }

func openFolder(dir string) (*blob.Bucket, error) {
	return fileblob.OpenBucket(dir, &fileblob.Options{
		// Temporary files in os.TempDir would fail to rename onto another
		// file system, and could fill a small (or memory-backed) /tmp.
		NoTempDir: true,
		Metadata:  fileblob.MetadataDontWrite,
	})
}
