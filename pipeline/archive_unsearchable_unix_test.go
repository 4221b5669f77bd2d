//go:build unix

package pipeline_test

import (
	"context"
	"errors"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-backup/sluice/pipeline/archive"
	"github.com/sluice-backup/sluice/pipeline/childtest"
)

// TestArchiveUnsearchableDirectory checks that a directory its reader can
// open but not search (mode 644) fails a directory backup, and its dry
// run, as a permission error naming it, as a mode 000 one does, not as a
// directory replaced during the backup.
func TestArchiveUnsearchableDirectory(t *testing.T) {
	if !childtest.AsNobody(t) {
		return
	}
	for _, mode := range []fs.FileMode{0o644, 0o000} {
		src := t.TempDir()
		locked := filepath.Join(src, "sub")
		if err := os.Mkdir(locked, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(locked, "f"), []byte("x"), 0o644); err != nil {
			t.Fatal(err)
		}
		if err := os.Chmod(locked, mode); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { os.Chmod(locked, 0o755) })
		_, merr := archive.Measure(context.Background(), src, archive.Options{})
		werr := archive.Write(context.Background(), io.Discard, src, archive.Options{})
		for what, err := range map[string]error{"Measure": merr, "Write": werr} {
			var entry *archive.EntryError
			if !errors.As(err, &entry) || entry.Path != locked || !errors.Is(err, fs.ErrPermission) || strings.Contains(err.Error(), "replaced") {
				t.Errorf("mode %v: %s: %v, want a permission error naming %s", mode, what, err, locked)
			}
		}
	}
}
