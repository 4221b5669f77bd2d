package archive

import (
	"archive/tar"
	"bytes"
	"fmt"
	"io"
	"testing"
)

// v7Header returns an archive whose first header is old-style v7: no magic,
// no USTAR fields, a valid checksum.
func v7Header(t testing.TB) []byte {
	t.Helper()
	archive := buildTar(t, reg("v7file", "hi"))
	blk := archive[:512]
	clear(blk[257:]) // magic, version and USTAR-only fields
	copy(blk[148:156], "        ")
	var sum int
	for _, c := range blk {
		sum += int(c)
	}
	copy(blk[148:156], fmt.Sprintf("%06o\x00 ", sum))
	return archive
}

func TestIsTar(t *testing.T) {
	v7 := v7Header(t)
	if h, err := tar.NewReader(bytes.NewReader(v7)).Next(); err != nil || h.Name != "v7file" || h.Format == tar.FormatUSTAR {
		t.Fatalf("test v7 header is not read as v7 by archive/tar: %v %+v", err, h)
	}
	badSum := bytes.Clone(v7)
	badSum[0] ^= 1
	pax := buildTar(t, tentry{hdr: tar.Header{Name: "p", Typeflag: tar.TypeReg, Format: tar.FormatPAX, PAXRecords: map[string]string{"comment": "x"}}})
	gnu := buildTar(t, tentry{hdr: tar.Header{Name: "g", Typeflag: tar.TypeReg, Format: tar.FormatGNU}})

	for _, tc := range []struct {
		name string
		data []byte
		want bool
	}{
		{"ustar", buildTar(t, reg("f", "x")), true},
		{"pax", pax, true},
		{"gnu", gnu, true},
		{"ustar magic only, short", append(make([]byte, 257), "ustar"...), true},
		{"v7", v7, true},
		{"v7 first 512 bytes", v7[:512], true},
		{"v7 bad checksum", badSum, false},
		{"v7 short", v7[:511], false},
		{"empty", nil, false},
		{"zeros", make([]byte, 512), false},
		{"gzip", []byte("\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03"), false},
		{"zstd", []byte("\x28\xb5\x2f\xfd"), false},
		{"text", bytes.Repeat([]byte("hello world "), 50), false},
		{"magic at wrong offset", append(make([]byte, 256), "ustar"...), false},
	} {
		if got := IsTar(tc.data); got != tc.want {
			t.Errorf("%s: IsTar = %v, want %v", tc.name, got, tc.want)
		}
	}
}

func TestIsTarWriteOutput(t *testing.T) {
	src := makeTree(t, t.TempDir(), testTree())
	archive := writeArchive(t, src, Options{})
	if !IsTar(archive[:512]) {
		t.Error("IsTar(Write output) = false")
	}
	var empty bytes.Buffer
	if err := Write(t.Context(), &empty, t.TempDir(), Options{}); err != nil {
		t.Fatal(err)
	}
	if n, _ := io.Copy(io.Discard, &empty); n != 1024 {
		t.Errorf("empty tree: %d bytes, want just the 1024-byte end marker", n)
	}
}

func TestIsEndMarker(t *testing.T) {
	oneByte := make([]byte, 1024)
	oneByte[511] = 1
	for _, tc := range []struct {
		name string
		data []byte
		want bool
	}{
		{"empty archive", buildTar(t), true},
		{"one zero block", make([]byte, 512), true},
		{"short", make([]byte, 511), false},
		{"nonzero in first block", oneByte, false},
		{"archive with an entry", buildTar(t, reg("f", "x")), false},
	} {
		if got := IsEndMarker(tc.data); got != tc.want {
			t.Errorf("%s: IsEndMarker = %v, want %v", tc.name, got, tc.want)
		}
	}
}
