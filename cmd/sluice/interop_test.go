package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

func sh(t *testing.T, script string) {
	t.Helper()
	cmd := exec.Command("bash", "-euo", "pipefail", "-c", script)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("%s: %v\n%s", script, err, out)
	}
}

// TestInteropToolsReadSluice checks the stored format is plain standard
// formats: age -d | zstd -d | tar -x restores what sluice stored.
func TestInteropToolsReadSluice(t *testing.T) {
	requireTool(t, "age")
	requireTool(t, "zstd")
	requireTool(t, "tar")
	key, rec := keypair(t)
	tree := makeTree(t)
	url := singleURL(t, mustCLI(t, nil, "backup", tree, "--to", "file://"+t.TempDir(), "-r", rec))
	dest := t.TempDir()
	sh(t, "age -d -i '"+key+"' '"+strings.TrimPrefix(url, "file://")+"' | zstd -d | tar -x -C '"+dest+"'")
	compareTrees(t, tree, dest)
}

// TestInteropSluiceReadsTools checks that archives made by tar | zstd | age
// (no metadata, no manifest) are detected and restored.
func TestInteropSluiceReadsTools(t *testing.T) {
	requireTool(t, "age")
	requireTool(t, "zstd")
	requireTool(t, "tar")
	key, rec := keypair(t)
	tree := makeTree(t)
	store := t.TempDir()
	cases := map[string]string{
		"tools.tar.zst.age": "tar -C '" + tree + "' -cf - . | zstd -q -3 | age -r " + rec,
		"tools.tar.gz":      "tar -C '" + tree + "' -czf - .",
		"tools.tar.zst":     "tar -C '" + tree + "' -cf - . | zstd -q",
		"armored.tar.age":   "tar -C '" + tree + "' -cf - . | age -a -r " + rec,
	}
	for name, pipe := range cases {
		t.Run(name, func(t *testing.T) {
			sh(t, pipe+" > '"+filepath.Join(store, name)+"'")
			dest := filepath.Join(t.TempDir(), "out")
			mustCLI(t, nil, "restore", "file://"+filepath.Join(store, name), "--to", dest, "-i", key)
			compareTrees(t, tree, dest)
		})
	}
	t.Run("gzip single file", func(t *testing.T) {
		src := filepath.Join(tree, "hello.txt")
		sh(t, "gzip -c '"+src+"' > '"+filepath.Join(store, "hello.txt.gz")+"'")
		dest := filepath.Join(t.TempDir(), "hello.txt")
		mustCLI(t, nil, "restore", "file://"+filepath.Join(store, "hello.txt.gz"), "--to", dest)
		got, _ := os.ReadFile(dest)
		want, _ := os.ReadFile(src)
		if string(got) != string(want) {
			t.Fatalf("got %q", got)
		}
	})
}
