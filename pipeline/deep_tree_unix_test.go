//go:build unix

package pipeline_test

import (
	"archive/tar"
	"bytes"
	"crypto/sha256"
	"errors"
	"fmt"
	"io/fs"
	"maps"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"

	"github.com/sluice-backup/sluice/pipeline"
	"github.com/sluice-backup/sluice/pipeline/archive"
	"github.com/sluice-backup/sluice/pipeline/childtest"
)

// fileLimitEnv holds, in a child process of the test binary that
// withFileLimit starts, the limit on open descriptors to run under.
const fileLimitEnv = "SLUICE_TEST_NOFILE"

// withFileLimit makes the rest of the calling test run with at most limit
// open descriptors, a limit of the whole process. It returns true in a
// child process of this test binary that runs the test again under the
// limit, lifted again before the cleanups of what the test made earlier
// (t.TempDir folders made before the call can hold deep trees).
// Otherwise it starts that child, fails the test if the child fails, and
// returns false: the caller returns. Only top-level tests can use it.
func withFileLimit(t *testing.T, limit uint64) bool {
	t.Helper()
	if v := os.Getenv(fileLimitEnv); v != "" {
		n, err := strconv.ParseUint(v, 10, 64)
		if err != nil {
			t.Fatal(err)
		}
		var rl syscall.Rlimit
		if err := syscall.Getrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			t.Fatal(err)
		}
		old := rl
		rl.Cur = n
		if err := syscall.Setrlimit(syscall.RLIMIT_NOFILE, &rl); err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { syscall.Setrlimit(syscall.RLIMIT_NOFILE, &old) })
		return true
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	childtest.Rerun(t, exe, fmt.Sprintf("with %d descriptors", limit), func(cmd *exec.Cmd) {
		cmd.Env = append(os.Environ(), fmt.Sprintf("%s=%d", fileLimitEnv, limit))
	})
	return false
}

// TestFailedRestoreRemovesDeepTree: a restore that fails after it made a
// tree deeper than the limit on open descriptors leaves nothing behind,
// although os.RemoveAll, which holds a descriptor per level, cannot
// remove that tree.
func TestFailedRestoreRemovesDeepTree(t *testing.T) {
	const depth = 300
	if !withFileLimit(t, 64) {
		return
	}
	// The tree, then a named pipe, which restore refuses by default.
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for i := 1; i <= depth; i++ {
		if err := tw.WriteHeader(&tar.Header{Name: strings.Repeat("d/", i), Typeflag: tar.TypeDir, Mode: 0o755}); err != nil {
			t.Fatal(err)
		}
	}
	data := []byte("deepest\n")
	hdrs := []*tar.Header{
		{Name: strings.Repeat("d/", depth) + "f", Typeflag: tar.TypeReg, Mode: 0o644, Size: int64(len(data))},
		{Name: "pipe", Typeflag: tar.TypeFifo, Mode: 0o644},
	}
	for _, h := range hdrs {
		if err := tw.WriteHeader(h); err != nil {
			t.Fatal(err)
		}
		if _, err := tw.Write(data[:h.Size]); err != nil {
			t.Fatal(err)
		}
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}

	reg := testRegistry()
	tg, dir := fileTarget(t, reg)
	if err := os.WriteFile(filepath.Join(dir, "deep.tar"), buf.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	manifest := fmt.Sprintf(`{"format":"sluice/1","object":"deep.tar","stages":["tar"],"size":%d,"sha256":"%x"}`, buf.Len(), sha256.Sum256(buf.Bytes()))
	if err := os.WriteFile(filepath.Join(dir, "deep.tar.sluice.json"), []byte(manifest), 0o644); err != nil {
		t.Fatal(err)
	}

	parent := t.TempDir()
	d := &pipeline.Decoder{Registry: reg}
	if _, err := d.RestoreTo(t.Context(), tg, "deep.tar", filepath.Join(parent, "out"), nil); !errors.Is(err, archive.ErrDevice) {
		t.Fatalf("restore: %v, want the named pipe refused", err)
	}
	if got := dirNames(t, parent); len(got) > 0 {
		t.Errorf("the failed restore left %q", got)
	}
}

// TestDeepTreeUnderFileLimit: a tree far deeper than the limit on open
// descriptors is measured, backed up and restored whole.
func TestDeepTreeUnderFileLimit(t *testing.T) {
	const depth = 300
	src, parent := t.TempDir(), t.TempDir()
	if !withFileLimit(t, 64) {
		return
	}
	want := map[string]string{}
	dir := src
	for i := 1; i <= depth; i++ {
		dir = filepath.Join(dir, "d")
		if err := os.Mkdir(dir, 0o755); err != nil {
			t.Fatal(err)
		}
		rel := strings.Repeat("d/", i)
		want[rel] = ""
		if i%50 == 0 {
			want[rel+"f"] = fmt.Sprintf("level %d", i)
			want[rel+"l"] = "-> f"
			if err := os.WriteFile(filepath.Join(dir, "f"), []byte(want[rel+"f"]), 0o644); err != nil {
				t.Fatal(err)
			}
			if err := os.Symlink("f", filepath.Join(dir, "l")); err != nil {
				t.Fatal(err)
			}
		}
	}
	reg := testRegistry()
	tg, _ := fileTarget(t, reg)
	name := backupPath(t, reg, tg, src)
	out := filepath.Join(parent, "out")
	d := &pipeline.Decoder{Registry: reg}
	if _, err := d.RestoreTo(t.Context(), tg, name, out, nil); err != nil {
		t.Fatal(err)
	}
	got := map[string]string{}
	err := filepath.WalkDir(out, func(path string, e fs.DirEntry, err error) error {
		if err != nil || path == out {
			return err
		}
		rel := filepath.ToSlash(strings.TrimPrefix(path, out+string(filepath.Separator)))
		switch {
		case e.IsDir():
			got[rel+"/"] = ""
		case e.Type()&fs.ModeSymlink != 0:
			target, err := os.Readlink(path)
			got[rel] = "-> " + target
			return err
		default:
			b, err := os.ReadFile(path)
			got[rel] = string(b)
			return err
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if !maps.Equal(got, want) {
		t.Errorf("restored %d entries, want %d as backed up", len(got), len(want))
	}
}
