package main

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-backup/sluice/pipeline/stagetest"
)

// TestMissingObjectReported deletes the object of the newest backup and
// leaves its manifest: list marks it missing, verify reports it BAD, and
// prune lets it take no stored backup's place and removes its manifest
// once retention lets it go, saying so.
func TestMissingObjectReported(t *testing.T) {
	cfg, _ := twoSourceConfig(t, "{keep_last: 1}")
	var runs [][]string
	for range 2 {
		runs = append(runs, urlLines(t, mustCLI(t, nil, "--config", cfg, "run")))
	}
	lost := runs[1][0]
	if err := os.Remove(strings.TrimPrefix(lost, "file://")); err != nil {
		t.Fatal(err)
	}

	stdout, stderr, code := cli(t, nil, "--config", cfg, "list", "ms")
	if code != 0 || !strings.Contains(stdout, lost+"  (object missing)") || strings.Count(stdout, "file://") != 4 {
		t.Fatalf("list: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	stdout, _, _ = cli(t, nil, "--config", cfg, "list", "ms", "--json")
	if !strings.Contains(stdout, `"missing": true`) || strings.Count(stdout, `"missing"`) != 1 {
		t.Fatalf("list --json: no missing mark\n%s", stdout)
	}
	_, stderr, code = cli(t, nil, "--config", cfg, "verify", "ms")
	if code != exitFailure || !strings.Contains(stderr, "BAD  "+lost+": object missing") || strings.Count(stderr, "OK   ") != 3 {
		t.Fatalf("verify: exit %d\n%s", code, stderr)
	}

	_, stderr, code = cli(t, nil, "--config", cfg, "prune", "ms")
	if code != 0 || !strings.Contains(stderr, lost+"  (last, object missing") {
		t.Fatalf("first prune: exit %d\n%s", code, stderr)
	}
	// The older stored backup of src stays: the lost one took no place.
	if _, err := os.Stat(strings.TrimPrefix(runs[0][0], "file://")); err != nil {
		t.Fatalf("prune removed the only stored backup of src: %v\n%s", err, stderr)
	}
	mustCLI(t, nil, "--config", cfg, "run")
	_, stderr, code = cli(t, nil, "--config", cfg, "prune", "ms", "--json")
	if evs := jsonEvents(t, stderr); code != 0 || !slices.ContainsFunc(evs, func(ev map[string]any) bool {
		return ev["event"] == "prune_remove" && ev["object"] == lost && ev["missing"] == true
	}) {
		t.Fatalf("second prune: exit %d, no prune_remove of %s with missing\n%s", code, lost, stderr)
	}
	if _, err := os.Stat(strings.TrimPrefix(lost, "file://") + ".sluice.json"); !os.IsNotExist(err) {
		t.Fatalf("the manifest of the lost backup is still there: %v", err)
	}
}

// TestVerifyWithoutManifest verifies objects of other tools, which have no
// manifest: without keys they are decoded fully, and an encrypted one
// asks for its key.
func TestVerifyWithoutManifest(t *testing.T) {
	dir := t.TempDir()
	var gz bytes.Buffer
	zw := gzip.NewWriter(&gz)
	zw.Write(bytes.Repeat([]byte("foreign data\n"), 1000))
	zw.Close()
	good := filepath.Join(dir, "mm.txt.gz")
	if err := os.WriteFile(good, gz.Bytes(), 0o644); err != nil {
		t.Fatal(err)
	}
	damaged := gz.Bytes()
	damaged[len(damaged)-6] ^= 0x40 // inside the CRC-32 trailer
	if err := os.WriteFile(filepath.Join(dir, "bad.txt.gz"), damaged, 0o644); err != nil {
		t.Fatal(err)
	}
	_, rec := keypair(t)
	enc := singleURL(t, mustCLI(t, strings.NewReader("secret"), "backup", "-", "--to", "file://"+dir, "-r", rec, "--name", "enc"))
	if err := os.Remove(strings.TrimPrefix(enc, "file://") + ".sluice.json"); err != nil {
		t.Fatal(err)
	}

	_, stderr, code := cli(t, nil, "verify", "file://"+good)
	if code != 0 || !strings.Contains(stderr, "OK   file://"+good) {
		t.Errorf("verify of a good gzip file: exit %d\n%s", code, stderr)
	}
	_, stderr, code = cli(t, nil, "verify", "file://"+dir+"/bad.txt.gz")
	if code != exitFailure || !strings.Contains(stderr, "BAD  ") || !strings.Contains(stderr, "integrity check failed") {
		t.Errorf("verify of a damaged gzip file: exit %d\n%s", code, stderr)
	}
	_, stderr, code = cli(t, nil, "verify", enc)
	if code != exitFailure || !strings.Contains(stderr, "BAD  "+enc) || !strings.Contains(stderr, "give an identity file") || strings.Contains(stderr, "no manifest") {
		t.Errorf("verify of an age file without a key: exit %d\n%s", code, stderr)
	}
}

// TestVerifyLocalError verifies a Fernet backup with $TMPDIR pointing
// nowhere: the token cannot be spooled, which is reported as this
// machine's problem (ERROR, naming TMPDIR), not as damage.
func TestVerifyLocalError(t *testing.T) {
	key := fernetKey(t)
	store := t.TempDir()
	url := singleURL(t, mustCLI(t, strings.NewReader("report"), "backup", "-", "--to", "file://"+store, "--fernet-key", key, "--compress", "none", "--name", "report.csv"))
	missing := filepath.Join(t.TempDir(), "nonexistent")
	t.Setenv("TMPDIR", missing)
	_, stderr, code := cli(t, nil, "verify", url, "--fernet-key", key)
	if code != exitFailure || strings.Contains(stderr, "BAD") || strings.Contains(stderr, "integrity") || strings.Contains(stderr, "damaged") ||
		!strings.Contains(stderr, "ERROR "+url+": not checked") || !strings.Contains(stderr, "TMPDIR") || !strings.Contains(stderr, missing) {
		t.Fatalf("verify with a missing TMPDIR: exit %d\n%s", code, stderr)
	}
	_, stderr, _ = cli(t, nil, "verify", url, "--fernet-key", key, "--json")
	if evs := jsonEvents(t, stderr); len(evs) != 2 || evs[0]["event"] != "verify_error" || evs[0]["object"] != url {
		t.Fatalf("verify --json with a missing TMPDIR:\n%s", stderr)
	}
}

// TestUnreachableTarget reads a pipeline one of whose targets cannot be
// opened: the target is reported as a target (a FAILED line, a
// target_failed event with "target"), not as an object, and the commands
// exit 3, since the other target was read; a bad object makes verify
// exit 1 all the same.
func TestUnreachableTarget(t *testing.T) {
	notDir := filepath.Join(t.TempDir(), "file")
	if err := os.WriteFile(notDir, nil, 0o644); err != nil {
		t.Fatal(err)
	}
	src := filepath.Join(t.TempDir(), "db.sql")
	if err := os.WriteFile(src, []byte("create table t;"), 0o644); err != nil {
		t.Fatal(err)
	}
	store := t.TempDir()
	bad := "file://" + notDir + "/db"
	cfg := writeConfig(t, "sluice.yaml", fmt.Sprintf(`pipelines:
  db:
    source: %s
    stages: [zstd]
    allow_plaintext: true
    targets: [file://%s, %s]
    retention: {keep_last: 1}
`, src, store, bad))
	stdout, _, _ := cli(t, nil, "--config", cfg, "run")
	url := singleURL(t, stdout)

	stdout, stderr, code := cli(t, nil, "--config", cfg, "list", "db")
	if code != exitPartial || !strings.Contains(stdout, url) || !strings.Contains(stderr, bad) {
		t.Errorf("list: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	_, stderr, code = cli(t, nil, "--config", cfg, "verify", "db")
	if code != exitPartial || !strings.Contains(stderr, "FAILED target "+bad+": ") || strings.Contains(stderr, "BAD") ||
		!strings.Contains(stderr, "verify: 1 OK, 0 bad; 1 of 2 targets could not be read") {
		t.Errorf("verify: exit %d\n%s", code, stderr)
	}
	_, stderr, code = cli(t, nil, "--config", cfg, "verify", "db", "--json")
	if evs := jsonEvents(t, stderr); code != exitPartial || len(evs) != 3 || evs[0]["event"] != "target_failed" || evs[0]["target"] != bad ||
		evs[0]["pipeline"] != "db" || evs[1]["event"] != "verified" || evs[1]["object"] != url {
		t.Errorf("verify --json: exit %d\n%s", code, stderr)
	}
	_, stderr, code = cli(t, nil, "--config", cfg, "prune", "db")
	if code != exitPartial || !strings.Contains(stderr, "FAILED target "+bad+": ") {
		t.Errorf("prune: exit %d\n%s", code, stderr)
	}

	if err := os.WriteFile(strings.TrimPrefix(url, "file://"), []byte("damaged"), 0o644); err != nil {
		t.Fatal(err)
	}
	_, stderr, code = cli(t, nil, "--config", cfg, "verify", "db")
	if code != exitFailure || !strings.Contains(stderr, "BAD  "+url) {
		t.Errorf("verify with a bad object: exit %d\n%s", code, stderr)
	}
}

// TestListOtherPrefix lists the parent of the prefix backups were written
// under, and the folder a name template with a "/" made: nothing is
// listed there (it belongs to another target), but list says where the
// backups are instead of "no backups found".
func TestListOtherPrefix(t *testing.T) {
	dir := t.TempDir()
	mustCLI(t, strings.NewReader("x"), "backup", "-", "--to", "file://"+dir+"/photos", "--encrypt", "none")
	stdout, stderr, code := cli(t, nil, "list", "file://"+dir)
	if code != 0 || stdout != "" || strings.Contains(stderr, "list: no backups found\n") ||
		!strings.Contains(stderr, "no backups found here; 1 backup stored under another prefix was left out; list file://"+dir+"/photos") {
		t.Errorf("list of the parent: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	t11 := t.TempDir()
	mustCLI(t, strings.NewReader("x"), "backup", "-", "--to", "file://"+t11, "--encrypt", "none", "--name", "sub/dir/{source}")
	_, stderr, code = cli(t, nil, "list", "file://"+t11+"/sub/dir")
	if code != 0 || !strings.Contains(stderr, "list file://"+t11+"\n") {
		t.Errorf("list of a template's folder: exit %d\n%s", code, stderr)
	}
	if l := listJSON(t, "file://"+t11); len(l) != 1 {
		t.Errorf("list of the target it was written to: %d backups", len(l))
	}
}

// TestVerifyPipelineKeys: verify PIPELINE without key flags decodes with
// the keys the pipeline's stages name (an age identity_file), so a key
// that does not open the backups is BAD, not a checksum-only OK; key
// flags replace them. Without any key, or when the pipeline's cannot be
// read here, the summary says the objects were not decoded.
func TestVerifyPipelineKeys(t *testing.T) {
	key, rec := keypair(t)
	other, _ := keypair(t)
	store := t.TempDir()
	config := func(age string) string {
		return writeConfig(t, "sluice.yaml", fmt.Sprintf(`
pipelines:
  docs:
    source: %s
    stages: [zstd, {age: {recipient: %s%s}}]
    targets: ["file://%s"]
`, makeTree(t), rec, age, store))
	}
	mustCLI(t, nil, "--config", config(""), "run")
	const notDecoded = "1 checked against their manifests' size and SHA-256 only, not decoded"

	wrong := config(", identity_file: " + other)
	_, errs, code := cli(t, nil, "--config", wrong, "verify", "docs")
	if code != exitFailure || !strings.Contains(errs, "BAD") || !strings.Contains(errs, "no matching identity") || strings.Contains(errs, notDecoded) {
		t.Errorf("the pipeline's identity_file does not open the backup, verify exit %d, want 1 and BAD\n%s", code, errs)
	}
	// -i replaces the pipeline's key.
	if _, errs, code := cli(t, nil, "--config", wrong, "verify", "docs", "-i", key); code != 0 || strings.Contains(errs, notDecoded) {
		t.Errorf("verify -i with the right key: exit %d\n%s", code, errs)
	}
	right := config(", identity_file: " + key)
	if _, errs, code := cli(t, nil, "--config", right, "verify", "docs"); code != 0 || !strings.Contains(errs, "1 OK") || strings.Contains(errs, notDecoded) {
		t.Errorf("the pipeline's identity_file opens the backup, verify exit %d\n%s", code, errs)
	}
	// --json says of each object whether it was decoded.
	if _, errs, _ := cli(t, nil, "--config", right, "verify", "docs", "--json"); !strings.Contains(errs, `"decoded":true`) {
		t.Errorf("verify --json with the pipeline's key does not say the object was decoded:\n%s", errs)
	}
	if _, errs, _ := cli(t, nil, "--config", config(""), "verify", "docs", "--json"); !strings.Contains(errs, `"decoded":false`) {
		t.Errorf("verify --json without a key does not say the object was not decoded:\n%s", errs)
	}
	for what, cfg := range map[string]string{
		"no key":      config(""),
		"missing key": config(", identity_file: " + filepath.Join(t.TempDir(), "offline.txt")),
	} {
		if _, errs, code := cli(t, nil, "--config", cfg, "verify", "docs"); code != 0 || !strings.Contains(errs, notDecoded) {
			t.Errorf("%s: verify exit %d, want 0 and %q\n%s", what, code, notDecoded, errs)
		}
	}
	// An object's URL has no pipeline whose keys could be named.
	entries, err := os.ReadDir(store)
	if err != nil {
		t.Fatal(err)
	}
	for _, en := range entries {
		if strings.HasSuffix(en.Name(), ".age") {
			_, errs, code := cli(t, nil, "verify", "file://"+filepath.Join(store, en.Name()))
			if code != 0 || !strings.Contains(errs, notDecoded) || strings.Contains(errs, "pipeline's age stage") {
				t.Errorf("verify of an object's URL: exit %d\n%s", code, errs)
			}
		}
	}
}

// TestVerifyDecodesPlaintext: an object with no encryption stage needs no
// key to decode, so verify decodes it rather than only comparing it with
// its manifest: damage that a rewritten manifest hides is found by the
// zstd checksums.
func TestVerifyDecodesPlaintext(t *testing.T) {
	store := t.TempDir()
	src := filepath.Join(t.TempDir(), "data.bin")
	if err := os.WriteFile(src, stagetest.Data(1<<20, 3), 0o644); err != nil {
		t.Fatal(err)
	}
	url := singleURL(t, mustCLI(t, nil, "backup", src, "--to", "file://"+store, "--encrypt", "none"))
	obj := strings.TrimPrefix(url, "file://")
	if _, errs, code := cli(t, nil, "verify", url); code != 0 || strings.Contains(errs, "not decoded") {
		t.Fatalf("verify of an intact plaintext object: exit %d\n%s", code, errs)
	}
	b, err := os.ReadFile(obj)
	if err != nil {
		t.Fatal(err)
	}
	b[len(b)/2] ^= 1
	if err := os.WriteFile(obj, b, 0o644); err != nil {
		t.Fatal(err)
	}
	// The manifest made to match the damaged bytes.
	mpath := obj + ".sluice.json"
	raw, err := os.ReadFile(mpath)
	if err != nil {
		t.Fatal(err)
	}
	var m map[string]any
	if err := json.Unmarshal(raw, &m); err != nil {
		t.Fatal(err)
	}
	sum := sha256.Sum256(b)
	m["sha256"] = hex.EncodeToString(sum[:])
	if raw, err = json.Marshal(m); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(mpath, raw, 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := cli(t, nil, "verify", url); code != exitFailure || !strings.Contains(errs, "BAD") {
		t.Errorf("verify of a damaged plaintext object whose manifest matches it: exit %d, want 1 and BAD\n%s", code, errs)
	}
	// A manifest that cannot be read is BAD, and no object was compared
	// with it: the summary counts none as checked against it.
	if err := os.WriteFile(mpath, []byte("{bad"), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, errs, code := cli(t, nil, "verify", url); code != exitFailure || !strings.Contains(errs, "BAD") || strings.Contains(errs, "not decoded") {
		t.Errorf("verify with an unreadable manifest: exit %d, want 1, BAD and no 'not decoded'\n%s", code, errs)
	}
}

// TestVerifyTuningOptionsAreNoKeys: a stage option that is no key (-o
// zstd.concurrency=2, typed or exported) neither makes verify decode
// without a key, calling intact backups BAD, nor replaces a pipeline's
// own keys; a key flag still decodes, with the option applied.
func TestVerifyTuningOptionsAreNoKeys(t *testing.T) {
	key, rec := keypair(t)
	store := t.TempDir()
	cfg := writeConfig(t, "sluice.yaml", fmt.Sprintf(`
pipelines:
  docs:
    source: %s
    stages: [zstd, {age: {recipient: %s, identity_file: %s}}]
    targets: ["file://%s"]
`, makeTree(t), rec, key, store))
	url := singleURL(t, mustCLI(t, nil, "--config", cfg, "run"))
	const notDecoded = "not decoded"
	for _, c := range []struct {
		name    string
		env     []string
		args    []string
		decoded bool
	}{
		{"object, -o", nil, []string{"verify", url, "-o", "zstd.concurrency=2"}, false},
		{"object, SLUICE_OPTION", []string{"SLUICE_OPTION=zstd.concurrency=2"}, []string{"verify", url}, false},
		{"object, -o and -i", nil, []string{"verify", url, "-o", "zstd.concurrency=2", "-i", key}, true},
		{"pipeline, -o", nil, []string{"--config", cfg, "verify", "docs", "-o", "zstd.concurrency=1"}, true},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, kv := range c.env {
				k, v, _ := strings.Cut(kv, "=")
				t.Setenv(k, v)
			}
			_, errs, code := cli(t, nil, c.args...)
			if code != 0 || !strings.Contains(errs, "1 OK, 0 bad") || strings.Contains(errs, notDecoded) == c.decoded {
				t.Errorf("exit %d, want 0, OK and decoded=%v\n%s", code, c.decoded, errs)
			}
		})
	}
}

// TestVerifyFolderURL: the URL of a folder of backups given where an
// object's belongs is a usage error saying so, and an object that is not
// there is BAD without being counted as compared with a manifest.
func TestVerifyFolderURL(t *testing.T) {
	_, rec := keypair(t)
	store := t.TempDir()
	src := filepath.Join(t.TempDir(), "db")
	if err := os.WriteFile(src, []byte("hi\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	mustCLI(t, nil, "backup", src, "--to", "file://"+store, "-r", rec)
	_, errs, code := cli(t, nil, "verify", "file://"+store)
	if code != exitUsage || !strings.Contains(errs, "that is a folder, not an object") || !strings.Contains(errs, "sluice list file://"+store) {
		t.Errorf("verify of a folder's URL: exit %d, want 2 and the hint\n%s", code, errs)
	}
	// A folder of target folders, and one of objects other tools wrote.
	foreign := t.TempDir()
	if err := os.WriteFile(filepath.Join(foreign, "other.tar.gz"), []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, folder := range []string{filepath.Dir(store), foreign} {
		if _, errs, code := cli(t, nil, "verify", "file://"+folder); code != exitUsage || !strings.Contains(errs, "that is a folder, not an object") {
			t.Errorf("verify of the folder %s: exit %d, want 2 and the hint\n%s", folder, code, errs)
		}
	}
	_, errs, code = cli(t, nil, "verify", "file://"+store+"/nope.zst.age")
	if code != exitFailure || !strings.Contains(errs, "BAD") || strings.Contains(errs, "checked against") {
		t.Errorf("verify of a missing object: exit %d, want 1, BAD and nothing counted as checked\n%s", code, errs)
	}
}
