package archive

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// tentry is one entry of an archive built by buildTar.
type tentry struct {
	hdr  tar.Header
	body string
}

func reg(name, body string) tentry {
	return tentry{hdr: tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644, Size: int64(len(body))}, body: body}
}
func regMode(name, body string, mode int64) tentry {
	e := reg(name, body)
	e.hdr.Mode = mode
	return e
}
func dir(name string) tentry {
	return tentry{hdr: tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755}}
}
func symlink(name, target string) tentry {
	return tentry{hdr: tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}}
}
func hardlink(name, target string) tentry {
	return tentry{hdr: tar.Header{Typeflag: tar.TypeLink, Name: name, Linkname: target, Mode: 0o644}}
}
func special(name string, typ byte) tentry {
	return tentry{hdr: tar.Header{Typeflag: typ, Name: name, Mode: 0o600, Devmajor: 1, Devminor: 3}}
}

// buildTar returns a tar archive of entries, with the end-of-archive marker.
func buildTar(t testing.TB, entries ...tentry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := e.hdr
		if hdr.ModTime.IsZero() {
			hdr.ModTime = time.Unix(1700000000, 0)
		}
		if err := tw.WriteHeader(&hdr); err != nil {
			t.Fatalf("WriteHeader(%q): %v", hdr.Name, err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatalf("Write(%q): %v", hdr.Name, err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// node is one entry of a tree built by makeTree.
type node struct {
	path   string // slash-separated, relative
	kind   byte   // 'f' file, 'd' directory, 'l' symlink
	data   string // file content
	target string // symlink target
	mode   fs.FileMode
}

// makeTree creates nodes under root, gives every file and directory a known
// modification time (distinct, whole seconds), and returns root.
func makeTree(t testing.TB, root string, nodes []node) string {
	t.Helper()
	t.Cleanup(func() { makeRemovable(root) })
	for _, n := range nodes {
		p := filepath.Join(root, filepath.FromSlash(n.path))
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		var err error
		switch n.kind {
		case 'f':
			err = os.WriteFile(p, []byte(n.data), 0o600)
		case 'd':
			err = os.MkdirAll(p, 0o700)
		case 'l':
			err = os.Symlink(n.target, p)
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	// Modes and times last: deepest first, so setting a child's time does
	// not change its parent's and read-only directories are done last.
	sorted := slices.Clone(nodes)
	slices.SortStableFunc(sorted, func(a, b node) int {
		return strings.Count(b.path, "/") - strings.Count(a.path, "/")
	})
	for i, n := range sorted {
		if n.kind == 'l' {
			continue
		}
		p := filepath.Join(root, filepath.FromSlash(n.path))
		mode := n.mode
		if mode == 0 {
			mode = 0o644
			if n.kind == 'd' {
				mode = 0o755
			}
		}
		if err := os.Chmod(p, mode); err != nil {
			t.Fatal(err)
		}
		mt := time.Date(2021, 3, 4, 5, 6, 7, 0, time.UTC).Add(time.Duration(i) * time.Hour)
		if err := os.Chtimes(p, mt, mt); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// snapshot describes every entry below root (not root itself) by its
// relative path: type, permission and special bits, content digest or
// symlink target, and modification time in seconds (not for symlinks).
func snapshot(t testing.TB, root string) map[string]string {
	t.Helper()
	out := map[string]string{}
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if p == root {
			return nil
		}
		rel, _ := filepath.Rel(root, p)
		fi, err := d.Info()
		if err != nil {
			return err
		}
		mode := fi.Mode() & (fs.ModePerm | fs.ModeSetuid | fs.ModeSetgid | fs.ModeSticky)
		var desc string
		switch {
		case fi.Mode().IsRegular():
			data, err := os.ReadFile(p)
			if err != nil {
				return err
			}
			sum := sha256.Sum256(data)
			desc = fmt.Sprintf("file %v len=%d sha=%s mtime=%d", mode, len(data), hex.EncodeToString(sum[:8]), fi.ModTime().Unix())
		case fi.IsDir():
			desc = fmt.Sprintf("dir %v mtime=%d", mode, fi.ModTime().Unix())
		case fi.Mode()&fs.ModeSymlink != 0:
			target, err := os.Readlink(p)
			if err != nil {
				return err
			}
			desc = "symlink -> " + target
		default:
			desc = "other " + fi.Mode().String()
		}
		out[filepath.ToSlash(rel)] = desc
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return out
}

// diffSnapshots fails t with every difference between want and got.
func diffSnapshots(t testing.TB, want, got map[string]string) {
	t.Helper()
	var keys []string
	for k := range want {
		keys = append(keys, k)
	}
	for k := range got {
		if _, ok := want[k]; !ok {
			keys = append(keys, k)
		}
	}
	slices.Sort(keys)
	for _, k := range keys {
		if want[k] != got[k] {
			t.Errorf("%s:\n\twant %q\n\tgot  %q", k, want[k], got[k])
		}
	}
}

// listTar returns the entry names of archive, failing t on a read error.
func listTar(t testing.TB, archive []byte) []string {
	t.Helper()
	var names []string
	for _, h := range readHeaders(t, archive) {
		names = append(names, h.Name)
	}
	return names
}

func readHeaders(t testing.TB, archive []byte) []*tar.Header {
	t.Helper()
	tr := tar.NewReader(bytes.NewReader(archive))
	var hdrs []*tar.Header
	for {
		h, err := tr.Next()
		if err != nil {
			if errors.Is(err, io.EOF) {
				return hdrs
			}
			t.Fatalf("reading archive: %v", err)
		}
		hdrs = append(hdrs, h)
	}
}

// newDest returns an empty destination directory inside a fresh parent
// directory, and the parent, whose only entry must stay "dest". Directories
// extracted read-only are made writable again before the parent is removed.
func newDest(t testing.TB) (dest, parent string) {
	t.Helper()
	parent = t.TempDir()
	dest = filepath.Join(parent, "dest")
	if err := os.Mkdir(dest, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { makeRemovable(parent) })
	return dest, parent
}

// makeRemovable gives the owner full access to every directory below root
// so that t.TempDir's cleanup can remove extracted read-only trees. WalkDir
// visits a directory before reading it, so the chmod comes first.
func makeRemovable(root string) {
	filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if d != nil && d.IsDir() {
			os.Chmod(p, 0o700)
		}
		return nil
	})
}

// parentEntries returns the names in dir, sorted.
func parentEntries(t testing.TB, dir string) []string {
	t.Helper()
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	return names
}
