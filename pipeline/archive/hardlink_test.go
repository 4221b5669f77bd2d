package archive

import (
	"bytes"
	"context"
	"errors"
	"os"
	"path/filepath"
	"testing"
)

// TestExtractHardLinkedSymlinks checks hard links to symlinks, which
// rsnapshot and cp -al trees hold: the symlink itself gets a second name,
// and that name is checked as a symlink made there would be.
func TestExtractHardLinkedSymlinks(t *testing.T) {
	sameLink := func(t *testing.T, dest, a, b, target string) {
		t.Helper()
		fa, err := os.Lstat(filepath.Join(dest, a))
		if err != nil {
			t.Fatal(err)
		}
		fb, err := os.Lstat(filepath.Join(dest, b))
		if err != nil {
			t.Fatal(err)
		}
		if !os.SameFile(fa, fb) || fb.Mode()&os.ModeSymlink == 0 {
			t.Errorf("%s is not a hard link to symlink %s (%v)", b, a, fb.Mode())
		}
		if got, err := os.Readlink(filepath.Join(dest, b)); err != nil || got != target {
			t.Errorf("%s -> %q (%v), want %q", b, got, err, target)
		}
	}
	t.Run("snapshots", func(t *testing.T) {
		// As tar stores cp -al daily.0 daily.1: the later names are links.
		data := buildTar(t,
			dir("./"), dir("./daily.1/"), reg("./daily.1/f", "data"), symlink("./daily.1/link", "f"),
			dir("./daily.0/"), hardlink("./daily.0/f", "./daily.1/f"), hardlink("./daily.0/link", "./daily.1/link"),
		)
		if err := Check(context.Background(), bytes.NewReader(data), ExtractOptions{}, nil); err != nil {
			t.Fatalf("Check: %v", err)
		}
		dest, _ := newDest(t)
		if err := extractBytes(t, data, dest, ExtractOptions{}); err != nil {
			t.Fatalf("Extract: %v", err)
		}
		sameLink(t, dest, "daily.1/link", "daily.0/link", "f")
		if d, err := os.ReadFile(filepath.Join(dest, "daily.0/link")); err != nil || string(d) != "data" {
			t.Errorf("daily.0/link reads %q, %v", d, err)
		}
	})
	t.Run("replaced symlink", func(t *testing.T) {
		// h keeps the symlink s was when it was linked.
		data := buildTar(t, symlink("s", "x"), hardlink("h", "s"), reg("s", "new"), dir("d/"), hardlink("d/h2", "h"))
		dest, _ := newDest(t)
		if err := extractBytes(t, data, dest, ExtractOptions{}); err != nil {
			t.Fatalf("Extract: %v", err)
		}
		sameLink(t, dest, "h", "d/h2", "x")
	})
	t.Run("external from the new name", func(t *testing.T) {
		outside := t.TempDir()
		// a/s -> ../x is inside at a/, outside at the top.
		data := buildTar(t, dir("a/"), symlink("a/s", "../x"), hardlink("h", "a/s"))
		dest, parent := newDest(t)
		err := extractBytes(t, data, dest, ExtractOptions{})
		if !errors.Is(err, ErrExternalSymlink) || !errors.Is(err, ErrUnsafe) {
			t.Fatalf("Extract: %v, want ErrExternalSymlink", err)
		}
		var lifted []error
		if cerr := Check(context.Background(), bytes.NewReader(data), ExtractOptions{}, func(e error) { lifted = append(lifted, e) }); cerr != nil || len(lifted) != 1 || lifted[0].Error() != err.Error() {
			t.Errorf("Check: %v, lifted %v; want nil and Extract's %v", cerr, lifted, err)
		}
		if got := parentEntries(t, parent); len(got) != 1 {
			t.Errorf("parent holds %q", got)
		}
		dest = filepath.Join(outside, "dest")
		if err := os.Mkdir(dest, 0o755); err != nil {
			t.Fatal(err)
		}
		if err := extractBytes(t, data, dest, ExtractOptions{ExternalSymlinks: true}); err != nil {
			t.Fatalf("with ExternalSymlinks: %v", err)
		}
		sameLink(t, dest, "a/s", "h", "../x")
	})
	t.Run("absolute", func(t *testing.T) {
		data := buildTar(t, symlink("s", "/etc"), dir("d/"), hardlink("d/h", "s"))
		dest, _ := newDest(t)
		if err := extractBytes(t, data, dest, ExtractOptions{ExternalSymlinks: true}); err != nil {
			t.Fatalf("Extract: %v", err)
		}
		sameLink(t, dest, "s", "d/h", "/etc")
		// Nothing goes through the link, nor through its second name.
		data = buildTar(t, symlink("s", "/etc"), hardlink("h", "s"), reg("h/passwd", "x"))
		dest, _ = newDest(t)
		if err := extractBytes(t, data, dest, ExtractOptions{ExternalSymlinks: true}); !errors.Is(err, ErrUnsafe) || errors.Is(err, ErrExternalSymlink) {
			t.Fatalf("file through the hard link: %v, want ErrUnsafe", err)
		}
	})
}

// TestExtractGNUTarHardLinkedSymlinks extracts GNU tar's archive of a tree
// whose symlink has a second name (os.Link links a symlink itself, as
// cp -al does), and checks the names stay one symlink.
func TestExtractGNUTarHardLinkedSymlinks(t *testing.T) {
	tarPath := gnuTar(t)
	src := t.TempDir()
	for _, d := range []string{"daily.0", "daily.1"} {
		if err := os.Mkdir(filepath.Join(src, d), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	if err := os.WriteFile(filepath.Join(src, "daily.0/f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Symlink("f", filepath.Join(src, "daily.0/link")); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"f", "link"} {
		if err := os.Link(filepath.Join(src, "daily.0", n), filepath.Join(src, "daily.1", n)); err != nil {
			t.Fatal(err)
		}
	}
	archive := runTar(t, tarPath, nil, "--format=posix", "-C", src, "-cf", "-", ".")
	if err := Check(context.Background(), bytes.NewReader(archive), ExtractOptions{}, nil); err != nil {
		t.Fatalf("Check: %v", err)
	}
	dest, _ := newDest(t)
	if err := extractBytes(t, archive, dest, ExtractOptions{}); err != nil {
		t.Fatalf("Extract: %v", err)
	}
	a, errA := os.Lstat(filepath.Join(dest, "daily.0/link"))
	b, errB := os.Lstat(filepath.Join(dest, "daily.1/link"))
	if errA != nil || errB != nil || !os.SameFile(a, b) || a.Mode()&os.ModeSymlink == 0 {
		t.Fatalf("daily.0/link and daily.1/link are not one symlink: %v %v", errA, errB)
	}
}
