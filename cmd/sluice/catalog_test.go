package main

import (
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
)

// twoSourceConfig writes a config with one pipeline "ms" of two plaintext
// sources stored on a file:// folder, and returns its path and the folder.
func twoSourceConfig(t *testing.T, retention string) (cfg, store string) {
	t.Helper()
	dir := t.TempDir()
	for _, n := range []string{"src", "src2"} {
		if err := os.MkdirAll(filepath.Join(dir, n), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(filepath.Join(dir, n, "f"), []byte(n), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	store = t.TempDir()
	cfg = writeConfig(t, "ms.yaml", fmt.Sprintf(`pipelines:
  ms:
    sources: [%s/src, %s/src2]
    stages: [zstd]
    allow_plaintext: true
    targets: [file://%s]
    retention: %s
`, dir, dir, store, retention))
	return cfg, store
}

// TestPruneTwoSources runs a pipeline with two sources twice and prunes
// it to one backup: one per source is kept, the newest of each.
func TestPruneTwoSources(t *testing.T) {
	cfg, _ := twoSourceConfig(t, "{keep_last: 1}")
	var runs [][]string
	for range 2 {
		runs = append(runs, urlLines(t, mustCLI(t, nil, "--config", cfg, "run")))
	}
	if len(runs[1]) != 2 {
		t.Fatalf("run stored %q, want one object per source", runs[1])
	}
	_, stderr, code := cli(t, nil, "--config", cfg, "prune", "ms")
	if code != 0 || strings.Count(stderr, "remove ") != 2 {
		t.Fatalf("prune: exit %d\n%s", code, stderr)
	}
	var left []string
	for _, e := range listJSON(t, "--config", cfg, "ms") {
		left = append(left, e.URL)
	}
	slices.Sort(left)
	if want := slices.Sorted(slices.Values(runs[1])); !slices.Equal(left, want) {
		t.Fatalf("after prune: %q\nwant the newest of each source: %q", left, want)
	}
}

// TestDamagedManifest puts a truncated manifest beside one of three
// backups: list, verify and prune report that one, go on with the others,
// and exit 1; prune removes nothing of it.
func TestDamagedManifest(t *testing.T) {
	cfg, store := twoSourceConfig(t, "{keep_last: 1}")
	var urls []string
	for range 2 {
		urls = append(urls, urlLines(t, mustCLI(t, nil, "--config", cfg, "run"))...)
	}
	damaged := urls[0] // the oldest of src
	path := strings.TrimPrefix(damaged, "file://")
	if err := os.WriteFile(path+".sluice.json", []byte(`{"format":"sluice/1","obj`), 0o644); err != nil {
		t.Fatal(err)
	}

	stdout, stderr, code := cli(t, nil, "--config", cfg, "list", "ms")
	if code != exitFailure || strings.Count(stdout, "file://") != 3 || strings.Contains(stdout, damaged) ||
		!strings.Contains(stderr, damaged+": not listed: manifest ") || !strings.Contains(stderr, "integrity check failed") {
		t.Fatalf("list: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}
	stdout, stderr, code = cli(t, nil, "list", "--json", "file://"+store)
	if code != exitFailure || strings.Count(stdout, `"url"`) != 3 || !strings.Contains(stderr, damaged) {
		t.Fatalf("list --json URL: exit %d\nstdout:\n%s\nstderr:\n%s", code, stdout, stderr)
	}

	_, stderr, code = cli(t, nil, "--config", cfg, "verify", "ms")
	if code != exitFailure || strings.Count(stderr, "OK   ") != 3 || !strings.Contains(stderr, "BAD  "+damaged+": manifest ") {
		t.Fatalf("verify: exit %d\n%s", code, stderr)
	}

	_, stderr, code = cli(t, nil, "--config", cfg, "prune", "ms")
	if code != exitFailure || !strings.Contains(stderr, "SKIPPED") || !strings.Contains(stderr, damaged+": left alone") ||
		!strings.Contains(stderr, "1 skipped (manifest unreadable)") {
		t.Fatalf("prune: exit %d\n%s", code, stderr)
	}
	for _, p := range []string{path, path + ".sluice.json", strings.TrimPrefix(urls[2], "file://"), strings.TrimPrefix(urls[3], "file://")} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("prune removed %s", p)
		}
	}
	if _, err := os.Stat(strings.TrimPrefix(urls[1], "file://")); err == nil {
		t.Errorf("prune kept %s, an older backup of src2", urls[1])
	}
	_, stderr, _ = cli(t, nil, "--config", cfg, "prune", "ms", "--json")
	if evs := jsonEvents(t, stderr); !slices.ContainsFunc(evs, func(ev map[string]any) bool {
		return ev["event"] == "prune_skipped" && ev["object"] == damaged && strings.Contains(fmt.Sprint(ev["error"]), "manifest")
	}) {
		t.Fatalf("prune --json: no prune_skipped event\n%s", stderr)
	}
}

// TestVerifyMissingObject verifies a URL naming nothing and one naming a
// folder: both are reported as not found, with and without keys.
func TestVerifyMissingObject(t *testing.T) {
	key, _ := keypair(t)
	dir := t.TempDir()
	if err := os.Mkdir(filepath.Join(dir, "folder"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, u := range []string{"file://" + dir + "/nonexist.zst.age", "file://" + dir + "/folder"} {
		for _, keys := range [][]string{nil, {"-i", key}} {
			_, stderr, code := cli(t, nil, append([]string{"verify", u}, keys...)...)
			if code != exitFailure || !strings.Contains(stderr, "BAD  "+u+": object not found") || strings.Contains(stderr, "no manifest") {
				t.Errorf("verify %s %v: exit %d\n%s", u, keys, code, stderr)
			}
		}
	}
}

// TestListObjectURL lists the URL a backup printed, on a store where an
// object's URL is also a valid prefix (not file://, which refuses it on
// opening): list fails, says it was given an object and names the
// target URL to list instead, rather than reporting no backups.
func TestListObjectURL(t *testing.T) {
	src := dataFile(t, t.TempDir())
	url := singleURL(t, mustCLI(t, nil, "backup", src, "--to", "mem://list-object/photos", "--encrypt", "none"))
	for _, args := range [][]string{{"list", url}, {"list", url, "--json"}} {
		stdout, stderr, code := cli(t, nil, args...)
		if code != 1 || stdout != "" || !strings.Contains(stderr, "that is an object") ||
			!strings.Contains(stderr, "list takes the target URL (mem://list-object/photos)") {
			t.Errorf("%v: exit %d, stdout %q\n%s", args, code, stdout, stderr)
		}
	}
	// The target URL lists the backup; an empty prefix is still just
	// empty.
	if out := mustCLI(t, nil, "list", "mem://list-object/photos"); !strings.Contains(out, url) {
		t.Errorf("list of the target: %q, want %s", out, url)
	}
	if _, stderr, code := cli(t, nil, "list", "mem://list-object/empty"); code != 0 || !strings.Contains(stderr, "no backups found") {
		t.Errorf("list of an empty prefix: exit %d\n%s", code, stderr)
	}
}
