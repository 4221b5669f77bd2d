package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// FuzzExtract extracts arbitrary bytes and checks that nothing appears
// outside the destination, that every path inside it, symlinks resolved,
// stays inside, and that Check refuses what Extract refuses and accepts
// what it extracts.
func FuzzExtract(f *testing.F) {
	f.Add(buildTar(f, dir("d/"), reg("d/f", "data"), symlink("l", "d/f"), hardlink("h", "d/f"), symlink("s", ".")))
	f.Add(buildTar(f, reg("a/../b", "x"), symlink("up", "../up"), reg("./c", "c")))
	long := reg(strings.Repeat("n", 200), "long")
	long.hdr.Format = tar.FormatPAX
	f.Add(buildTar(f, long, dir("x/"), symlink("x/y", "../n")))
	f.Add(buildTar(f, reg("f", "x"), dir("d/"), reg("d/g", "y"), symlink("f", "d"), dir("f/"), reg("f/h", "z"), hardlink("f/h", "d/g"), reg("d", "w")))
	for _, tc := range hostileCases {
		f.Add(buildTar(f, tc.entries...))
	}
	for _, name := range []string{"gnu.tar", "posix.tar"} {
		data, err := os.ReadFile(filepath.Join("testdata", name))
		if err != nil {
			f.Fatal(err)
		}
		// Drop GNU tar's padding to a 10 KiB record after the end marker:
		// it only slows the minimizer down.
		end := len(bytes.TrimRight(data, "\x00"))
		f.Add(data[:min(len(data), (end+blockSize-1)/blockSize*blockSize+2*blockSize)])
	}

	// One fixed destination, emptied before each input, rather than
	// t.TempDir: fresh names every run make coverage vary between identical
	// inputs, and the fuzzer then spends its time re-checking them.
	parent := f.TempDir()
	dest := filepath.Join(parent, "dest")
	f.Fuzz(func(t *testing.T, data []byte) {
		makeRemovable(parent)
		if err := os.RemoveAll(dest); err != nil {
			t.Fatal(err)
		}
		if err := os.Mkdir(dest, 0o755); err != nil {
			t.Fatal(err)
		}
		// Sparse entries can claim huge sizes with holes that cost no
		// input; the deadline bounds them.
		ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
		defer cancel()
		xerr := Extract(ctx, bytes.NewReader(data), dest, ExtractOptions{})
		cerr := Check(ctx, bytes.NewReader(data), ExtractOptions{}, nil)
		if ctx.Err() == nil {
			switch {
			case xerr == nil && cerr != nil:
				t.Errorf("Extract succeeded, Check: %v", cerr)
			case errors.Is(xerr, ErrUnsafe) && (cerr == nil || cerr.Error() != xerr.Error()):
				t.Errorf("Extract: %v\nCheck: %v", xerr, cerr)
			}
		}

		if got := parentEntries(t, parent); !slices.Equal(got, []string{"dest"}) {
			t.Fatalf("outside the destination: %q", got)
		}
		realDest, err := filepath.EvalSymlinks(dest)
		if err != nil {
			t.Fatal(err)
		}
		filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
			if err != nil {
				return nil
			}
			resolved, err := filepath.EvalSymlinks(p)
			if err != nil {
				return nil // dangling or looping: leads nowhere
			}
			if rel, err := filepath.Rel(realDest, resolved); err != nil || !filepath.IsLocal(rel) && rel != "." {
				target, _ := os.Readlink(p)
				t.Errorf("%s (-> %q) resolves outside the destination to %s", p, target, resolved)
			}
			return nil
		})
	})
}

// FuzzIsTar checks that IsTar does not panic and recognises every stream
// archive/tar can read a header from.
func FuzzIsTar(f *testing.F) {
	f.Add([]byte{})
	f.Add(make([]byte, 512))
	f.Add(buildTar(f, reg("f", "x")))
	f.Add(v7Header(f))
	f.Add([]byte("\x1f\x8b\x08\x00"))
	f.Fuzz(func(t *testing.T, data []byte) {
		got := IsTar(data)
		if _, err := tar.NewReader(bytes.NewReader(data)).Next(); err == nil && !got {
			t.Errorf("archive/tar reads a header but IsTar = false")
		}
	})
}
