//go:build unix

package main

import (
	"bytes"
	"crypto/rand"
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// diskImage writes a 32 MiB file holding 1 MiB of random data at 8 MiB
// and a few bytes at its end, the rest a hole, and returns its content.
func diskImage(t *testing.T, path string) []byte {
	t.Helper()
	const size = 32 << 20
	data := make([]byte, size)
	rand.Read(data[8<<20 : 9<<20])
	copy(data[size-3:], "end")
	f, err := os.Create(path)
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	if err := f.Truncate(size); err != nil {
		t.Fatal(err)
	}
	for _, off := range []int{8 << 20, size - 3} {
		end := off + 1<<20
		if off == size-3 {
			end = size
		}
		if _, err := f.WriteAt(data[off:end], int64(off)); err != nil {
			t.Fatal(err)
		}
	}
	return data
}

// checkRestored checks that path holds want and takes at most maxDisk
// bytes of disk, or, if maxDisk is 0, all of its size.
func checkRestored(t *testing.T, path string, want []byte, maxDisk int64) {
	t.Helper()
	got, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("%s differs from what was backed up", path)
	}
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	disk := fi.Sys().(*syscall.Stat_t).Blocks * 512
	if maxDisk > 0 && disk > maxDisk {
		t.Errorf("%s takes %d bytes of disk, want at most %d", path, disk, maxDisk)
	}
	if maxDisk == 0 && disk < int64(len(want)) {
		t.Errorf("%s takes %d bytes of disk, want its full %d", path, disk, len(want))
	}
}

// TestRestoreSparse: restore --sparse leaves the zeros of a disk image as
// holes, restored alone or from an archive; without it the file is
// written in full.
func TestRestoreSparse(t *testing.T) {
	key, rec := keypair(t)
	src := t.TempDir()
	want := diskImage(t, filepath.Join(src, "disk.img"))
	store := "file://" + t.TempDir()
	stream := singleURL(t, mustCLI(t, nil, "backup", filepath.Join(src, "disk.img"), "--to", store, "-r", rec))
	archive := singleURL(t, mustCLI(t, nil, "backup", src, "--to", store, "-r", rec))
	out := t.TempDir()

	mustCLI(t, nil, "restore", stream, "--to", filepath.Join(out, "sparse.img"), "-i", key, "--sparse")
	checkRestored(t, filepath.Join(out, "sparse.img"), want, 1<<20+64<<10)

	mustCLI(t, nil, "restore", archive, "--to", filepath.Join(out, "tree"), "-i", key, "--sparse")
	checkRestored(t, filepath.Join(out, "tree", "disk.img"), want, 1<<20+64<<10)

	mustCLI(t, nil, "restore", stream, "--to", filepath.Join(out, "full.img"), "-i", key)
	checkRestored(t, filepath.Join(out, "full.img"), want, 0)
}
