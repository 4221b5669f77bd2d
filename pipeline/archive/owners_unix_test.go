//go:build unix

package archive

import (
	"os"
	"path/filepath"
	"syscall"
	"testing"
)

// TestExtractOwners: with Owners, each entry gets the uid and gid its
// header records — a file (keeping its setuid bit, set after the owner),
// a directory and a symlink itself; without, they belong to whoever
// extracts.
func TestExtractOwners(t *testing.T) {
	if os.Geteuid() != 0 {
		if os.Getenv("CI") == "true" {
			t.Fatal("TestExtractOwners needs root, which CI has")
		}
		t.Skip("giving files away needs root")
	}
	owned := func(e tentry) tentry {
		e.hdr.Uid, e.hdr.Gid = 1234, 5678
		return e
	}
	archive := buildTar(t, owned(dir("d/")), owned(regMode("d/suid", "x", 0o4755)), owned(symlink("d/l", "suid")))
	for _, opts := range []ExtractOptions{{SetID: true}, {SetID: true, Owners: true}} {
		dest, _ := newDest(t)
		if err := extractBytes(t, archive, dest, opts); err != nil {
			t.Fatal(err)
		}
		wantUID, wantGID := uint32(os.Geteuid()), uint32(os.Getegid())
		if opts.Owners {
			wantUID, wantGID = 1234, 5678
		}
		for _, name := range []string{"d", "d/suid", "d/l"} {
			fi, err := os.Lstat(filepath.Join(dest, name))
			if err != nil {
				t.Fatal(err)
			}
			st := fi.Sys().(*syscall.Stat_t)
			if st.Uid != wantUID || st.Gid != wantGID {
				t.Errorf("Owners=%v %s: owner %d:%d, want %d:%d", opts.Owners, name, st.Uid, st.Gid, wantUID, wantGID)
			}
			if name == "d/suid" && fi.Mode()&os.ModeSetuid == 0 {
				t.Errorf("Owners=%v: the setuid bit was lost", opts.Owners)
			}
		}
	}
}
