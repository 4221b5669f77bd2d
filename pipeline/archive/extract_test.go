package archive

import (
	"archive/tar"
	"bytes"
	"context"
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

func extractBytes(t testing.TB, archive []byte, dest string, opts ExtractOptions) error {
	t.Helper()
	return Extract(context.Background(), bytes.NewReader(archive), dest, opts)
}

// hostileCases are archives Extract must refuse; bad is the entry the error
// names. They also seed FuzzExtract.
var hostileCases = []struct {
	name    string
	entries []tentry
	bad     string
	reason  string
}{
	{"dotdot", []tentry{reg("../escape", "x")}, "../escape", "escapes destination"},
	{"inner dotdot", []tentry{dir("a/"), reg("a/../../escape", "x")}, "a/../../escape", "escapes destination"},
	{"absolute", []tentry{reg("/abs/path", "x")}, "/abs/path", "absolute"},
	{"absolute dir", []tentry{dir("/tmp/")}, "/tmp/", "absolute"},
	{"symlink outside", []tentry{symlink("l", "../outside")}, "l", "escapes destination"},
	{"symlink absolute", []tentry{symlink("l", "/etc")}, "l", "absolute"},
	{"nested symlink outside", []tentry{dir("d/"), symlink("d/l", "../../x")}, "d/l", "escapes destination"},
	{"symlink to parent then through it", []tentry{symlink("l", ".."), reg("l/x", "x")}, "l", "escapes destination"},
	{"file through symlink to dot", []tentry{symlink("a", "."), reg("a/x", "x")}, "a/x", `through symlink "a"`},
	{"file through symlink to dir", []tentry{dir("sub/"), symlink("a", "sub"), reg("a/x", "x")}, "a/x", `through symlink "a"`},
	{"dir through symlink", []tentry{dir("sub/"), symlink("a", "sub"), dir("a/d/")}, "a/d/", `through symlink "a"`},
	{"dotdot after a name", []tentry{dir("a/"), symlink("x", "a/..")}, "x", `".." after a name`},
	{"dotdot through symlink chain", []tentry{dir("a/b/"), symlink("a/b/c", "../.."), symlink("x", "a/b/c/..")}, "x", `".." after a name`},
	{"hard link outside", []tentry{hardlink("h", "../x")}, "h", "escapes destination"},
	{"hard link absolute", []tentry{hardlink("h", "/etc/passwd")}, "h", "absolute"},
	{"hard link missing", []tentry{hardlink("h", "nope")}, "h", "does not exist"},
	{"hard link to directory", []tentry{dir("d/"), hardlink("h", "d")}, "h", "not a regular file"},
	{"hard link to symlink escapes from its directory", []tentry{dir("a/"), symlink("a/s", "../x"), hardlink("h", "a/s")}, "h", `hard link to symlink "a/s": symlink target "../x" escapes destination`},
	{"hard link to symlink deeper", []tentry{symlink("s", "x"), dir("d/"), hardlink("d/h", "s"), reg("d/h/y", "y")}, "d/h/y", `through symlink "d/h"`},
	{"hard link through symlink", []tentry{dir("d/"), reg("d/f", "x"), symlink("s", "d"), hardlink("h", "s/f")}, "h", `through symlink "s"`},
	{"char device", []tentry{special("dev", tar.TypeChar)}, "dev", "not allowed"},
	{"block device", []tentry{special("blk", tar.TypeBlock)}, "blk", "not allowed"},
	{"fifo", []tentry{special("fifo", tar.TypeFifo)}, "fifo", "not allowed"},
	{"file under file", []tentry{reg("f", "x"), reg("f/x", "y")}, "f/x", "not a directory"},
	{"file replaces full directory", []tentry{dir("d/"), reg("d/f", "x"), reg("d", "y")}, "d", "not empty"},
	{"symlink replaces implicit directory", []tentry{reg("d/f", "x"), symlink("d", "x")}, "d", "not empty"},
	{"hard link replaces full directory", []tentry{reg("f", "x"), reg("d/g", "y"), hardlink("d", "f")}, "d", "not empty"},
	{"file through symlink that replaced a directory", []tentry{dir("sub/"), dir("a/"), symlink("a", "sub"), reg("a/x", "x")}, "a/x", `through symlink "a"`},
	{"hard link to a replaced file", []tentry{reg("f", "x"), dir("f/"), hardlink("h", "f")}, "h", "not a regular file or symlink"},
	{"file names destination", []tentry{reg(".", "x")}, ".", "destination itself"},
}

func TestExtractHostile(t *testing.T) {
	for _, tc := range hostileCases {
		t.Run(tc.name, func(t *testing.T) {
			dest, parent := newDest(t)
			secret := filepath.Join(parent, "x")
			if err := os.WriteFile(secret, []byte("secret"), 0o600); err != nil {
				t.Fatal(err)
			}
			data := buildTar(t, tc.entries...)
			err := extractBytes(t, data, dest, ExtractOptions{})
			if err == nil {
				t.Fatal("Extract succeeded")
			}
			if cerr := Check(context.Background(), bytes.NewReader(data), ExtractOptions{}, nil); cerr == nil || cerr.Error() != err.Error() {
				t.Errorf("Check: %v, want Extract's %v", cerr, err)
			}
			wantPrefix := fmt.Sprintf("archive: entry %q: ", tc.bad)
			if !strings.HasPrefix(err.Error(), wantPrefix) || !strings.Contains(err.Error(), tc.reason) {
				t.Errorf("err = %q, want %q... with %q", err, wantPrefix, tc.reason)
			}
			if !errors.Is(err, ErrUnsafe) {
				t.Errorf("err = %v does not match ErrUnsafe", err)
			}
			if device := tc.reason == "not allowed"; errors.Is(err, ErrDevice) != device {
				t.Errorf("err = %v: matches ErrDevice %v, want %v", err, !device, device)
			}
			if got := parentEntries(t, parent); !slices.Equal(got, []string{"dest", "x"}) {
				t.Errorf("parent directory holds %q, want only dest and x", got)
			}
			if data, err := os.ReadFile(secret); err != nil || string(data) != "secret" {
				t.Errorf("file outside destination changed: %q, %v", data, err)
			}
			if _, err := os.Lstat("/abs/path"); err == nil {
				t.Error("/abs/path exists")
			}
		})
	}
}

func TestExtractAccepts(t *testing.T) {
	late := dir("late/")
	late.hdr.Mode = 0o710
	late.hdr.ModTime = time.Date(2020, 1, 2, 3, 4, 5, 0, time.UTC)
	ro := dir("ro/")
	ro.hdr.Mode = 0o500
	archive := buildTar(t,
		dir("./"),
		symlink("self", "."),
		symlink("up/../ok", "target"), // cleaned to "ok"
		reg("a/../b", "b"),            // cleaned to "b"
		reg("./c", "c"),
		symlink("nested/deeper/l", "../../b"),
		reg("late/file", "f"), // before its directory's own entry
		late,
		dir("late/"), // repeated directory: the later entry wins
		reg("target", "t"),
		hardlink("hl", "./target"),
		ro,
		reg("ro/inside", "r"),
	)
	dest, _ := newDest(t)
	before, err := os.Stat(dest)
	if err != nil {
		t.Fatal(err)
	}
	if err := extractBytes(t, archive, dest, ExtractOptions{}); err != nil {
		t.Fatalf("Extract: %v", err)
	}
	got := snapshot(t, dest)
	for name, want := range map[string]string{
		"self":            "symlink -> .",
		"ok":              "symlink -> target",
		"nested/deeper/l": "symlink -> ../../b",
		// The repeated late/ entry (0755, default time) wins over the first.
		"late": "dir -rwxr-xr-x mtime=1700000000",
		"ro":   "dir -r-x------ mtime=1700000000",
	} {
		if got[name] != want {
			t.Errorf("%s: got %q, want %q", name, got[name], want)
		}
	}
	for name, data := range map[string]string{"b": "b", "c": "c", "late/file": "f", "target": "t", "hl": "t", "ro/inside": "r"} {
		if d, err := os.ReadFile(filepath.Join(dest, name)); err != nil || string(d) != data {
			t.Errorf("%s: %q, %v; want %q", name, d, err, data)
		}
	}
	a, _ := os.Stat(filepath.Join(dest, "target"))
	b, _ := os.Stat(filepath.Join(dest, "hl"))
	if !os.SameFile(a, b) {
		t.Error("hl is not a hard link to target")
	}
	after, err := os.Stat(dest)
	if err != nil {
		t.Fatal(err)
	}
	if after.Mode() != before.Mode() {
		t.Errorf("the ./ entry changed the destination's mode to %v", after.Mode())
	}
}

func TestExtractRepeatedDirectory(t *testing.T) {
	first := dir("d/")
	first.hdr.Mode = 0o700
	second := dir("d/")
	second.hdr.Mode = 0o751
	dest, _ := newDest(t)
	if err := extractBytes(t, buildTar(t, first, reg("d/f", ""), second), dest, ExtractOptions{}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Stat(filepath.Join(dest, "d"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o751 {
		t.Errorf("mode %v, want the later entry's 0751", fi.Mode())
	}
}

// TestExtractSetID: setuid and setgid bits come back only with SetID;
// without it SetIDCleared is told of each entry that had them (a shared
// folder's setgid bit included), once.
func TestExtractSetID(t *testing.T) {
	sgidDir := dir("shared/")
	sgidDir.hdr.Mode = 0o2775
	archive := buildTar(t, regMode("suid", "x", 0o4755), regMode("sgid", "x", 0o2750), regMode("sticky", "x", 0o1644), sgidDir)
	for _, tc := range []struct {
		opts    ExtractOptions
		want    map[string]fs.FileMode
		cleared []string
	}{
		{ExtractOptions{}, map[string]fs.FileMode{"suid": 0o755, "sgid": 0o750, "sticky": 0o644 | fs.ModeSticky, "shared": 0o775},
			[]string{"suid", "sgid", "shared"}},
		{ExtractOptions{SetID: true}, map[string]fs.FileMode{
			"suid": 0o755 | fs.ModeSetuid, "sgid": 0o750 | fs.ModeSetgid, "sticky": 0o644 | fs.ModeSticky, "shared": 0o775 | fs.ModeSetgid}, nil},
	} {
		dest, _ := newDest(t)
		var cleared []string
		tc.opts.SetIDCleared = func(name string) { cleared = append(cleared, name) }
		if err := extractBytes(t, archive, dest, tc.opts); err != nil {
			t.Fatal(err)
		}
		if !slices.Equal(cleared, tc.cleared) {
			t.Errorf("SetID=%v: told of %q, want %q", tc.opts.SetID, cleared, tc.cleared)
		}
		for name, want := range tc.want {
			fi, err := os.Lstat(filepath.Join(dest, name))
			if err != nil {
				t.Fatal(err)
			}
			if got := fi.Mode() &^ fs.ModeType; got != want {
				t.Errorf("SetID=%v %s: mode %v, want %v", tc.opts.SetID, name, got, want)
			}
		}
	}
}

func TestExtractDestination(t *testing.T) {
	archive := buildTar(t, reg("f", "x"))
	dest, _ := newDest(t)
	if err := os.WriteFile(filepath.Join(dest, "existing"), nil, 0o644); err != nil {
		t.Fatal(err)
	}
	if err := extractBytes(t, archive, dest, ExtractOptions{}); err == nil || !strings.Contains(err.Error(), "not empty") {
		t.Errorf("non-empty destination: err = %v", err)
	}
	if err := extractBytes(t, archive, filepath.Join(dest, "missing"), ExtractOptions{}); err == nil {
		t.Error("missing destination: no error")
	}
}

func TestExtractTruncated(t *testing.T) {
	entries := []tentry{dir("d/"), reg("d/data", strings.Repeat("0123456789", 300)), reg("after", "tail")}
	full := buildTar(t, entries...)
	// Entries end where the end-of-archive marker (two zero blocks) starts.
	end := len(full) - 2*blockSize
	for end > 0 && bytes.Equal(full[end-blockSize:end], make([]byte, blockSize)) {
		end -= blockSize
	}

	// GNU tar accepts an archive ending after the first zero block.
	for _, cut := range []int{end + blockSize, len(full)} {
		dest, _ := newDest(t)
		if err := extractBytes(t, full[:cut], dest, ExtractOptions{}); err != nil {
			t.Errorf("cut at %d of %d (marker starts at %d): %v", cut, len(full), end, err)
		}
	}
	for cut := 0; cut < len(full); cut += 97 {
		if cut == end+blockSize {
			continue
		}
		dest, _ := newDest(t)
		err := extractBytes(t, full[:cut], dest, ExtractOptions{})
		if !errors.Is(err, io.ErrUnexpectedEOF) {
			t.Errorf("cut at %d of %d: err = %v, want io.ErrUnexpectedEOF", cut, len(full), err)
		}
	}

	// Named cut points.
	for _, tc := range []struct {
		name string
		cut  int
		want string
	}{
		{"empty stream", 0, "no end-of-archive marker"},
		{"middle of first header", 100, "read header"},
		{"middle of file data", 2*blockSize + 1000, `entry "d/data"`},
		{"at an entry boundary", 2*blockSize + 3072, `after entry "d/data"`},
		{"before the end marker", end, `after entry "after"`},
		{"middle of the end marker", end + 100, `after entry "after"`},
	} {
		dest, _ := newDest(t)
		err := extractBytes(t, full[:tc.cut], dest, ExtractOptions{})
		if !errors.Is(err, io.ErrUnexpectedEOF) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s: err = %v, want io.ErrUnexpectedEOF and %q", tc.name, err, tc.want)
		}
	}
}

func TestExtractCorrupt(t *testing.T) {
	full := buildTar(t, reg("f", "data"))
	bad := slices.Clone(full)
	bad[10] ^= 0xff // breaks the header checksum
	dest, _ := newDest(t)
	if err := extractBytes(t, bad, dest, ExtractOptions{}); !errors.Is(err, tar.ErrHeader) {
		t.Errorf("err = %v, want tar.ErrHeader", err)
	}
	dest, _ = newDest(t)
	junk := []byte(strings.Repeat("not a tar archive ", 100))
	if err := extractBytes(t, junk, dest, ExtractOptions{}); err == nil {
		t.Error("junk extracted without error")
	}
}

// errAfter returns data, then err.
type errAfter struct {
	r   io.Reader
	err error
}

func (e *errAfter) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err == io.EOF {
		return n, e.err
	}
	return n, err
}

func TestExtractDrains(t *testing.T) {
	archive := buildTar(t, reg("f", "data"))
	r := bytes.NewReader(append(slices.Clone(archive), make([]byte, 100<<10)...))
	dest, _ := newDest(t)
	if err := Extract(context.Background(), r, dest, ExtractOptions{}); err != nil {
		t.Fatal(err)
	}
	if r.Len() != 0 {
		t.Errorf("%d bytes left unread after the archive", r.Len())
	}

	// An outer layer's error at the very end (say, failed authentication)
	// must reach the caller.
	errAuth := errors.New("authentication failed")
	dest, _ = newDest(t)
	err := Extract(context.Background(), &errAfter{bytes.NewReader(archive), errAuth}, dest, ExtractOptions{})
	if !errors.Is(err, errAuth) {
		t.Errorf("err = %v, want %v", err, errAuth)
	}
}

// cancelReader cancels a context after limit bytes were read.
type cancelReader struct {
	r        io.Reader
	n, limit int
	cancel   context.CancelFunc
}

func (c *cancelReader) Read(p []byte) (int, error) {
	if len(p) > 4096 {
		p = p[:4096]
	}
	n, err := c.r.Read(p)
	c.n += n
	if c.n > c.limit {
		c.cancel()
	}
	return n, err
}

func TestExtractCancel(t *testing.T) {
	archive := buildTar(t, reg("a", "x"), reg("big", strings.Repeat("x", 4<<20)), reg("z", "x"))

	ctx, cancel := context.WithCancel(context.Background())
	cancel()
	dest, _ := newDest(t)
	if err := Extract(ctx, bytes.NewReader(archive), dest, ExtractOptions{}); err != context.Canceled {
		t.Errorf("cancelled before: err = %v, want context.Canceled", err)
	}

	ctx, cancel = context.WithCancel(context.Background())
	defer cancel()
	r := &cancelReader{r: bytes.NewReader(archive), limit: 1 << 20, cancel: cancel}
	dest, _ = newDest(t)
	if err := Extract(ctx, r, dest, ExtractOptions{}); err != context.Canceled {
		t.Errorf("cancelled during: err = %v, want context.Canceled", err)
	}
	if r.n > 2<<20 {
		t.Errorf("read %d bytes, well past cancellation at 1 MiB", r.n)
	}
	if _, err := os.Lstat(filepath.Join(dest, "z")); err == nil {
		t.Error("entry after cancellation was extracted")
	}
}

func TestExtractUnsupportedType(t *testing.T) {
	e := reg("m", "")
	e.hdr.Typeflag = 'M' // GNU multi-volume continuation
	data := buildTar(t, e)
	dest, _ := newDest(t)
	err := extractBytes(t, data, dest, ExtractOptions{})
	if err == nil || !strings.Contains(err.Error(), `entry "m": unsupported entry type`) {
		t.Errorf("err = %v", err)
	}
	if cerr := Check(context.Background(), bytes.NewReader(data), ExtractOptions{}, nil); cerr == nil || cerr.Error() != err.Error() {
		t.Errorf("Check: %v, want Extract's %v", cerr, err)
	}
}

// TestExtractGNUTypes checks GNU tar's volume labels (skipped, whatever
// their name) and incremental dumpdirs (directories, also naming the
// destination itself).
func TestExtractGNUTypes(t *testing.T) {
	label := reg("/Label: not a path", "")
	label.hdr.Typeflag = typeGNUVolume
	dump := func(name, listing string) tentry {
		e := reg(name, listing)
		e.hdr.Typeflag = typeGNUDumpDir
		e.hdr.Mode = 0o750
		return e
	}
	data := buildTar(t, label, dump("./", "Dsub\x00Yf\x00\x00"), dump("./sub/", ""), reg("./f", "x"), reg("./sub/g", "y"))
	if err := Check(context.Background(), bytes.NewReader(data), ExtractOptions{}, nil); err != nil {
		t.Fatalf("Check: %v", err)
	}
	dest, _ := newDest(t)
	if err := extractBytes(t, data, dest, ExtractOptions{}); err != nil {
		t.Fatalf("Extract: %v", err)
	}
	diffSnapshots(t, map[string]string{
		"f":     "file -rw-r--r-- len=1 sha=2d711642b726b044 mtime=1700000000",
		"sub":   "dir -rwxr-x--- mtime=1700000000",
		"sub/g": "file -rw-r--r-- len=1 sha=a1fce4363854ff88 mtime=1700000000",
	}, snapshot(t, dest))
}

// TestExtractReplaces checks that a later entry replaces an earlier one
// as GNU tar does, and that Check agrees.
func TestExtractReplaces(t *testing.T) {
	outside := t.TempDir()
	roDir := dir("d/")
	roDir.hdr.Mode = 0o500
	for _, tc := range []struct {
		name    string
		entries []tentry
		opts    ExtractOptions
		want    map[string]string // path → content, "->target" for a symlink, "/" for a directory
	}{
		{"file replaces file", []tentry{reg("f", "x"), reg("f", "y")}, ExtractOptions{}, map[string]string{"f": "y"}},
		{"after cleaning", []tentry{reg("f", "x"), reg("d/../f", "y")}, ExtractOptions{}, map[string]string{"f": "y"}},
		{"symlink replaces file", []tentry{reg("f", "x"), symlink("f", "g")}, ExtractOptions{}, map[string]string{"f": "->g"}},
		{"file replaces symlink, not its target", []tentry{reg("t", "t"), symlink("l", "t"), reg("l", "new")}, ExtractOptions{},
			map[string]string{"t": "t", "l": "new"}},
		{"file replaces external symlink", []tentry{symlink("l", outside), reg("l", "new")}, ExtractOptions{ExternalSymlinks: true},
			map[string]string{"l": "new"}},
		{"directory replaces symlink", []tentry{symlink("a", "."), dir("a/"), reg("a/x", "x")}, ExtractOptions{},
			map[string]string{"a": "/", "a/x": "x"}},
		{"file replaces empty directory", []tentry{roDir, reg("d", "x")}, ExtractOptions{}, map[string]string{"d": "x"}},
		{"directory replaces file", []tentry{reg("f", "x"), dir("f/"), reg("f/x", "y")}, ExtractOptions{},
			map[string]string{"f": "/", "f/x": "y"}},
		{"hard link to itself", []tentry{reg("f", "x"), hardlink("f", "f")}, ExtractOptions{}, map[string]string{"f": "x"}},
		{"hard link repeated", []tentry{reg("f", "x"), dir("sub/"), hardlink("sub/h", "f"), hardlink("sub/h", "f")}, ExtractOptions{},
			map[string]string{"f": "x", "sub": "/", "sub/h": "x"}},
		{"file replaces hard link", []tentry{reg("f", "x"), hardlink("h", "f"), reg("h", "y")}, ExtractOptions{},
			map[string]string{"f": "x", "h": "y"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			data := buildTar(t, tc.entries...)
			if err := Check(context.Background(), bytes.NewReader(data), tc.opts, nil); err != nil {
				t.Errorf("Check: %v", err)
			}
			dest, _ := newDest(t)
			if err := extractBytes(t, data, dest, tc.opts); err != nil {
				t.Fatalf("Extract: %v", err)
			}
			got := map[string]string{}
			filepath.WalkDir(dest, func(p string, d fs.DirEntry, err error) error {
				rel, _ := filepath.Rel(dest, p)
				switch {
				case err != nil || p == dest:
				case d.Type()&fs.ModeSymlink != 0:
					target, _ := os.Readlink(p)
					got[filepath.ToSlash(rel)] = "->" + target
				case d.IsDir():
					got[filepath.ToSlash(rel)] = "/"
				default:
					data, _ := os.ReadFile(p)
					got[filepath.ToSlash(rel)] = string(data)
				}
				return nil
			})
			diffSnapshots(t, tc.want, got)
			if left, _ := os.ReadDir(outside); len(left) > 0 {
				t.Errorf("wrote outside: %v", left)
			}
		})
	}
	// The directory's pending mode was dropped with it.
	dest, _ := newDest(t)
	if err := extractBytes(t, buildTar(t, roDir, reg("d", "x")), dest, ExtractOptions{}); err != nil {
		t.Fatal(err)
	}
	if got := snapshot(t, dest)["d"]; !strings.HasPrefix(got, "file -rw-r--r-- ") {
		t.Errorf("d: %q, want a file with its own mode", got)
	}
}

func TestExtractGNUTarGolden(t *testing.T) {
	for _, name := range []string{"gnu.tar", "posix.tar"} {
		t.Run(name, func(t *testing.T) {
			data, err := os.ReadFile(filepath.Join("testdata", name))
			if err != nil {
				t.Fatal(err)
			}
			if !IsTar(data) {
				t.Error("IsTar = false")
			}
			dest, _ := newDest(t)
			if err := extractBytes(t, data, dest, ExtractOptions{}); err != nil {
				t.Fatalf("Extract: %v", err)
			}
			sparse := make([]byte, 1<<20)
			copy(sparse[524288:], "DATA")
			want := map[string]string{
				"dir/hello.txt":   "hello\n",
				"hardlink.txt":    "hello\n",
				"sparse.bin":      string(sparse),
				"sub/" + longName: "long\n",
			}
			for p, w := range want {
				got, err := os.ReadFile(filepath.Join(dest, p))
				if err != nil || string(got) != w {
					t.Errorf("%s: %d bytes, %v; want %d bytes", p, len(got), err, len(w))
				}
			}
			snap := snapshot(t, dest)
			for p, w := range map[string]string{
				"dir":       "dir -rwxr-x--- mtime=1700000000",
				"dir/empty": "dir -rwxr-xr-x mtime=1700000000",
				"link":      "symlink -> dir/hello.txt",
			} {
				if snap[p] != w {
					t.Errorf("%s: %q, want %q", p, snap[p], w)
				}
			}
			if !strings.HasPrefix(snap["dir/hello.txt"], "file -rw------- ") {
				t.Errorf("dir/hello.txt: %q", snap["dir/hello.txt"])
			}
		})
	}
}

// TestExtractCancelSparse cancels the extraction of a sparse file whose
// holes claim 1 TiB: holes cost no input, so only the copy loop's own
// cancellation check can stop it.
func TestExtractCancelSparse(t *testing.T) {
	data, err := os.ReadFile(filepath.Join("testdata", "gnu.tar"))
	if err != nil {
		t.Fatal(err)
	}
	var blk []byte
	for off := 0; off+blockSize <= len(data); off += blockSize {
		b := data[off : off+blockSize]
		if strings.HasPrefix(string(b), "./sparse.bin\x00") && b[156] == tar.TypeGNUSparse {
			blk = b
			break
		}
	}
	if blk == nil {
		t.Fatal("no sparse header in testdata/gnu.tar")
	}
	// Old GNU header: realsize at 483, 12 bytes, here in base-256.
	realsize := blk[483:495]
	clear(realsize)
	realsize[0] = 0x80
	realsize[6] = 1 // 1<<40
	copy(blk[148:156], "        ")
	sum := 0
	for _, c := range blk {
		sum += int(c)
	}
	copy(blk[148:156], fmt.Sprintf("%06o\x00 ", sum))

	ctx, cancel := context.WithTimeout(context.Background(), 100*time.Millisecond)
	defer cancel()
	dest, _ := newDest(t)
	// No wall-clock bound: a missed cancellation shows as the wrong error,
	// or as a hang the test binary's timeout reports.
	err = Extract(ctx, bytes.NewReader(data), dest, ExtractOptions{})
	if err != context.DeadlineExceeded {
		t.Errorf("err = %v, want context.DeadlineExceeded", err)
	}
}

// TestExtractNameLimits: a name longer than file systems store (255 bytes
// for one file or folder), or a symlink target longer than a symlink
// holds, fails the restore and verify alike at that entry, before its
// path is kept; names at the limits restore.
func TestExtractNameLimits(t *testing.T) {
	long := strings.Repeat("n", maxNameBytes)
	for _, tc := range []struct {
		name    string
		entries []tentry
		bad     string
		reason  string
	}{
		{"file", []tentry{reg(long+"x", "x")}, long + "x", "a name in its path is 256 bytes"},
		{"folder", []tentry{dir(long + "x/a/")}, long + "x/a/", "a name in its path is 256 bytes"},
		{"symlink target", []tentry{symlink("l", strings.Repeat("a/", 2048))}, "l", "symlink target is 4096 bytes"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			dest, _ := newDest(t)
			data := buildTar(t, tc.entries...)
			err := extractBytes(t, data, dest, ExtractOptions{ExternalSymlinks: true})
			want := fmt.Sprintf("archive: entry %q: %s", tc.bad, tc.reason)
			if err == nil || !strings.HasPrefix(err.Error(), want) {
				t.Errorf("Extract: %v, want %q", err, want)
			}
			if cerr := Check(context.Background(), bytes.NewReader(data), ExtractOptions{ExternalSymlinks: true}, nil); err == nil || cerr == nil || cerr.Error() != err.Error() {
				t.Errorf("Check: %v, want Extract's %v", cerr, err)
			}
		})
	}
	dest, _ := newDest(t)
	ok := buildTar(t, dir(long+"/"), reg(long+"/"+long, "x"), symlink("l", strings.Repeat("a/", 2047)+"a"))
	if err := extractBytes(t, ok, dest, ExtractOptions{ExternalSymlinks: true}); err != nil {
		t.Fatalf("names at the limits: %v", err)
	}
}
