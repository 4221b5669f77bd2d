package main

import (
	"bytes"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"testing"

	"github.com/sluice-backup/sluice/backends/s3test"
)

// manyFiles is the size of the load test's tree.
const manyFiles = 100_000

// fileContent is the content of file i of the load tree.
func fileContent(i int) []byte {
	return []byte(fmt.Sprintf("file %d of the load tree\n%s", i, strings.Repeat("x", i%200)))
}

// makeManyFiles builds a tree of n small files in 100 directories.
func makeManyFiles(t *testing.T, n int) string {
	t.Helper()
	root := filepath.Join(t.TempDir(), "many")
	for d := 0; d < 100; d++ {
		if err := os.MkdirAll(filepath.Join(root, fmt.Sprintf("d%02d", d)), 0o755); err != nil {
			t.Fatal(err)
		}
	}
	for i := 0; i < n; i++ {
		p := filepath.Join(root, fmt.Sprintf("d%02d", i%100), fmt.Sprintf("f%06d", i))
		if err := os.WriteFile(p, fileContent(i), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return root
}

// checkManyFiles checks that root holds exactly the tree makeManyFiles(n)
// built.
func checkManyFiles(t *testing.T, root string, n int) {
	t.Helper()
	seen := 0
	err := filepath.WalkDir(root, func(p string, d fs.DirEntry, err error) error {
		if err != nil {
			return err
		}
		if d.IsDir() {
			return nil
		}
		var dir, i int
		if _, err := fmt.Sscanf(strings.TrimPrefix(p, root+"/"), "d%02d/f%06d", &dir, &i); err != nil || i%100 != dir {
			return fmt.Errorf("unexpected entry %s", p)
		}
		b, err := os.ReadFile(p)
		if err != nil {
			return err
		}
		if !bytes.Equal(b, fileContent(i)) {
			return fmt.Errorf("%s: content differs", p)
		}
		seen++
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	if seen != n {
		t.Fatalf("restored %d files, want %d", seen, n)
	}
}

// TestManySmallFiles backs up and restores a tree of 100,000 small files
// as child processes and reports their peak memory, next to the same for
// a tree of 20,000 files. The bounds are generous sanity checks, not a
// benchmark: memory must not grow with the number of files, so five times
// the files may cost at most twice the peak plus 64 MiB (slack for the
// garbage collector's timing: a short run can end before the heap reaches
// the collector's goal of twice the live heap, so the small tree's peak
// understates the steady state), and never more than 400 MiB. Skipped with
// -short; `make test` runs it.
func TestManySmallFiles(t *testing.T) {
	if testing.Short() {
		t.Skip("100,000-file tree: skipped with -short")
	}
	const bound, slack = 400 << 20, 64 << 20
	small := manyFiles / 5
	smallBackup, smallRestore := loadRoundTrip(t, small)
	backupRSS, restoreRSS := loadRoundTrip(t, manyFiles)
	mib := func(n int64) float64 { return float64(n) / (1 << 20) }
	t.Logf("%d files: peak RSS backup %.1f MiB, restore %.1f MiB", small, mib(smallBackup), mib(smallRestore))
	t.Logf("%d files: peak RSS backup %.1f MiB, restore %.1f MiB", manyFiles, mib(backupRSS), mib(restoreRSS))
	if backupRSS > bound || restoreRSS > bound {
		t.Fatalf("peak RSS backup %d, restore %d bytes: above the %d sanity bound", backupRSS, restoreRSS, bound)
	}
	if backupRSS > 2*smallBackup+slack || restoreRSS > 2*smallRestore+slack {
		t.Fatalf("memory grows with the number of files: peak RSS backup %.1f -> %.1f MiB, restore %.1f -> %.1f MiB for %d -> %d files",
			mib(smallBackup), mib(backupRSS), mib(smallRestore), mib(restoreRSS), small, manyFiles)
	}
}

// loadRoundTrip backs up and restores a tree of n small files as child
// processes, checks the restored tree, and returns the two peak RSSs.
func loadRoundTrip(t *testing.T, n int) (backupRSS, restoreRSS int64) {
	t.Helper()
	key, rec := keypair(t)
	tree := makeManyFiles(t, n)
	store := t.TempDir()

	c := startChild(t, nil, "backup", tree, "--to", "file://"+store, "-r", rec, "--progress", "never")
	c.stdin.Close()
	if code, _ := c.wait(t, childTimeout*5); code != 0 {
		t.Fatalf("backup: exit %d\n%s", code, c.stderr.String())
	}
	backupRSS = c.maxRSS()
	url := singleURL(t, c.stdout.String())

	dest := filepath.Join(t.TempDir(), "restored")
	c = startChild(t, nil, "restore", url, "--to", dest, "-i", key)
	c.stdin.Close()
	if code, _ := c.wait(t, childTimeout*5); code != 0 {
		t.Fatalf("restore: exit %d\n%s", code, c.stderr.String())
	}
	restoreRSS = c.maxRSS()
	checkManyFiles(t, dest, n)
	os.RemoveAll(tree)
	os.RemoveAll(dest)
	return backupRSS, restoreRSS
}

// TestConcurrentRunsSameName runs two backups with the same name to the
// same targets at once, as two child processes: both must succeed, under
// different object names, and each object must restore to its own data.
func TestConcurrentRunsSameName(t *testing.T) {
	endpoint := s3test.StartMoto(t)
	s3test.CreateBucket(t, endpoint, "concurrent")
	key, rec := keypair(t)
	for _, target := range []string{"file://" + t.TempDir(), "s3://concurrent/same"} {
		t.Run(strings.SplitN(target, ":", 2)[0], func(t *testing.T) {
			data := [][]byte{randomBytes(t, 6<<20), randomBytes(t, 6<<20)}
			children := make([]*child, 2)
			for i := range children {
				children[i] = startChild(t, nil, "backup", "-", "--to", target, "-r", rec, "--name", "same")
			}
			var wg sync.WaitGroup
			for i, c := range children {
				wg.Add(1)
				go func() {
					defer wg.Done()
					c.stdin.Write(data[i])
					c.stdin.Close()
				}()
			}
			wg.Wait()
			urls := map[string]int{}
			for i, c := range children {
				if code, _ := c.wait(t, childTimeout); code != 0 {
					t.Fatalf("run %d: exit %d\n%s", i, code, c.stderr.String())
				}
				urls[singleURL(t, c.stdout.String())] = i
			}
			if len(urls) != 2 {
				t.Fatalf("both runs stored the same object: %v", urls)
			}
			for url, i := range urls {
				if got := mustCLI(t, nil, "restore", url, "--to", "-", "-i", key); got != string(data[i]) {
					t.Fatalf("%s does not hold run %d's data", url, i)
				}
			}
		})
	}
}
