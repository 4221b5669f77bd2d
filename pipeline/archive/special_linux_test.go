package archive

import (
	"archive/tar"
	"bytes"
	"context"
	"io/fs"
	"net"
	"os"
	"path/filepath"
	"slices"
	"syscall"
	"testing"
)

func TestWriteSkipsSpecialFiles(t *testing.T) {
	src := makeTree(t, t.TempDir(), []node{{path: "file", kind: 'f', data: "x"}})
	if err := syscall.Mkfifo(filepath.Join(src, "fifo"), 0o600); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(src, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()

	skipped := map[string]string{}
	var buf bytes.Buffer
	err = Write(context.Background(), &buf, src, Options{OnSkip: func(path, reason string) { skipped[path] = reason }})
	if err != nil {
		t.Fatal(err)
	}
	if names := listTar(t, buf.Bytes()); !slices.Equal(names, []string{"file"}) {
		t.Errorf("entries %q, want only file", names)
	}
	want := map[string]string{filepath.Join(src, "fifo"): "named pipe", filepath.Join(src, "sock"): "socket"}
	if len(skipped) != len(want) || skipped[filepath.Join(src, "fifo")] != "named pipe" || skipped[filepath.Join(src, "sock")] != "socket" {
		t.Errorf("OnSkip got %v, want %v", skipped, want)
	}
}

func TestExtractDevices(t *testing.T) {
	fifo := special("p/fifo", tar.TypeFifo)
	fifo.hdr.Mode = 0o640
	dest, _ := newDest(t)
	if err := extractBytes(t, buildTar(t, fifo), dest, ExtractOptions{Devices: true}); err != nil {
		t.Fatal(err)
	}
	fi, err := os.Lstat(filepath.Join(dest, "p/fifo"))
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode() != fs.ModeNamedPipe|0o640 || fi.ModTime().Unix() != 1700000000 {
		t.Errorf("fifo: mode %v mtime %v", fi.Mode(), fi.ModTime())
	}

	if os.Geteuid() != 0 {
		t.Skip("creating a character device needs root")
	}
	null := special("null", tar.TypeChar) // 1,3 is /dev/null
	dest, _ = newDest(t)
	if err := extractBytes(t, buildTar(t, null), dest, ExtractOptions{Devices: true}); err != nil {
		t.Fatal(err)
	}
	fi, err = os.Lstat(filepath.Join(dest, "null"))
	if err != nil {
		t.Fatal(err)
	}
	st := fi.Sys().(*syscall.Stat_t)
	if fi.Mode()&fs.ModeCharDevice == 0 || st.Rdev != 1<<8|3 {
		t.Errorf("null: mode %v rdev %#x, want a character device 1,3", fi.Mode(), st.Rdev)
	}
}

// TestExtractIgnoresXattrRecords: the PAX records in which GNU tar and
// bsdtar store extended attributes, ACLs and SELinux labels are ignored,
// as the README says: the file is restored, without them.
func TestExtractIgnoresXattrRecords(t *testing.T) {
	e := reg("f", "x")
	e.hdr.Format = tar.FormatPAX
	e.hdr.PAXRecords = map[string]string{
		"SCHILY.xattr.user.test":     "v",
		"LIBARCHIVE.xattr.user.more": "dg==",
		"SCHILY.acl.access":          "user::rw-,group::r--,other::r--,user:1234:rwx",
		"RHT.security.selinux":       "system_u:object_r:etc_t:s0",
	}
	dest, _ := newDest(t)
	if err := extractBytes(t, buildTar(t, e), dest, ExtractOptions{}); err != nil {
		t.Fatalf("Extract: %v", err)
	}
	names := make([]byte, 1024)
	n, err := syscall.Listxattr(filepath.Join(dest, "f"), names)
	if err != nil && err != syscall.ENOTSUP {
		t.Fatal(err)
	}
	for _, name := range bytes.Split(names[:n], []byte{0}) {
		if bytes.HasPrefix(name, []byte("user.")) || bytes.HasPrefix(name, []byte("system.posix_acl")) {
			t.Errorf("restored f has attribute %q", name)
		}
	}
}
