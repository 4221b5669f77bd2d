//go:build unix

package pipeline_test

import (
	"io/fs"
	"os"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/sluice-backup/sluice/pipeline"
)

// TestRestoredModesFollowUmask: a restored file gets 0666 less the umask
// and a restored archive's folder 0777 less the umask, as from any tool
// that creates them, whatever mode their temporary names had. (No test in
// this package runs in parallel, so setting the process umask is safe.)
func TestRestoredModesFollowUmask(t *testing.T) {
	reg := testRegistry()
	tg, _ := fileTarget(t, reg)
	file := backupTo(t, reg, tg, "data", "", []byte("hello"), "zstd")
	tree := t.TempDir()
	if err := os.WriteFile(filepath.Join(tree, "f"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	src, err := pipeline.PathSource(tree, nil)
	if err != nil {
		t.Fatal(err)
	}
	b := &pipeline.Backup{Source: src, Targets: []*pipeline.Target{tg}, Name: "tree", ExpectedSize: -1}
	res, err := b.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	d := &pipeline.Decoder{Registry: reg}
	for _, mask := range []int{0o027, 0o002, 0o077} {
		old := syscall.Umask(mask)
		dir := t.TempDir()
		_, errFile := d.RestoreTo(t.Context(), tg, file, filepath.Join(dir, "file"), nil)
		_, errTree := d.RestoreTo(t.Context(), tg, res.Object, filepath.Join(dir, "tree"), nil)
		syscall.Umask(old)
		if errFile != nil || errTree != nil {
			t.Fatal(errFile, errTree)
		}
		for name, want := range map[string]fs.FileMode{"file": 0o666 &^ fs.FileMode(mask), "tree": 0o777 &^ fs.FileMode(mask)} {
			st, err := os.Stat(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if st.Mode().Perm() != want {
				t.Errorf("umask %03o: restored %s has mode %v, want %v", mask, name, st.Mode().Perm(), want)
			}
		}
	}
}
