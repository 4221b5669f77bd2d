//go:build unix

package childtest

import (
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
)

// Nobody is the user and group [AsNobody] runs a test as.
const Nobody = 65534

// AsNobody makes the rest of the calling test, a top-level test, run
// without root's privileges, which let root read, rename and empty what
// file modes forbid. It returns true when the test runs as a user other
// than root already: the test goes on. As root it runs the test again in
// a child process of a copy of the test binary (the original lives in a
// folder only root may enter) as user and group Nobody, with TMPDIR and
// HOME in a folder Nobody owns; it fails t if the child fails, and
// returns false: the caller returns.
func AsNobody(t *testing.T) bool {
	t.Helper()
	if os.Getuid() != 0 {
		return true
	}
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	work, err := os.MkdirTemp("", "sluice-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(work) })
	tmp := filepath.Join(work, "tmp")
	bin := filepath.Join(work, filepath.Base(exe))
	for _, err := range []error{
		os.Mkdir(tmp, 0o700),
		os.Chown(tmp, Nobody, Nobody),
		copyFile(exe, bin),
		os.Chmod(work, 0o755),
	} {
		if err != nil {
			t.Fatal(err)
		}
	}
	Rerun(t, bin, fmt.Sprintf("as user %d", Nobody), func(cmd *exec.Cmd) {
		cmd.Dir = tmp
		cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "HOME="+tmp)
		cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: Nobody, Gid: Nobody}}
	})
	return false
}

func copyFile(from, to string) error {
	in, err := os.Open(from)
	if err != nil {
		return err
	}
	defer in.Close()
	out, err := os.OpenFile(to, os.O_WRONLY|os.O_CREATE|os.O_EXCL, 0o755)
	if err != nil {
		return err
	}
	if _, err := io.Copy(out, in); err != nil {
		out.Close()
		return err
	}
	return out.Close()
}
