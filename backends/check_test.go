package backends

import (
	"errors"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestInvalidTarget: errors about a URL or its options wrap
// ErrInvalidTarget, from CheckTarget (which does no I/O) and OpenTarget
// alike; a target that is well formed but cannot be opened does not.
func TestInvalidTarget(t *testing.T) {
	reg := newRegistry()
	invalid := []struct {
		url   string
		extra map[string]any
	}{
		{url: ""},
		{url: "/abs/path"},
		{url: "ftp://host/p"},
		{url: "file://relative/path"},
		{url: "file:///tmp/x?bogus=1"},
		{url: "file://user:pw@/tmp/x"},
		{url: "mem://x/a/../b"},
		{url: "s3://bkt/p?part_size=1024"},
		{url: "s3://bkt/p?concurrency=0"},
		{url: "s3://bkt/p?unknown=1"},
		{url: "s3://bkt/p", extra: map[string]any{"storage_class": "NOPE"}},
		{url: "s3://bkt/p?part_size=8388608", extra: map[string]any{"part_size": 8388608}},
		{url: "s3://bkt/p?endpoint=not%20a%20url"},
		{url: "s3:///p"},
		{url: "gs://bkt/p?prefix=x"},
		{url: "azblob://c/a//b"},
	}
	for _, tc := range invalid {
		err := CheckTarget(reg, tc.url, tc.extra)
		if !errors.Is(err, ErrInvalidTarget) {
			t.Errorf("CheckTarget(%q, %v) = %v, want ErrInvalidTarget", tc.url, tc.extra, err)
		}
		if _, err := OpenTarget(t.Context(), reg, tc.url, tc.extra); !errors.Is(err, ErrInvalidTarget) {
			t.Errorf("OpenTarget(%q, %v) = %v, want ErrInvalidTarget", tc.url, tc.extra, err)
		}
	}
	if _, _, err := OpenObject(t.Context(), reg, "file:///tmp/dir/"); !errors.Is(err, ErrInvalidTarget) {
		t.Errorf("OpenObject of a folder URL: %v, want ErrInvalidTarget", err)
	}

	// Well formed, but the folder cannot be created (under a file): only
	// opening finds out, and that is not the URL's fault.
	const unopenable = "file:///dev/null/sub"
	if err := CheckTarget(reg, unopenable, nil); err != nil {
		t.Fatalf("CheckTarget(%s): %v", unopenable, err)
	}
	_, err := OpenTarget(t.Context(), reg, unopenable, nil)
	if err == nil || errors.Is(err, ErrInvalidTarget) {
		t.Fatalf("OpenTarget(%s) = %v, want an error that is not ErrInvalidTarget", unopenable, err)
	}
	for _, ok := range []string{"file:///tmp/x", "mem://x/p", "s3://bkt/p?part_size=8388608&region=eu-west-1", "bkt/p", "gs://bkt/p", "azblob://c/p"} {
		if err := CheckTarget(reg, ok, nil); err != nil {
			t.Errorf("CheckTarget(%q): %v", ok, err)
		}
	}
}

// TestFileFolderCreatedByBackupOnly: opening a file:// target whose folder
// is missing creates nothing; the folder appears when a backup calls
// Create. Opening it to read fails, naming the folder, and creates
// nothing either.
func TestFileFolderCreatedByBackupOnly(t *testing.T) {
	reg := newRegistry()
	dir := filepath.Join(t.TempDir(), "a", "b")
	tg, err := OpenTarget(t.Context(), reg, "file://"+dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	if _, err := os.Stat(filepath.Dir(dir)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("opening created %s (%v)", filepath.Dir(dir), err)
	}
	if tg.Bucket != nil || tg.Create == nil {
		t.Fatal("a missing folder's target should have no bucket until Create")
	}
	for _, open := range []func() error{
		func() error { _, err := OpenExisting(t.Context(), reg, "file://"+dir, nil); return err },
		func() error { _, _, err := OpenObject(t.Context(), reg, "file://"+dir+"/obj.zst"); return err },
	} {
		err := open()
		if !errors.Is(err, fs.ErrNotExist) || errors.Is(err, ErrInvalidTarget) || !strings.Contains(err.Error(), "folder "+dir+" does not exist") {
			t.Fatalf("reading a missing folder: %v", err)
		}
	}
	if _, err := os.Stat(filepath.Dir(dir)); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("reading created %s (%v)", filepath.Dir(dir), err)
	}
	if err := tg.Create(t.Context()); err != nil {
		t.Fatal(err)
	}
	if err := tg.Bucket.WriteAll(t.Context(), "obj", []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Stat(filepath.Join(dir, "obj")); err != nil {
		t.Fatal(err)
	}
	if _, err := OpenExisting(t.Context(), reg, "file://"+dir+"/obj", nil); err == nil || !strings.Contains(err.Error(), "is not a folder") {
		t.Fatalf("a file as a folder: %v", err)
	}
}
