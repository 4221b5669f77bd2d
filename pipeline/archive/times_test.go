package archive

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestExtractFarTimes checks modification times outside the years 1678 to
// 2262, where nanoseconds since 1970 overflow an int64: each is restored
// exactly, or Extract fails saying the file system cannot store it; never
// is another time left (2300 used to come back as 1901).
func TestExtractFarTimes(t *testing.T) {
	for _, when := range []time.Time{
		time.Date(2300, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(2262, 4, 12, 0, 0, 0, 0, time.UTC),
		time.Date(1677, 9, 20, 0, 0, 0, 0, time.UTC),
		time.Date(1000, 1, 1, 0, 0, 0, 0, time.UTC),
		time.Date(9999, 12, 31, 23, 59, 59, 0, time.UTC),
	} {
		for _, e := range []tentry{reg("f", "x"), dir("d/")} {
			name := strings.TrimSuffix(e.hdr.Name, "/")
			t.Run(when.Format("2006")+"/"+name, func(t *testing.T) {
				e.hdr.ModTime = when
				dest, _ := newDest(t)
				err := extractBytes(t, buildTar(t, e), dest, ExtractOptions{})
				if err != nil {
					if !strings.Contains(err.Error(), "cannot store modification time "+when.Format(time.RFC3339)) {
						t.Fatalf("Extract: %v", err)
					}
					t.Logf("Extract: %v", err)
					return
				}
				fi, err := os.Stat(filepath.Join(dest, name))
				if err != nil {
					t.Fatal(err)
				}
				if !fi.ModTime().Equal(when) {
					t.Errorf("mtime %v, want %v", fi.ModTime().UTC(), when)
				}
			})
		}
	}
}
