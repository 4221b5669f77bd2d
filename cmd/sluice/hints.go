package main

import (
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"

	"github.com/sluice-backup/sluice/pipeline/archive"
)

// withSourceHint adds to the error of a backup what would let it go on,
// named as the command sets it: allowChanging is the flag or config key
// that archives a changing file as read, exclude the one that leaves an
// entry out. A directory backup stops at an entry it cannot read (where
// tar goes on and exits 2), since a backup that lacks a file nobody
// notices is worse than a failure; the hint says how to choose otherwise.
func withSourceHint(err error, allowChanging, exclude string) error {
	var entry *archive.EntryError
	switch {
	case errors.Is(err, archive.ErrChanged):
		return fmt.Errorf("%w (%s archives such a file as read, with a warning)", err, allowChanging)
	case errors.As(err, &entry) && errors.Is(entry.Err, fs.ErrPermission):
		return fmt.Errorf("%w (nothing was stored: run as a user who can read it, or leave it out with %s)", err, exclude)
	}
	return err
}

// backupSourceHint is withSourceHint with the choices named as backup's
// flags, runSourceHint as a pipeline's config keys.
func backupSourceHint(err error) error {
	return withSourceHint(err, "--allow-changing-files", "--exclude")
}

func runSourceHint(err error) error {
	return withSourceHint(err, "allow_changing_files: true", "the pipeline's exclude")
}

// checkSourceReadable opens the file or lists the folder at path before
// any target is touched, so that a source the user cannot read fails the
// backup there, as a missing one does: no target folder created, no
// claim written, no summary of bytes never read. An entry inside a
// folder that cannot be read is found while archiving (see
// withSourceHint). Anything else (a named pipe, which opening would
// block on or take data from; a path that is gone) is left to the
// backup.
func checkSourceReadable(path string) error {
	st, err := os.Stat(path)
	if err != nil || !st.IsDir() && !st.Mode().IsRegular() {
		return nil
	}
	what := "read"
	if st.IsDir() {
		what = "list"
	}
	f, err := os.Open(path)
	if err == nil {
		if st.IsDir() {
			if _, err = f.ReadDir(1); err == io.EOF {
				err = nil
			}
		}
		f.Close()
	}
	if err == nil && st.IsDir() {
		// A folder that can be listed but not searched (mode 644)
		// shows its names and nothing of what they are.
		var r *os.Root
		if r, err = os.OpenRoot(path); err == nil {
			_, err = r.Stat(".")
			r.Close()
		}
		what = "search"
	}
	if err == nil {
		return nil
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if errors.Is(err, fs.ErrPermission) {
		return fmt.Errorf("source %s: cannot %s it: %w (nothing was stored: run as a user who can read it)", path, what, err)
	}
	return fmt.Errorf("source %s: cannot %s it: %w", path, what, err)
}
