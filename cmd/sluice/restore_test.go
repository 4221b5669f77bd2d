package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// storedObject backs up a tree to a file:// store and returns the object URL
// and its path on disk.
func storedObject(t *testing.T, rec string) (url, path string) {
	t.Helper()
	url = singleURL(t, mustCLI(t, nil, "backup", makeTree(t), "--to", "file://"+t.TempDir(), "-r", rec))
	return url, strings.TrimPrefix(url, "file://")
}

func TestRestoreFailuresLeaveNothing(t *testing.T) {
	key, rec := keypair(t)
	otherKey, _ := keypair(t)

	t.Run("wrong key", func(t *testing.T) {
		url, _ := storedObject(t, rec)
		dest := filepath.Join(t.TempDir(), "out")
		_, errs, code := cli(t, nil, "restore", url, "--to", dest, "-i", otherKey)
		if code != exitFailure || !strings.Contains(errs, "no matching identity") || !strings.Contains(errs, url) {
			t.Fatalf("exit %d, stderr %q", code, errs)
		}
		assertNothingAt(t, dest)
	})
	t.Run("no key", func(t *testing.T) {
		url, _ := storedObject(t, rec)
		dest := filepath.Join(t.TempDir(), "out")
		_, errs, code := cli(t, nil, "restore", url, "--to", dest)
		// No key was given: the message names the flags that give one,
		// and does not suggest that the key given was right.
		if code == 0 || !strings.Contains(errs, "no key given") || !strings.Contains(errs, "-i FILE") || !strings.Contains(errs, "--passphrase-env VAR") || strings.Contains(errs, "right key") {
			t.Fatalf("exit %d, stderr %q", code, errs)
		}
		assertNothingAt(t, dest)
	})
	for _, damage := range []struct {
		name string
		fn   func([]byte) []byte
	}{
		{"flipped byte", func(b []byte) []byte { b[len(b)/2] ^= 1; return b }},
		{"flipped last byte", func(b []byte) []byte { b[len(b)-1] ^= 0x80; return b }},
		{"truncated", func(b []byte) []byte { return b[:len(b)*2/3] }},
		{"truncated by one", func(b []byte) []byte { return b[:len(b)-1] }},
		{"emptied", func(b []byte) []byte { return nil }},
	} {
		t.Run(damage.name, func(t *testing.T) {
			url, path := storedObject(t, rec)
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, damage.fn(b), 0o644); err != nil {
				t.Fatal(err)
			}
			assertRestoreFails(t, url, key)
		})
	}
	t.Run("missing object", func(t *testing.T) {
		dest := filepath.Join(t.TempDir(), "out")
		_, errs, code := cli(t, nil, "restore", "file://"+t.TempDir()+"/nope.tar.zst.age", "--to", dest, "-i", key)
		if code != exitFailure || !strings.Contains(errs, "not found") {
			t.Fatalf("exit %d, stderr %q", code, errs)
		}
		assertNothingAt(t, dest)
	})
	t.Run("non-empty destination", func(t *testing.T) {
		url, _ := storedObject(t, rec)
		dest := t.TempDir()
		os.WriteFile(filepath.Join(dest, "precious"), []byte("keep"), 0o644)
		_, errs, code := cli(t, nil, "restore", url, "--to", dest, "-i", key)
		if code == 0 || !strings.Contains(errs, "not empty") {
			t.Fatalf("exit %d, stderr %q", code, errs)
		}
		if b, _ := os.ReadFile(filepath.Join(dest, "precious")); string(b) != "keep" {
			t.Fatal("existing file touched")
		}
	})
}

func TestRestoreIntoEmptyDirectory(t *testing.T) {
	key, rec := keypair(t)
	url, _ := storedObject(t, rec)
	dest := t.TempDir()
	mustCLI(t, nil, "restore", url, "--to", dest, "-i", key)
	if _, err := os.Stat(filepath.Join(dest, "hello.txt")); err != nil {
		t.Fatal(err)
	}
}

func TestRestoreStreamIntoDirectory(t *testing.T) {
	key, rec := keypair(t)
	url := singleURL(t, mustCLI(t, strings.NewReader("dump"), "backup", "-", "--to", "file://"+t.TempDir(), "-r", rec, "--name", "db.sql"))
	dest := t.TempDir()
	mustCLI(t, nil, "restore", url, "--to", dest, "-i", key)
	if b, err := os.ReadFile(filepath.Join(dest, "db.sql")); err != nil || string(b) != "dump" {
		t.Fatalf("got %q, %v", b, err)
	}
}

// TestRestoreTamperedManifest: the manifest beside a file:// object is the
// only record of its stages and nothing authenticates it. One whose stage
// list was cut short or reordered fails restore and verify -i with an
// integrity error, leaving nothing at PATH (nor the folders made for it),
// instead of restoring still-compressed data or the ciphertext.
func TestRestoreTamperedManifest(t *testing.T) {
	key, rec := keypair(t)
	for _, stages := range []string{`["age"]`, `[]`, `["age","zstd"]`} {
		t.Run(stages, func(t *testing.T) {
			url := singleURL(t, mustCLI(t, strings.NewReader(strings.Repeat("data ", 1000)), "backup", "-", "--to", "file://"+t.TempDir(), "-r", rec, "--name", "data.txt"))
			path := strings.TrimPrefix(url, "file://") + ".sluice.json"
			b, err := os.ReadFile(path)
			if err != nil {
				t.Fatal(err)
			}
			var man map[string]json.RawMessage
			if err := json.Unmarshal(b, &man); err != nil {
				t.Fatal(err)
			}
			man["stages"] = json.RawMessage(stages)
			if b, err = json.Marshal(man); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, b, 0o644); err != nil {
				t.Fatal(err)
			}
			base := t.TempDir()
			dest := filepath.Join(base, "new", "out")
			_, errs, code := cli(t, nil, "restore", url, "--to", dest, "-i", key)
			if code != exitFailure || !strings.Contains(errs, "integrity check failed") || !strings.Contains(errs, url) {
				t.Fatalf("restore: exit %d, stderr %q", code, errs)
			}
			if entries, _ := os.ReadDir(base); len(entries) > 0 {
				t.Fatalf("a failed restore left %s", entries[0].Name())
			}
			_, errs, code = cli(t, nil, "verify", url, "-i", key)
			if code != exitFailure || !strings.Contains(errs, "integrity check failed") {
				t.Fatalf("verify -i: exit %d, stderr %q", code, errs)
			}
		})
	}
}

// TestRestoreKeyFlagsCheckedFirst: a key flag naming a missing file or an
// unset variable is a usage error naming it, before the object is read,
// whether or not the object needs that key (a plain one used to restore
// and exit 0, an age one to fail with exit 1 after opening it).
func TestRestoreKeyFlagsCheckedFirst(t *testing.T) {
	_, rec := keypair(t)
	store := "file://" + t.TempDir()
	sealed := singleURL(t, mustCLI(t, strings.NewReader("data"), "backup", "-", "--to", store, "-r", rec, "--name", "sealed.txt"))
	plain := singleURL(t, mustCLI(t, strings.NewReader("data"), "backup", "-", "--to", store, "--encrypt", "none", "--name", "plain.txt"))
	missing := filepath.Join(t.TempDir(), "missing-key.txt")
	for _, flags := range [][]string{
		{"-i", missing},
		{"--passphrase-env", "SLUICE_TEST_UNSET_PASSPHRASE"},
		{"--passphrase-file", missing},
		{"--fernet-key", missing},
	} {
		for _, url := range []string{sealed, plain} {
			t.Run(flags[0]+" "+filepath.Base(url), func(t *testing.T) {
				dest := filepath.Join(t.TempDir(), "out")
				_, errs, code := cli(t, nil, append([]string{"restore", url, "--to", dest}, flags...)...)
				if code != exitUsage || !strings.Contains(errs, flags[1]) {
					t.Fatalf("exit %d, stderr %q; want exit %d naming %s", code, errs, exitUsage, flags[1])
				}
				assertNothingAt(t, dest)
			})
		}
	}
}

// TestRestoreToIsALocalPath: restore's --to never comes from SLUICE_TO,
// which lists backup targets, and a typed URL is a usage error (with the
// ./NAME that reaches a local folder of that name) instead of a folder
// named after it.
func TestRestoreToIsALocalPath(t *testing.T) {
	key, rec := keypair(t)
	url, _ := storedObject(t, rec)
	t.Chdir(t.TempDir())
	t.Run("SLUICE_TO", func(t *testing.T) {
		t.Setenv("SLUICE_TO", "s3://bk1/p")
		_, errs, code := cli(t, nil, "restore", url, "-i", key)
		if code != exitUsage || !strings.Contains(errs, "--to PATH or --to - is required") {
			t.Errorf("exit %d, want 2 asking for --to\n%s", code, errs)
		}
		assertNothingAt(t, "s3:")
		dest := filepath.Join(t.TempDir(), "out")
		mustCLI(t, nil, "restore", url, "-i", key, "--to", dest)
		if st, err := os.Stat(dest); err != nil || !st.IsDir() {
			t.Errorf("typed --to beside SLUICE_TO: want the tree at %s: %v", dest, err)
		}
	})
	for _, c := range []struct{ to, want string }{
		{"s3://b/p", "restore writes to a local path, not a URL (to restore into a local folder of that name, write --to ./s3://b/p)"},
		{"file:///tmp/a%20b", "give the path itself (--to '/tmp/a b')"},
		{"file:/tmp/x", "give the path itself (--to /tmp/x)"},
	} {
		_, errs, code := cli(t, nil, "restore", url, "-i", key, "--to", c.to)
		if code != exitUsage || !strings.Contains(errs, c.want) {
			t.Errorf("--to %s: exit %d, want 2 and %q\n%s", c.to, code, c.want, errs)
		}
	}
	assertNothingAt(t, "s3:")
	assertNothingAt(t, "file:")
	mustCLI(t, nil, "restore", url, "-i", key, "--to", "./s3://b/p")
	if st, err := os.Stat("s3:/b/p"); err != nil || !st.IsDir() {
		t.Errorf("--to ./s3://b/p: want a local folder s3:/b/p: %v", err)
	}
}
