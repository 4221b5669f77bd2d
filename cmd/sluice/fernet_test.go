package main

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/sluice-backup/sluice/backends/s3test"
	"github.com/sluice-backup/sluice/pipeline/stagetest"
)

// requirePython skips locally, and fails in CI, unless python3 can import
// cryptography and boto3.
func requirePython(t *testing.T) {
	t.Helper()
	requireTool(t, "python3")
	if out, err := exec.Command("python3", "-c", "import cryptography, boto3").CombinedOutput(); err != nil {
		skipOutsideCI(t, "python3 lacks cryptography or boto3: %v\n%s", err, out)
	}
}

// python runs script with args and returns its stdout.
func python(t *testing.T, script string, args ...string) []byte {
	t.Helper()
	cmd := exec.Command("python3", append([]string{"-c", script}, args...)...)
	cmd.Env = s3test.ToolEnv()
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("python: %v\n%s", err, stderr.String())
	}
	return out
}

// fernetKey writes a key with sluice keygen --fernet and returns its path.
func fernetKey(t *testing.T) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "encryption_key.txt")
	if out := mustCLI(t, nil, "keygen", "--fernet", "-o", path); out != "" {
		t.Fatalf("keygen --fernet printed %q on stdout; the key is secret", out)
	}
	return path
}

func TestKeygenFernet(t *testing.T) {
	path := fernetKey(t)
	fi, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if fi.Mode().Perm() != 0o600 {
		t.Fatalf("key file mode %v, want 0600", fi.Mode().Perm())
	}
	before, _ := os.ReadFile(path)
	if _, _, code := cli(t, nil, "keygen", "--fernet", "-o", path); code == 0 {
		t.Fatal("keygen --fernet overwrote an existing file")
	}
	if after, _ := os.ReadFile(path); !bytes.Equal(before, after) {
		t.Fatal("existing key file changed")
	}
	if _, _, code := cli(t, nil, "keygen", "--fernet"); code != exitUsage {
		t.Fatalf("keygen --fernet without -o: exit %d, want %d", code, exitUsage)
	}
}

func TestFernetRoundTripCLI(t *testing.T) {
	key := fernetKey(t)
	tree := makeTree(t)
	store := t.TempDir()
	url := singleURL(t, mustCLI(t, nil, "backup", tree, "--to", "file://"+store, "--fernet-key", key))
	if !strings.HasSuffix(url, ".tar.zst.fernet") {
		t.Fatalf("url %q: want .tar.zst.fernet", url)
	}
	dest := filepath.Join(t.TempDir(), "out")
	mustCLI(t, nil, "restore", url, "--to", dest, "--fernet-key", key)
	compareTrees(t, tree, dest)

	t.Run("wrong key", func(t *testing.T) {
		dest := filepath.Join(t.TempDir(), "out")
		_, errs, code := cli(t, nil, "restore", url, "--to", dest, "--fernet-key", fernetKey(t))
		if code == 0 || !strings.Contains(errs, "wrong key") {
			t.Fatalf("exit %d, stderr %q: want a clear wrong-key error", code, errs)
		}
		assertNothingAt(t, dest)
	})
	t.Run("no key", func(t *testing.T) {
		dest := filepath.Join(t.TempDir(), "out")
		_, errs, code := cli(t, nil, "restore", url, "--to", dest)
		if code == 0 || !strings.Contains(errs, "no key given") || !strings.Contains(errs, "--fernet-key FILE") || strings.Contains(errs, "right key") {
			t.Fatalf("exit %d, stderr %q", code, errs)
		}
		assertNothingAt(t, dest)
	})
}

// recipe is the Python recipe sluice grew out of: generate a Fernet key,
// save it to encryption_key.txt, encrypt a file whole, upload it with
// boto3.
const recipe = `
import sys, boto3
from cryptography.fernet import Fernet
keyfile, src, endpoint, bucket, key = sys.argv[1:]
k = Fernet.generate_key()
with open(keyfile, "wb") as f:
    f.write(k)
with open(src, "rb") as f:
    token = Fernet(k).encrypt(f.read())
s3 = boto3.client("s3", endpoint_url=endpoint, region_name="us-east-1")
s3.put_object(Bucket=bucket, Key=key, Body=token)
`

// TestPythonRecipeRestores restores what the Python recipe uploaded to
// moto: no metadata, no extension, recognised by content.
func TestPythonRecipeRestores(t *testing.T) {
	requirePython(t)
	endpoint := s3test.StartMoto(t)
	s3test.CreateBucket(t, endpoint, "recipe")
	dir := t.TempDir()
	keyfile := filepath.Join(dir, "encryption_key.txt")
	src := filepath.Join(dir, "report.csv")
	plain := stagetest.Data(2<<20+3, 5)
	if err := os.WriteFile(src, plain, 0o644); err != nil {
		t.Fatal(err)
	}
	python(t, recipe, keyfile, src, endpoint, "recipe", "uploads/report.csv.encrypted")

	dest := filepath.Join(t.TempDir(), "report.csv")
	mustCLI(t, nil, "restore", "s3://recipe/uploads/report.csv.encrypted", "--to", dest, "--fernet-key", keyfile)
	got, _ := os.ReadFile(dest)
	if !bytes.Equal(got, plain) {
		t.Fatalf("restored %d bytes, want the %d plaintext bytes", len(got), len(plain))
	}
	// And to stdout.
	if out := mustCLI(t, nil, "restore", "s3://recipe/uploads/report.csv.encrypted", "--to", "-", "--fernet-key", keyfile); out != string(plain) {
		t.Fatalf("stdout restore differs (%d bytes)", len(out))
	}
}

// decryptPy decrypts a token file with Python's Fernet.
const decryptPy = `
import sys
from cryptography.fernet import Fernet
keyfile, src = sys.argv[1:]
with open(keyfile, "rb") as f:
    k = f.read()
with open(src, "rb") as f:
    sys.stdout.buffer.write(Fernet(k).decrypt(f.read()))
`

// TestPythonReadsSluiceFernet checks that Python decrypts what sluice
// writes: with --compress none the object is the Fernet token of the
// input; with zstd it is the token of the zstd stream.
func TestPythonReadsSluiceFernet(t *testing.T) {
	requirePython(t)
	key := fernetKey(t)
	store := t.TempDir()
	// Python must accept sluice's key file too.
	python(t, "import sys\nfrom cryptography.fernet import Fernet\nFernet(open(sys.argv[1],'rb').read())", key)
	for _, n := range []int{0, 15, 16, 17, 3<<20 + 5} {
		plain := stagetest.Data(n, uint64(n))
		url := singleURL(t, mustCLI(t, bytes.NewReader(plain), "backup", "-", "--name", "plain", "--to", "file://"+store+"/"+strings.Repeat("n", 1+n%7), "--encrypt", "fernet", "--compress", "none", "--fernet-key", key))
		got := python(t, decryptPy, key, strings.TrimPrefix(url, "file://"))
		if !bytes.Equal(got, plain) {
			t.Fatalf("size %d: Python decrypted %d bytes, want %d", n, len(got), len(plain))
		}
	}
	t.Run("zstd", func(t *testing.T) {
		requireTool(t, "zstd")
		plain := stagetest.Data(1<<20, 9)
		url := singleURL(t, mustCLI(t, bytes.NewReader(plain), "backup", "-", "--name", "z", "--to", "file://"+store+"/z", "--fernet-key", key))
		if !strings.HasSuffix(url, ".zst.fernet") {
			t.Fatalf("url %q", url)
		}
		zst := python(t, decryptPy, key, strings.TrimPrefix(url, "file://"))
		cmd := exec.Command("zstd", "-d", "-c")
		cmd.Stdin = bytes.NewReader(zst)
		got, err := cmd.Output()
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("zstd -d: %v (%d bytes)", err, len(got))
		}
	})
}

// TestAWSCLIReadsSluiceS3 fetches what sluice stored on S3 with the aws
// CLI and restores it with the standard tools alone:
// age -d | zstd -d | tar -x.
func TestAWSCLIReadsSluiceS3(t *testing.T) {
	requireTool(t, "aws")
	requireTool(t, "age")
	requireTool(t, "zstd")
	requireTool(t, "tar")
	endpoint := s3test.StartMoto(t)
	s3test.CreateBucket(t, endpoint, "interop")
	key, rec := keypair(t)
	tree := makeTree(t)
	url := singleURL(t, mustCLI(t, nil, "backup", tree, "--to", "s3://interop/nightly", "-r", rec))
	obj := filepath.Join(t.TempDir(), "obj")
	cmd := exec.Command("aws", "s3", "cp", "--endpoint-url", endpoint, "--region", s3test.Region, url, obj)
	cmd.Env = s3test.ToolEnv()
	if out, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("aws s3 cp: %v\n%s", err, out)
	}
	dest := t.TempDir()
	sh(t, "age -d -i '"+key+"' '"+obj+"' | zstd -d | tar -x -C '"+dest+"'")
	compareTrees(t, tree, dest)
}
