package pipeline_test

import (
	"bytes"
	"context"
	"log/slog"
	"net"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"

	"github.com/sluice-backup/sluice/pipeline"
)

// TestSkippedEntriesLogged: a directory's special files, which the
// archive leaves out, are each named in a warn record of the backup's
// log, with the reason; the rest is stored.
func TestSkippedEntriesLogged(t *testing.T) {
	dir := t.TempDir()
	if err := os.WriteFile(filepath.Join(dir, "f"), []byte("data"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Mkfifo(filepath.Join(dir, "fifo"), 0o644); err != nil {
		t.Fatal(err)
	}
	l, err := net.Listen("unix", filepath.Join(dir, "sock"))
	if err != nil {
		t.Fatal(err)
	}
	defer l.Close()
	src, err := pipeline.PathSource(dir, nil)
	if err != nil {
		t.Fatal(err)
	}
	var logged bytes.Buffer
	b := &pipeline.Backup{
		Source: src, Targets: []*pipeline.Target{memTarget(t, "skips")}, Name: "tree",
		Log: slog.New(slog.NewTextHandler(&logged, nil)),
	}
	res, err := b.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range []string{
		`level=WARN msg="left out of the archive" path=` + filepath.Join(dir, "fifo") + ` reason="named pipe"`,
		`level=WARN msg="left out of the archive" path=` + filepath.Join(dir, "sock") + ` reason=socket`,
	} {
		if !strings.Contains(logged.String(), want) {
			t.Errorf("log lacks %q:\n%s", want, logged.String())
		}
	}
	if res.BytesIn == 0 {
		t.Error("nothing stored")
	}
}
