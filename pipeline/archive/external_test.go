package archive

import (
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestExternalSymlinks checks the ExternalSymlinks option: refused by
// default with ErrExternalSymlink, created as they are when allowed, and
// never followed either way.
func TestExternalSymlinks(t *testing.T) {
	outside := t.TempDir()
	links := map[string]string{
		"abs":     outside,
		"up":      "../../elsewhere",
		"dotdot":  "x/../../y",
		"etc/etc": "/etc",
	}
	for name, target := range links {
		t.Run(name, func(t *testing.T) {
			data := buildTar(t, dir("etc/"), symlink(name, target))
			err := extractBytes(t, data, t.TempDir(), ExtractOptions{})
			if !errors.Is(err, ErrExternalSymlink) || !errors.Is(err, ErrUnsafe) {
				t.Fatalf("default: %v, want ErrExternalSymlink", err)
			}
			dest := t.TempDir()
			if err := extractBytes(t, data, dest, ExtractOptions{ExternalSymlinks: true}); err != nil {
				t.Fatalf("allowed: %v", err)
			}
			if got, err := os.Readlink(filepath.Join(dest, name)); err != nil || got != target {
				t.Fatalf("link %q (%v), want %q", got, err, target)
			}
		})
	}
	t.Run("never followed", func(t *testing.T) {
		for _, tail := range []tentry{reg("abs/f", "x"), dir("abs/d/"), hardlink("abs/h", "f0"), symlink("abs/s", "f0")} {
			data := buildTar(t, reg("f0", "x"), symlink("abs", outside), tail)
			err := extractBytes(t, data, t.TempDir(), ExtractOptions{ExternalSymlinks: true})
			if !errors.Is(err, ErrUnsafe) || errors.Is(err, ErrExternalSymlink) {
				t.Fatalf("%s through an external link: %v, want ErrUnsafe", tail.hdr.Name, err)
			}
		}
		if left, _ := os.ReadDir(outside); len(left) > 0 {
			t.Fatalf("wrote outside: %v", left)
		}
	})
	t.Run("malformed still refused", func(t *testing.T) {
		err := extractBytes(t, buildTar(t, symlink("e", "")), t.TempDir(), ExtractOptions{ExternalSymlinks: true})
		if !errors.Is(err, ErrUnsafe) {
			t.Fatalf("empty target: %v", err)
		}
	})
}
