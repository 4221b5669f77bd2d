package pipeline_test

import (
	"errors"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"gocloud.dev/blob"

	"github.com/sluice-backup/sluice/backends"
	"github.com/sluice-backup/sluice/pipeline"
)

// TestWriteSmallOnFullDisk writes a manifest-sized object to a file://
// target on a full filesystem (a 64 KiB tmpfs, filled): the write fails
// and nothing is left under the key, where Bucket.WriteAll left an empty
// file (a manifest that blocked the name and that nothing reported).
func TestWriteSmallOnFullDisk(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("mounting a tmpfs needs root, which CI has")
		}
		t.Skip("mounting a tmpfs needs root")
	}
	dir := t.TempDir()
	if err := syscall.Mount("tmpfs", dir, "tmpfs", 0, "size=64k"); err != nil {
		t.Fatalf("mount a tmpfs on %s: %v", dir, err)
	}
	t.Cleanup(func() { syscall.Unmount(dir, syscall.MNT_DETACH) })
	filler, err := os.Create(filepath.Join(dir, "filler"))
	if err != nil {
		t.Fatal(err)
	}
	for _, err = filler.Write(make([]byte, 4096)); err == nil; _, err = filler.Write(make([]byte, 4096)) {
	}
	filler.Close()
	if !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("filling the tmpfs: %v, want ENOSPC", err)
	}
	target, err := backends.OpenTarget(t.Context(), testRegistry(), "file://"+dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	body := []byte(`{"format":"sluice/1"}` + "\n")
	opts := &blob.WriterOptions{ContentType: "application/json", IfNotExist: true} // as manifests are written
	if err := pipeline.WriteSmall(t.Context(), target.Bucket, "x.sluice.json", body, opts); !errors.Is(err, syscall.ENOSPC) {
		t.Fatalf("WriteSmall on a full disk: %v, want ENOSPC", err)
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if e.Name() != "filler" {
			t.Errorf("a failed write left %s", e.Name())
		}
	}
}
