package main

import (
	"bytes"
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-backup/sluice/pipeline/stagetest"
)

// roundTrip backs up a tree, a file and a stream to target and restores
// each, comparing the results.
func roundTrip(t *testing.T, target string) {
	key, rec := keypair(t)
	tree := makeTree(t)

	t.Run("directory", func(t *testing.T) {
		url := singleURL(t, mustCLI(t, nil, "backup", tree, "--to", target, "-r", rec))
		if !strings.HasSuffix(url, ".tar.zst.age") || !strings.Contains(url, "/data-") {
			t.Fatalf("object URL %q: want data-TIME.tar.zst.age", url)
		}
		dest := filepath.Join(t.TempDir(), "restored")
		mustCLI(t, nil, "restore", url, "--to", dest, "-i", key)
		compareTrees(t, tree, dest)
	})
	t.Run("file", func(t *testing.T) {
		src := filepath.Join(tree, "sub", "deeper", "big.bin")
		url := singleURL(t, mustCLI(t, nil, "backup", src, "--to", target, "-r", rec, "--compress", "gzip:5"))
		if !strings.HasSuffix(url, ".gz.age") {
			t.Fatalf("object URL %q: want .gz.age", url)
		}
		dest := filepath.Join(t.TempDir(), "big.bin")
		mustCLI(t, nil, "restore", url, "--to", dest, "-i", key)
		want, _ := os.ReadFile(src)
		got, _ := os.ReadFile(dest)
		if !bytes.Equal(want, got) {
			t.Fatal("restored file differs")
		}
	})
	t.Run("stdin", func(t *testing.T) {
		data := stagetest.Data(2<<20+3, 9)
		url := singleURL(t, mustCLI(t, bytes.NewReader(data), "backup", "-", "--to", target, "-r", rec, "--compress", "s2", "--name", "stream-{time}.bin"))
		if !strings.HasSuffix(url, ".bin.s2.age") {
			t.Fatalf("object URL %q", url)
		}
		out := mustCLI(t, nil, "restore", url, "--to", "-", "-i", key)
		if !bytes.Equal([]byte(out), data) {
			t.Fatalf("stdin round trip differs: %d bytes back, want %d", len(out), len(data))
		}
	})
}

func TestRoundTripFile(t *testing.T) {
	roundTrip(t, "file://"+filepath.Join(t.TempDir(), "store", "missing", "folders"))
}

func TestRoundTripMem(t *testing.T) {
	roundTrip(t, "mem://roundtrip/prefix")
}

func TestRefusesPlaintext(t *testing.T) {
	store := filepath.Join(t.TempDir(), "store")
	_, errs, code := cli(t, strings.NewReader("x"), "backup", "-", "--to", "file://"+store)
	if code != exitUsage || !strings.Contains(errs, "plaintext") {
		t.Fatalf("exit %d, stderr %q: want exit 2 refusing plaintext", code, errs)
	}
	if _, err := os.Stat(store); err == nil {
		entries, _ := os.ReadDir(store)
		if len(entries) > 0 {
			t.Fatalf("refused backup left %d entries", len(entries))
		}
	}
	url := singleURL(t, mustCLI(t, strings.NewReader("plain"), "backup", "-", "--to", "file://"+store, "--encrypt", "none", "--compress", "none"))
	if !strings.HasSuffix(url, "stdin-"+url[strings.LastIndex(url, "-")+1:]) {
		t.Fatalf("url %q", url)
	}
	b, _ := os.ReadFile(strings.TrimPrefix(url, "file://"))
	if string(b) != "plain" {
		t.Fatalf("--encrypt none --compress none stored %q", b)
	}
}

func TestUsageErrors(t *testing.T) {
	_, rec := keypair(t)
	store := "file://" + t.TempDir()
	cases := [][]string{
		{"backup", "-", "--to", store, "-r", rec, "--compress", "lzma"},
		{"backup", "-", "--to", store, "-r", rec, "--encrypt", "rot13"},
		{"backup", "-", "-r", rec},
		{"backup", "-", "--to", store, "-r", "age1notakey"},
		{"backup", "-", "--to", store, "-r", rec, "--bogus-flag"},
		{"backup", "-", "--to", store, "-r", rec, "--name", "{nope}"},
		{"backup", "-", "--to", store, "-r", rec, "--compress", "zstd:99"},
		{"backup", "-", "--to", "ftp://x/y", "-r", rec},
		{"backup", "/no/such/path", "--to", store, "-r", rec},
		{"restore", "file:///x/y"},
		{"backup", "--to", store, "-r", rec},
		{"backup", "a", "b", "--to", store, "-r", rec},
		{"restore", "--to", "-"},
		{"keygen", "extra"},
	}
	for _, args := range cases {
		_, errs, code := cli(t, strings.NewReader("x"), args...)
		if code != exitUsage {
			t.Errorf("sluice %s: exit %d, want 2; stderr %q", strings.Join(args, " "), code, errs)
		}
		if !strings.HasPrefix(errs, "sluice: ") && !strings.Contains(errs, "sluice: ") {
			t.Errorf("sluice %s: stderr %q lacks an error line", strings.Join(args, " "), errs)
		}
	}
}

func TestNeverOverwrites(t *testing.T) {
	_, rec := keypair(t)
	store := "file://" + t.TempDir()
	seen := map[string]bool{}
	for i := range 3 {
		url := singleURL(t, mustCLI(t, strings.NewReader("same second"), "backup", "-", "--to", store, "-r", rec, "--name", "fixed"))
		if seen[url] {
			t.Fatalf("run %d reused %s", i, url)
		}
		seen[url] = true
	}
}

func TestExcludeAndDryRun(t *testing.T) {
	key, rec := keypair(t)
	tree := makeTree(t)
	storeDir := t.TempDir()
	store := "file://" + storeDir
	_, errs, code := cli(t, nil, "backup", tree, "--to", store, "-r", rec, "--dry-run")
	if code != 0 || !strings.Contains(errs, ".tar.zst.age") {
		t.Fatalf("dry run: exit %d, stderr %q", code, errs)
	}
	if entries, _ := os.ReadDir(storeDir); len(entries) != 0 {
		t.Fatalf("dry run stored %d entries", len(entries))
	}
	// The dry run measures the tree, excludes applied, to the byte the
	// backup then reads.
	excludes := []string{"--exclude", "*.tmp", "--exclude", "empty/"}
	all := dryRunSource(t, errs)
	_, errs, code = cli(t, nil, append([]string{"backup", tree, "--to", store, "-r", rec, "--dry-run"}, excludes...)...)
	some := dryRunSource(t, errs)
	if code != 0 || some.files >= all.files || some.entries >= all.entries {
		t.Fatalf("dry run with excludes: exit %d, %+v, without them %+v", code, some, all)
	}
	stdout, errs, code := cli(t, nil, append([]string{"backup", tree, "--to", store, "-r", rec}, excludes...)...)
	if code != 0 || !strings.Contains(errs, "backup: "+some.size+" → ") {
		t.Fatalf("backup after a dry run of %+v: exit %d\n%s", some, code, errs)
	}
	url := singleURL(t, stdout)
	dest := filepath.Join(t.TempDir(), "r")
	mustCLI(t, nil, "restore", url, "--to", dest, "-i", key)
	compareTrees(t, tree, dest, "*.tmp", "empty")
}

func TestEnvironmentOverridesFlags(t *testing.T) {
	key, rec := keypair(t)
	store := "file://" + t.TempDir()
	t.Setenv("SLUICE_COMPRESS", "gzip")
	t.Setenv("SLUICE_RECIPIENT", rec)
	url := singleURL(t, mustCLI(t, strings.NewReader("env"), "backup", "-", "--to", store))
	if !strings.HasSuffix(url, ".gz.age") {
		t.Fatalf("SLUICE_COMPRESS=gzip ignored: %s", url)
	}
	url = singleURL(t, mustCLI(t, strings.NewReader("env"), "backup", "-", "--to", store, "--compress", "s2"))
	if !strings.HasSuffix(url, ".s2.age") {
		t.Fatalf("flag should win over environment: %s", url)
	}
	if out := mustCLI(t, nil, "restore", url, "--to", "-", "-i", key); out != "env" {
		t.Fatalf("got %q", out)
	}
}

func TestPassphrase(t *testing.T) {
	t.Setenv("MY_PASS", "a long passphrase for sluice tests")
	store := "file://" + t.TempDir()
	url := singleURL(t, mustCLI(t, strings.NewReader("pass"), "backup", "-", "--to", store, "--passphrase-env", "MY_PASS", "-o", "age.work_factor=10"))
	if out := mustCLI(t, nil, "restore", url, "--to", "-", "--passphrase-env", "MY_PASS"); out != "pass" {
		t.Fatalf("got %q", out)
	}
	t.Setenv("MY_PASS", "wrong")
	dest := filepath.Join(t.TempDir(), "out")
	_, errs, code := cli(t, nil, "restore", url, "--to", dest, "--passphrase-env", "MY_PASS")
	if code != exitFailure || !strings.Contains(errs, "no matching identity") {
		t.Fatalf("wrong passphrase: exit %d, %q", code, errs)
	}
	if strings.Contains(errs, "a long passphrase") || strings.Contains(errs, "wrong") {
		t.Fatalf("passphrase leaked: %q", errs)
	}
	assertNothingAt(t, dest)
}

func TestKeygen(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "id.txt")
	rec := mustCLI(t, nil, "keygen", "-o", path)
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o600 {
		t.Fatalf("identity mode %v, want 0600", st.Mode().Perm())
	}
	b, _ := os.ReadFile(path)
	if !strings.Contains(string(b), "AGE-SECRET-KEY-1") || strings.Contains(rec, "SECRET") {
		t.Fatal("identity file or stdout wrong")
	}
	nested := filepath.Join(dir, "new", "folder", "key.txt")
	mustCLI(t, nil, "keygen", "-o", nested)
	if st, err := os.Stat(filepath.Dir(nested)); err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("keygen's new folder: %v, %v; want mode 0700", st, err)
	}
	if _, _, code := cli(t, nil, "keygen", "-o", path); code == 0 {
		t.Fatal("keygen overwrote an existing identity")
	}
	b2, _ := os.ReadFile(path)
	if !bytes.Equal(b, b2) {
		t.Fatal("existing identity changed")
	}
}

// dryRunLine is a dry run's source line for a directory.
type dryRunLine struct {
	files, entries int
	size           string
}

func dryRunSource(t *testing.T, stderr string) dryRunLine {
	t.Helper()
	m := regexp.MustCompile(`(?m)^  source: (\d+) files, (\d+) entries in all, (.+) as tar$`).FindStringSubmatch(stderr)
	if m == nil {
		t.Fatalf("no source line in the dry run:\n%s", stderr)
	}
	files, _ := strconv.Atoi(m[1])
	entries, _ := strconv.Atoi(m[2])
	return dryRunLine{files: files, entries: entries, size: m[3]}
}
