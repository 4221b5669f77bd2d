package pipeline_test

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-backup/sluice/pipeline"
	"github.com/sluice-backup/sluice/pipeline/archive"
)

// tarOf returns a tar archive of hdrs, each file holding "data"; with
// unfinished set, the end-of-archive marker is left off.
func tarOf(t *testing.T, unfinished bool, hdrs ...tar.Header) []byte {
	t.Helper()
	var buf bytes.Buffer
	tw := tar.NewWriter(&buf)
	for _, h := range hdrs {
		if h.Typeflag == tar.TypeReg {
			h.Size = 4
		}
		if err := tw.WriteHeader(&h); err != nil {
			t.Fatal(err)
		}
		if h.Typeflag == tar.TypeReg {
			tw.Write([]byte("data"))
		}
	}
	if unfinished {
		tw.Flush()
		return buf.Bytes()
	}
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// TestVerifyAppliesRestoreRules: verify with keys checks an archive's
// entries with the rules restore applies, so an archive it passes
// restores, and one restore refuses fails verify with restore's reason
// (and the restore flag that lifts it, if any); with Decoder.Lifted set,
// a refusal only a flag lifts is reported to it instead.
func TestVerifyAppliesRestoreRules(t *testing.T) {
	reg := testRegistry()
	file := func(name string) tar.Header { return tar.Header{Typeflag: tar.TypeReg, Name: name, Mode: 0o644} }
	dir := func(name string) tar.Header { return tar.Header{Typeflag: tar.TypeDir, Name: name, Mode: 0o755} }
	link := func(name, target string) tar.Header {
		return tar.Header{Typeflag: tar.TypeSymlink, Name: name, Linkname: target, Mode: 0o777}
	}
	for _, tc := range []struct {
		name    string
		archive []byte
		opts    archive.ExtractOptions
		want    []string // in the error of both, nil when both succeed
		match   error    // matched by both errors, if set
		flag    string   // the restore flag verify names
	}{
		{"path twice", tarOf(t, false, file("f"), file("f")), archive.ExtractOptions{}, nil, nil, ""},
		{"file over full directory", tarOf(t, false, dir("d/"), file("d/f"), file("d")), archive.ExtractOptions{},
			[]string{`entry "d"`, "not empty"}, archive.ErrUnsafe, ""},
		{"escape", tarOf(t, false, file("../x")), archive.ExtractOptions{}, []string{`entry "../x"`, "escapes"}, archive.ErrUnsafe, ""},
		{"external symlink", tarOf(t, false, link("l", "/etc/hosts")), archive.ExtractOptions{},
			[]string{`entry "l"`, "absolute"}, archive.ErrExternalSymlink, "--allow-external-symlinks"},
		{"external symlink allowed", tarOf(t, false, link("l", "/etc/hosts")), archive.ExtractOptions{ExternalSymlinks: true}, nil, nil, ""},
		{"fifo", tarOf(t, false, tar.Header{Typeflag: tar.TypeFifo, Name: "p", Mode: 0o600}), archive.ExtractOptions{},
			[]string{`entry "p"`, "not allowed"}, archive.ErrDevice, "--devices"},
		{"no end marker", tarOf(t, true, file("f")), archive.ExtractOptions{},
			[]string{"no end-of-archive marker"}, nil, ""},
	} {
		t.Run(tc.name, func(t *testing.T) {
			// Stored as another tool would (gzip -c a.tar > a.tar.gz), so
			// restore detects the archive.
			tg, store := fileTarget(t, reg)
			name := "a.tar.gz"
			var gz bytes.Buffer
			zw := gzip.NewWriter(&gz)
			zw.Write(tc.archive)
			zw.Close()
			if err := os.WriteFile(filepath.Join(store, name), gz.Bytes(), 0o644); err != nil {
				t.Fatal(err)
			}
			d := &pipeline.Decoder{Registry: reg, Extract: tc.opts}
			verr := pipeline.VerifyDecoded(t.Context(), d, tg, name)
			_, rerr := d.RestoreTo(t.Context(), tg, name, filepath.Join(t.TempDir(), "out"), nil)
			if tc.want == nil {
				if verr != nil || rerr != nil {
					t.Fatalf("verify: %v; restore: %v; want both to succeed", verr, rerr)
				}
				return
			}
			for _, err := range []error{verr, rerr} {
				if tc.match != nil && !errors.Is(err, tc.match) {
					t.Errorf("%v does not match %v", err, tc.match)
				}
				for _, w := range tc.want {
					if err == nil || !strings.Contains(err.Error(), w) {
						t.Errorf("%v, want %q", err, w)
					}
				}
			}
			if tc.match == nil && !errors.Is(verr, pipeline.ErrIntegrity) {
				t.Errorf("verify: %v, want ErrIntegrity", verr)
			}
			if tc.flag != "" && !strings.Contains(verr.Error(), "restore needs "+tc.flag) {
				t.Errorf("verify: %v, want it to name %s", verr, tc.flag)
			}
			// With Lifted set, what only a flag refuses is accepted and
			// reported, naming the entry and the flag.
			var lifted []error
			d.Lifted = func(err error) { lifted = append(lifted, err) }
			verr = pipeline.VerifyDecoded(t.Context(), d, tg, name)
			switch {
			case tc.flag == "" && verr == nil:
				t.Errorf("verify with Lifted passed an archive no flag restores")
			case tc.flag == "":
			case verr != nil || len(lifted) != 1 || !errors.Is(lifted[0], tc.match) ||
				!strings.Contains(lifted[0].Error(), "restore needs "+tc.flag) || !strings.Contains(lifted[0].Error(), tc.want[0]):
				t.Errorf("verify with Lifted: %v, lifted %v; want success and the refusal naming %s", verr, lifted, tc.flag)
			}
		})
	}
}
