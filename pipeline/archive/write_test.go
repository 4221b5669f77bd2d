package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// longName is a file name that does not fit a USTAR name field.
var longName = strings.Repeat("long-name-", 12) + ".txt"

// testTree is the tree of the round-trip and interop tests.
func testTree() []node {
	big := make([]byte, 1<<20+123)
	rng := rand.New(rand.NewPCG(1, 2))
	for i := range big {
		big[i] = byte(rng.Uint32())
	}
	return []node{
		{path: "a/b/c/deep.txt", kind: 'f', data: "deep\n"},
		{path: "a/b/c", kind: 'd', mode: 0o750},
		{path: "a/b", kind: 'd'},
		{path: "a", kind: 'd', mode: 0o700},
		{path: "a-b", kind: 'f', data: "sorts before a/"},
		{path: "empty", kind: 'd'},
		{path: "zero", kind: 'f', data: ""},
		{path: "one", kind: 'f', data: "1"},
		{path: "big.bin", kind: 'f', data: string(big)},
		{path: "private", kind: 'f', data: "secret", mode: 0o600},
		{path: "script.sh", kind: 'f', data: "#!/bin/sh\n", mode: 0o755},
		{path: "a/filelink", kind: 'l', target: "b/c/deep.txt"},
		{path: "dirlink", kind: 'l', target: "a/b"},
		{path: "dangling", kind: 'l', target: "does/not/exist"},
		{path: "sub", kind: 'd'},
		{path: "sub/" + longName, kind: 'f', data: "long\n"},
		{path: "sub/ünïcödé.txt", kind: 'f', data: "utf-8\n"},
		{path: "readonly/inside", kind: 'f', data: "in a read-only dir", mode: 0o444},
		{path: "readonly", kind: 'd', mode: 0o555},
	}
}

func writeArchive(t testing.TB, root string, opts Options) []byte {
	t.Helper()
	var buf bytes.Buffer
	if err := Write(context.Background(), &buf, root, opts); err != nil {
		t.Fatalf("Write: %v", err)
	}
	return buf.Bytes()
}

func TestRoundTrip(t *testing.T) {
	src := makeTree(t, t.TempDir(), testTree())
	archive := writeArchive(t, src, Options{})

	dest, _ := newDest(t)
	if err := Extract(context.Background(), bytes.NewReader(archive), dest, ExtractOptions{}); err != nil {
		t.Fatalf("Extract: %v", err)
	}
	want := snapshot(t, src)
	if len(want) != len(testTree()) {
		t.Fatalf("source snapshot has %d entries, want %d", len(want), len(testTree()))
	}
	diffSnapshots(t, want, snapshot(t, dest))
}

func TestWriteEntries(t *testing.T) {
	src := makeTree(t, t.TempDir(), testTree())
	hdrs := readHeaders(t, writeArchive(t, src, Options{}))

	var names []string
	for _, h := range hdrs {
		names = append(names, h.Name)
		if strings.HasPrefix(h.Name, "./") || strings.HasPrefix(h.Name, "/") {
			t.Errorf("name %q is not relative without ./", h.Name)
		}
		if (h.Typeflag == tar.TypeDir) != strings.HasSuffix(h.Name, "/") {
			t.Errorf("%q: type %q and trailing slash disagree", h.Name, h.Typeflag)
		}
		if h.Uid != os.Getuid() || h.Gid != os.Getgid() {
			t.Errorf("%q: uid/gid %d/%d, want %d/%d", h.Name, h.Uid, h.Gid, os.Getuid(), os.Getgid())
		}
		if h.Uname != "" || !h.AccessTime.IsZero() || !h.ChangeTime.IsZero() {
			t.Errorf("%q: unexpected unstable metadata %+v", h.Name, h)
		}
	}
	if !slices.IsSorted(names) {
		t.Errorf("names not sorted: %q", names)
	}
	want := []string{"a-b", "a/", "a/b/", "a/b/c/", "a/b/c/deep.txt", "a/filelink", "big.bin", "dangling", "dirlink",
		"empty/", "one", "private", "readonly/", "readonly/inside", "script.sh", "sub/", "sub/" + longName,
		"sub/ünïcödé.txt", "zero"}
	if !slices.Equal(names, want) {
		t.Errorf("names:\n\tgot  %q\n\twant %q", names, want)
	}
}

func TestWriteDeterministic(t *testing.T) {
	src := makeTree(t, t.TempDir(), testTree())
	first := writeArchive(t, src, Options{})
	// Reading changes access times; the output must not.
	second := writeArchive(t, src, Options{})
	if !bytes.Equal(first, second) {
		t.Fatalf("two Writes of the same tree differ (%d and %d bytes)", len(first), len(second))
	}
}

func TestWriteRootSymlink(t *testing.T) {
	base := t.TempDir()
	src := makeTree(t, filepath.Join(base, "real"), testTree()[:5])
	link := filepath.Join(base, "link")
	if err := os.Symlink("real", link); err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(writeArchive(t, src, Options{}), writeArchive(t, link, Options{})) {
		t.Fatal("archive through a root symlink differs from the archive of its target")
	}
}

func TestWriteRootNotDirectory(t *testing.T) {
	f := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(f, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	for _, root := range []string{f, filepath.Join(t.TempDir(), "missing")} {
		var buf bytes.Buffer
		if err := Write(context.Background(), &buf, root, Options{}); err == nil {
			t.Errorf("Write(%q) succeeded", root)
		}
		if buf.Len() != 0 {
			t.Errorf("Write(%q) wrote %d bytes", root, buf.Len())
		}
	}
}

func TestWriteHardLinksAsFiles(t *testing.T) {
	src := makeTree(t, t.TempDir(), []node{{path: "one", kind: 'f', data: "shared"}})
	if err := os.Link(filepath.Join(src, "one"), filepath.Join(src, "two")); err != nil {
		t.Fatal(err)
	}
	tr := tar.NewReader(bytes.NewReader(writeArchive(t, src, Options{})))
	for _, name := range []string{"one", "two"} {
		h, err := tr.Next()
		if err != nil {
			t.Fatal(err)
		}
		data, _ := io.ReadAll(tr)
		if h.Name != name || h.Typeflag != tar.TypeReg || string(data) != "shared" {
			t.Errorf("entry %q type %q data %q, want %q regular file with data", h.Name, h.Typeflag, data, name)
		}
	}
}

func TestExclude(t *testing.T) {
	tree := []node{
		{path: "a.tmp", kind: 'f'},
		{path: "keep.txt", kind: 'f'},
		{path: "sub/b.tmp", kind: 'f'},
		{path: "sub/.cache/x", kind: 'f'},
		{path: ".cache/y", kind: 'f'},
		{path: "other/.cache", kind: 'f'},
		{path: "logs/a.gz", kind: 'f'},
		{path: "logs/a.txt", kind: 'f'},
		{path: "logs/old/b.gz", kind: 'f'},
		{path: "x/logs/c.gz", kind: 'f'},
		{path: "build/out", kind: 'f'},
		{path: "src/build/out", kind: 'f'},
	}
	src := makeTree(t, t.TempDir(), tree)
	all := listTar(t, writeArchive(t, src, Options{}))

	tests := []struct {
		name     string
		patterns []string
		excluded []string
	}{
		{"base name glob", []string{"*.tmp"}, []string{"a.tmp", "sub/b.tmp"}},
		{"base name matches directories too", []string{"logs"},
			[]string{"logs/", "logs/a.gz", "logs/a.txt", "logs/old/", "logs/old/b.gz", "x/logs/", "x/logs/c.gz"}},
		{"directory only", []string{".cache/"}, []string{".cache/", ".cache/y", "sub/.cache/", "sub/.cache/x"}},
		{"path glob", []string{"logs/*.gz"}, []string{"logs/a.gz"}},
		{"path glob for a directory", []string{"logs/old"}, []string{"logs/old/", "logs/old/b.gz"}},
		{"anchored", []string{"/build"}, []string{"build/", "build/out"}},
		{"anchored directory only", []string{"/build/"}, []string{"build/", "build/out"}},
		{"directory only does not match files", []string{"keep.txt/"}, nil},
		{"several", []string{"*.tmp", ".cache/", "logs/*.gz"},
			[]string{"a.tmp", "sub/b.tmp", ".cache/", ".cache/y", "sub/.cache/", "sub/.cache/x", "logs/a.gz"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := listTar(t, writeArchive(t, src, Options{Exclude: tt.patterns}))
			var want []string
			for _, n := range all {
				if !slices.Contains(tt.excluded, n) {
					want = append(want, n)
				}
			}
			if !slices.Equal(got, want) {
				t.Errorf("Exclude %q:\n\tgot  %q\n\twant %q", tt.patterns, got, want)
			}
		})
	}

	for _, bad := range []string{"[", "logs/[a", "[/", "", "/", `x\`} {
		var buf bytes.Buffer
		err := Write(context.Background(), &buf, src, Options{Exclude: []string{"ok", bad}})
		if err == nil || !strings.Contains(err.Error(), "exclude pattern") {
			t.Errorf("Exclude %q: err = %v, want a pattern error", bad, err)
		}
		if buf.Len() != 0 {
			t.Errorf("Exclude %q: %d bytes written before the error", bad, buf.Len())
		}
	}
}

// Changes a test makes to a file while Write reads it: append "more",
// cut it to 3 bytes, or rewrite it at the same size with a new time.
func grow(p string) error {
	f, err := os.OpenFile(p, os.O_APPEND|os.O_WRONLY, 0)
	if err != nil {
		return err
	}
	defer f.Close()
	_, err = f.WriteString("more")
	return err
}

func shrink(p string) error { return os.Truncate(p, 3) }

func rewrite(p string) error {
	if err := os.WriteFile(p, []byte("9876543210"), 0o644); err != nil {
		return err
	}
	mt := time.Now().Add(time.Hour)
	return os.Chtimes(p, mt, mt)
}

func TestWriteFileChanges(t *testing.T) {
	tests := []struct {
		event  string // when the file changes: before "open" or before "copy"
		change func(path string) error
		want   string
	}{
		{"open", grow, "changed size"},
		{"open", shrink, "changed size"},
		{"open", rewrite, "modified while being read"},
		{"copy", grow, "grew while being read"},
		{"copy", shrink, "shrank while being read"},
		{"copy", rewrite, "modified while being read"},
	}
	for _, tt := range tests {
		src := makeTree(t, t.TempDir(), []node{{path: "a", kind: 'f', data: "0123456789"}, {path: "victim", kind: 'f', data: "0123456789"}})
		hook := func(event, rel string) {
			if event == tt.event && rel == "victim" {
				if err := tt.change(filepath.Join(src, rel)); err != nil {
					t.Error(err)
				}
			}
		}
		err := writeTree(context.Background(), io.Discard, src, Options{}, hook)
		if !errors.Is(err, ErrChanged) || !strings.Contains(err.Error(), filepath.Join(src, "victim")) || !strings.Contains(err.Error(), tt.want) {
			t.Errorf("change before %s: err = %v, want an error naming victim with %q", tt.event, err, tt.want)
		}
	}
}

func TestWriteFileVanishes(t *testing.T) {
	src := makeTree(t, t.TempDir(), []node{{path: "a", kind: 'f', data: "a"}, {path: "victim", kind: 'f', data: "v"}})
	hook := func(event, rel string) {
		if event == "open" && rel == "victim" {
			if err := os.Remove(filepath.Join(src, rel)); err != nil {
				t.Error(err)
			}
		}
	}
	var skipped []string
	var buf bytes.Buffer
	opts := Options{OnSkip: func(path, reason string) { skipped = append(skipped, path+": "+reason) }}
	if err := writeTree(context.Background(), &buf, src, opts, hook); err != nil {
		t.Fatal(err)
	}
	if names := listTar(t, buf.Bytes()); !slices.Equal(names, []string{"a"}) {
		t.Errorf("entries %q, want only a", names)
	}
	if want := []string{filepath.Join(src, "victim") + ": vanished during backup"}; !slices.Equal(skipped, want) {
		t.Errorf("OnSkip calls %q, want %q", skipped, want)
	}
}

// cancelWriter cancels a context once more than limit bytes were written.
type cancelWriter struct {
	n, limit int
	cancel   context.CancelFunc
}

func (w *cancelWriter) Write(p []byte) (int, error) {
	w.n += len(p)
	if w.n > w.limit {
		w.cancel()
	}
	return len(p), nil
}

func TestWriteCancel(t *testing.T) {
	src := makeTree(t, t.TempDir(), testTree())

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	if err := Write(ctx, io.Discard, src, Options{}); !errors.Is(err, context.Canceled) {
		t.Errorf("cancelled before: err = %v, want context.Canceled", err)
	}

	// Cancelled in the middle of the 1 MiB file.
	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	w := &cancelWriter{limit: 64 << 10, cancel: cancel}
	if err := Write(ctx, w, src, Options{}); err != context.Canceled {
		t.Errorf("cancelled during: err = %v, want context.Canceled", err)
	}
	if w.n > 512<<10 {
		t.Errorf("%d bytes written after cancellation", w.n)
	}
}

// TestWriteFileChangesTolerated: with OnChange set, a file that changes
// while it is read is archived as read, reported, and the archive stays
// valid: a grown file holds the size its header declared, a shrunk one is
// padded with zeros, and one changed before it was opened is archived as
// it is then, unreported.
func TestWriteFileChangesTolerated(t *testing.T) {
	for _, tt := range []struct {
		event    string
		change   func(path string) error
		data     string
		reported string // "" for none
	}{
		{"open", grow, "0123456789more", ""},
		{"open", shrink, "012", ""},
		{"open", rewrite, "9876543210", ""},
		{"copy", grow, "0123456789", "grew while being read"},
		{"copy", shrink, "012\x00\x00\x00\x00\x00\x00\x00", "shrank while being read"},
		{"copy", rewrite, "9876543210", "modified while being read"},
	} {
		src := makeTree(t, t.TempDir(), []node{{path: "a", kind: 'f', data: "0123456789"}, {path: "victim", kind: 'f', data: "0123456789"}})
		hook := func(event, rel string) {
			if event == tt.event && rel == "victim" {
				if err := tt.change(filepath.Join(src, rel)); err != nil {
					t.Error(err)
				}
			}
		}
		var reports []string
		opts := Options{OnChange: func(path, what string) { reports = append(reports, path+": "+what) }}
		var buf bytes.Buffer
		if err := writeTree(context.Background(), &buf, src, opts, hook); err != nil {
			t.Fatalf("change before %s: %v", tt.event, err)
		}
		got := map[string]string{}
		tr := tar.NewReader(&buf)
		for {
			h, err := tr.Next()
			if err == io.EOF {
				break
			}
			if err != nil {
				t.Fatalf("change before %s: archive: %v", tt.event, err)
			}
			b, err := io.ReadAll(tr)
			if err != nil {
				t.Fatal(err)
			}
			got[h.Name] = string(b)
		}
		if got["a"] != "0123456789" || got["victim"] != tt.data {
			t.Errorf("change before %s: entries %q, want victim %q", tt.event, got, tt.data)
		}
		switch {
		case tt.reported == "" && len(reports) > 0:
			t.Errorf("change before %s: reported %q", tt.event, reports)
		case tt.reported != "" && (len(reports) != 1 || !strings.HasPrefix(reports[0], filepath.Join(src, "victim")+": ") || !strings.Contains(reports[0], tt.reported)):
			t.Errorf("change before %s: reports %q, want one for victim with %q", tt.event, reports, tt.reported)
		}
	}
}
