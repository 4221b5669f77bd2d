package main

import (
	"archive/tar"
	"bytes"
	"cmp"
	"compress/gzip"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"filippo.io/age"
	"github.com/klauspost/compress/zstd"
)

// hEntry is one entry of a hostile archive built by hostileTar.
type hEntry struct {
	typ      byte
	name     string
	linkname string
	body     string
	mode     int64
}

func hFile(name, body string) hEntry {
	return hEntry{typ: tar.TypeReg, name: name, body: body, mode: 0o644}
}
func hDir(name string) hEntry { return hEntry{typ: tar.TypeDir, name: name, mode: 0o755} }
func hSymlink(name, target string) hEntry {
	return hEntry{typ: tar.TypeSymlink, name: name, linkname: target, mode: 0o777}
}
func hHardlink(name, target string) hEntry {
	return hEntry{typ: tar.TypeLink, name: name, linkname: target, mode: 0o644}
}

// hostileTar builds a tar archive of entries with archive/tar, which
// writes whatever names it is given.
func hostileTar(t *testing.T, entries ...hEntry) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, e := range entries {
		hdr := &tar.Header{
			Typeflag: e.typ, Name: e.name, Linkname: e.linkname, Mode: e.mode,
			Size: int64(len(e.body)), ModTime: time.Unix(1700000000, 0), Devmajor: 1, Devminor: 3,
		}
		if err := tw.WriteHeader(hdr); err != nil {
			t.Fatalf("tar header %q: %v", e.name, err)
		}
		if _, err := tw.Write([]byte(e.body)); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// sealZstdAge compresses data with zstd and encrypts it to rec with age,
// using the libraries directly as another tool would.
func sealZstdAge(t *testing.T, data []byte, rec string) []byte {
	t.Helper()
	r, err := age.ParseX25519Recipient(rec)
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	aw, err := age.Encrypt(&out, r)
	if err != nil {
		t.Fatal(err)
	}
	zw, err := zstd.NewWriter(aw)
	if err != nil {
		t.Fatal(err)
	}
	if _, err := zw.Write(data); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := aw.Close(); err != nil {
		t.Fatal(err)
	}
	return out.Bytes()
}

// storeRaw writes data as object name in a fresh file:// store, with no
// metadata or manifest, and returns its URL.
func storeRaw(t *testing.T, name string, data []byte) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name)
	if err := os.WriteFile(p, data, 0o644); err != nil {
		t.Fatal(err)
	}
	return "file://" + p
}

// hostileCases are the archives restore must refuse by default. entry is
// the name the error must quote.
var hostileCases = []struct {
	name    string
	entries []hEntry
	entry   string
	// flagOK is a restore flag that makes the archive acceptable, if any.
	flagOK string
}{
	{"parent escape", []hEntry{hFile("ok.txt", "ok"), hFile("../escaped.txt", "pwned")}, "../escaped.txt", ""},
	{"deep parent escape", []hEntry{hDir("a"), hFile("a/../../escaped.txt", "pwned")}, "a/../../escaped.txt", ""},
	{"absolute path", []hEntry{hFile("/tmp/sluice-hostile-absolute.txt", "pwned")}, "/tmp/sluice-hostile-absolute.txt", ""},
	{"absolute symlink", []hEntry{hSymlink("etc", "/etc")}, "etc", "--allow-external-symlinks"},
	{"relative symlink escape", []hEntry{hDir("d"), hSymlink("d/up", "../../outside")}, "d/up", "--allow-external-symlinks"},
	{"symlink with .. after a name", []hEntry{hSymlink("s", "x/../../y")}, "s", "--allow-external-symlinks"},
	{"hard link escape", []hEntry{hHardlink("passwd", "../../../etc/passwd")}, "passwd", ""},
	{"hard link absolute", []hEntry{hHardlink("passwd", "/etc/passwd")}, "passwd", ""},
	{"hard link to missing", []hEntry{hHardlink("h", "nothing-here")}, "h", ""},
	{"symlink then file under it", []hEntry{hDir("real"), hSymlink("via", "real"), hFile("via/file.txt", "x")}, "via/file.txt", ""},
	{"external symlink then file under it", []hEntry{hSymlink("out", "/tmp"), hFile("out/sluice-hostile.txt", "pwned")}, "out", ""},
	{"hard link through a symlink", []hEntry{hDir("d"), hFile("d/f", "x"), hSymlink("l", "d"), hHardlink("h", "l/f")}, "h", ""},
	{"hard link to a symlink that escapes from there", []hEntry{hDir("d"), hSymlink("d/s", "../x"), hHardlink("h", "d/s")}, "h", "--allow-external-symlinks"},
	{"file replaced by external symlink", []hEntry{hFile("a", "1"), hSymlink("a", "/etc/passwd")}, "a", "--allow-external-symlinks"},
	{"file replaces a folder that holds something", []hEntry{hDir("d"), hFile("d/f", "x"), hFile("d", "y")}, "d", ""},
	{"folder replaced by symlink, then file under it", []hEntry{hDir("d"), hSymlink("d", "."), hFile("d/f", "x")}, "d/f", ""},
	{"character device", []hEntry{{typ: tar.TypeChar, name: "null", mode: 0o666}}, "null", "--devices"},
	{"block device", []hEntry{{typ: tar.TypeBlock, name: "disk", mode: 0o600}}, "disk", "--devices"},
	{"named pipe", []hEntry{{typ: tar.TypeFifo, name: "fifo", mode: 0o600}}, "fifo", "--devices"},
	{"empty name", []hEntry{hFile("", "x")}, "", ""},
}

// verifyEntries are the entries verify -i names where they are not the
// case's entry: verify accepts what only a restore flag refuses, so it
// meets a later refusal.
var verifyEntries = map[string]string{"external symlink then file under it": "out/sluice-hostile.txt"}

// TestRestoreHostileArchives restores archives built to escape the
// destination, wrapped in zstd and age like a real object. Each must fail
// with an error naming the entry, exit 1, and leave nothing at the
// destination or outside it. verify -i must report each BAD for the same
// reason, except those only a restore flag refuses (the archive is
// intact): those are OK, with a note naming the flag and the entry.
func TestRestoreHostileArchives(t *testing.T) {
	key, rec := keypair(t)
	tried := 0
	for _, tc := range hostileCases {
		t.Run(tc.name, func(t *testing.T) {
			tried++
			url := storeRaw(t, "hostile.tar.zst.age", sealZstdAge(t, hostileTar(t, tc.entries...), rec))
			parent := t.TempDir()
			dest := filepath.Join(parent, "out")
			_, errs, code := cli(t, nil, "restore", url, "--to", dest, "-i", key)
			if code != exitFailure {
				t.Fatalf("exit %d, want %d; stderr %q", code, exitFailure, errs)
			}
			if !strings.Contains(errs, "entry ") || !strings.Contains(errs, url) {
				t.Fatalf("error should name the object and the entry: %q", errs)
			}
			if tc.entry != "" && !strings.Contains(errs, `"`+tc.entry+`"`) {
				t.Fatalf("error does not name entry %q: %q", tc.entry, errs)
			}
			if tc.flagOK != "" && !strings.Contains(errs, "restore with "+tc.flagOK) {
				t.Fatalf("error should point at %s: %q", tc.flagOK, errs)
			}
			assertNothingAt(t, dest)
			if entries, _ := os.ReadDir(parent); len(entries) != 0 {
				t.Fatalf("restore left %v beside the destination", entries)
			}
			assertNoEscape(t, parent)

			_, verrs, vcode := cli(t, nil, "verify", url, "-i", key)
			if tc.flagOK != "" {
				if vcode != exitOK || !strings.Contains(verrs, "OK   "+url+"; note: ") || !strings.Contains(verrs, `"`+tc.entry+`"`) ||
					!strings.Contains(verrs, "restore needs "+tc.flagOK) {
					t.Fatalf("verify: exit %d, want OK with a note naming entry %q and %s; stderr %q", vcode, tc.entry, tc.flagOK, verrs)
				}
				return
			}
			entry := cmp.Or(verifyEntries[tc.name], tc.entry)
			if vcode != exitFailure || !strings.Contains(verrs, "BAD  "+url) || !strings.Contains(verrs, `"`+entry+`"`) {
				t.Fatalf("verify: exit %d, want %d, BAD naming entry %q; stderr %q", vcode, exitFailure, entry, verrs)
			}
		})
	}
	t.Logf("hostile archives refused: %d", tried)
}

// assertNoEscape checks the places hostile cases aim at.
func assertNoEscape(t *testing.T, parent string) {
	t.Helper()
	for _, p := range []string{
		filepath.Join(parent, "escaped.txt"),
		filepath.Join(filepath.Dir(parent), "escaped.txt"),
		filepath.Join(filepath.Dir(parent), "outside"),
		"/tmp/sluice-hostile-absolute.txt",
		"/tmp/sluice-hostile.txt",
	} {
		if _, err := os.Lstat(p); err == nil {
			os.Remove(p)
			t.Fatalf("hostile archive wrote %s", p)
		}
	}
}

// TestRestoreOptInFlags checks what the restore flags allow, and that
// even then nothing is followed or written outside the destination.
func TestRestoreOptInFlags(t *testing.T) {
	key, rec := keypair(t)
	restore := func(t *testing.T, data []byte, flags ...string) (string, string, int) {
		url := storeRaw(t, "x.tar.zst.age", sealZstdAge(t, data, rec))
		dest := filepath.Join(t.TempDir(), "out")
		_, errs, code := cli(t, nil, append([]string{"restore", url, "--to", dest, "-i", key}, flags...)...)
		return dest, errs, code
	}

	t.Run("external symlinks", func(t *testing.T) {
		data := hostileTar(t, hFile("a.txt", "a"), hSymlink("hosts", "/etc/hosts"), hDir("d"), hSymlink("d/shared", "../../shared"))
		dest, errs, code := restore(t, data, "--allow-external-symlinks")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		for link, want := range map[string]string{"hosts": "/etc/hosts", "d/shared": "../../shared"} {
			if got, err := os.Readlink(filepath.Join(dest, link)); err != nil || got != want {
				t.Fatalf("%s -> %q (%v), want %q", link, got, err, want)
			}
		}
	})
	t.Run("external symlink is never followed", func(t *testing.T) {
		outside := t.TempDir()
		data := hostileTar(t, hSymlink("out", outside), hFile("out/pwned.txt", "x"))
		dest, errs, code := restore(t, data, "--allow-external-symlinks")
		if code != exitFailure || !strings.Contains(errs, `"out/pwned.txt"`) {
			t.Fatalf("exit %d: %s", code, errs)
		}
		assertNothingAt(t, dest)
		if entries, _ := os.ReadDir(outside); len(entries) != 0 {
			t.Fatalf("wrote outside through an external symlink: %v", entries)
		}
	})
	t.Run("setid bits cleared by default", func(t *testing.T) {
		data := hostileTar(t, hEntry{typ: tar.TypeReg, name: "suid", body: "x", mode: 0o4755}, hEntry{typ: tar.TypeDir, name: "sgid", mode: 0o2775})
		dest, errs, code := restore(t, data)
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		for _, n := range []string{"suid", "sgid"} {
			st, _ := os.Stat(filepath.Join(dest, n))
			if st.Mode()&(fs.ModeSetuid|fs.ModeSetgid) != 0 {
				t.Fatalf("%s: mode %v keeps set-id bits", n, st.Mode())
			}
		}
		// Said once, with how many and how to keep them.
		if strings.Count(errs, "--setid") != 1 || !strings.Contains(errs, "entries=2") {
			t.Errorf("restore that cleared set-id bits does not say so once, naming --setid:\n%s", errs)
		}
		dest, errs, code = restore(t, data, "--setid")
		if code != 0 {
			t.Fatalf("--setid: exit %d: %s", code, errs)
		}
		if strings.Contains(errs, "without setuid") {
			t.Errorf("--setid: warned of cleared bits:\n%s", errs)
		}
		if st, _ := os.Stat(filepath.Join(dest, "suid")); st.Mode()&fs.ModeSetuid == 0 {
			t.Fatalf("--setid: mode %v, want setuid", st.Mode())
		}
	})
	t.Run("devices with --devices", func(t *testing.T) {
		data := hostileTar(t, hEntry{typ: tar.TypeFifo, name: "fifo", mode: 0o600})
		dest, errs, code := restore(t, data, "--devices")
		if code != 0 {
			t.Fatalf("exit %d: %s", code, errs)
		}
		if st, err := os.Lstat(filepath.Join(dest, "fifo")); err != nil || st.Mode()&fs.ModeNamedPipe == 0 {
			t.Fatalf("fifo not restored: %v %v", st, err)
		}
	})
}

// TestRestoreRepeatedPaths: archives that store a path twice (tar -r,
// tar -u) verify OK and restore as GNU tar extracts them, the later entry
// replacing the earlier one (a symlink itself, never what it points to),
// also from a .tar.gz that dd blocking padded with zeros.
func TestRestoreRepeatedPaths(t *testing.T) {
	key, _ := keypair(t)
	data := hostileTar(t, hFile("f", "v1\n"), hSymlink("a", "b"), hFile("f", "v2\n"), hFile("a", "new\n"))
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(data)
	zw.Close()
	gz.Write(make([]byte, 10240-gz.Len()%10240))
	url := storeRaw(t, "dup.tar.gz", gz.Bytes())

	if _, errs, code := cli(t, nil, "verify", url, "-i", key); code != 0 || !strings.Contains(errs, "OK   "+url) {
		t.Fatalf("verify: exit %d: %s", code, errs)
	}
	dest := filepath.Join(t.TempDir(), "out")
	mustCLI(t, nil, "restore", url, "--to", dest)
	for name, want := range map[string]string{"f": "v2\n", "a": "new\n"} {
		if st, err := os.Lstat(filepath.Join(dest, name)); err != nil || !st.Mode().IsRegular() {
			t.Fatalf("%s: %v, %v; want a regular file", name, st, err)
		}
		if got, _ := os.ReadFile(filepath.Join(dest, name)); string(got) != want {
			t.Errorf("%s holds %q, want %q", name, got, want)
		}
	}
	if _, err := os.Lstat(filepath.Join(dest, "b")); err == nil {
		t.Error("the file replacing symlink a was written through it to b")
	}
}
