package archive

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// TestExtractFarTimes checks modification times outside the years 1678 to
// 2262, where nanoseconds since 1970 overflow an int64 (2300 used to come
// back as 1901). Each is restored exactly where the file system can store
// it (ext4: 1901 to 2446; tmpfs: all of them), and otherwise becomes the
// nearest time it can store: never one on the other side of the range
// every file system keeps (32-bit seconds: 1901 to 2038).
func TestExtractFarTimes(t *testing.T) {
	// 32-bit seconds since 1970: every file system keeps these times.
	lo, hi := time.Unix(-1<<31, 0).UTC(), time.Unix(1<<31-1, 0).UTC()
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
				if err := extractBytes(t, buildTar(t, e), dest, ExtractOptions{}); err != nil {
					t.Fatalf("Extract: %v", err)
				}
				fi, err := os.Stat(filepath.Join(dest, name))
				if err != nil {
					t.Fatal(err)
				}
				got := fi.ModTime().UTC()
				switch {
				case got.Equal(when):
				case when.Before(lo) || when.After(hi):
					// Clamped by the file system: between the range
					// every file system keeps and when.
					if when.After(hi) && (got.Before(hi) || got.After(when)) || when.Before(lo) && (got.After(lo) || got.Before(when)) {
						t.Errorf("mtime %v, want %v or the nearest time the file system keeps", got, when)
					}
				default:
					t.Errorf("mtime %v, want %v", got, when)
				}
			})
		}
	}
}
