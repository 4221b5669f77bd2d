package main

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// unopenable is a file:// target that cannot be opened, even by root: its
// folder would have to be created under a file.
const unopenable = "file:///dev/null/sluice-target"

// TestBackupUnavailableTarget: a target that cannot be opened fails on
// its own; the others are written and the exit status is 3, as when a
// target fails mid-write. A wrong URL is still a usage error that stores
// nothing anywhere.
func TestBackupUnavailableTarget(t *testing.T) {
	_, rec := keypair(t)
	src := filepath.Join(t.TempDir(), "in.txt")
	if err := os.WriteFile(src, []byte("some data\n"), 0o644); err != nil {
		t.Fatal(err)
	}

	t.Run("one of two", func(t *testing.T) {
		good := t.TempDir()
		out, errs, code := cli(t, nil, "backup", src, "--to", unopenable, "--to", "file://"+good, "-r", rec)
		if code != exitPartial {
			t.Fatalf("exit %d, want %d\n%s", code, exitPartial, errs)
		}
		if url := singleURL(t, out); !strings.HasPrefix(url, "file://"+good+"/") {
			t.Fatalf("stored %s, want it under %s", url, good)
		}
		if !strings.Contains(errs, unopenable) || !strings.Contains(errs, "1 of 2 targets stored") {
			t.Fatalf("stderr does not report the unavailable target:\n%s", errs)
		}
	})

	t.Run("json", func(t *testing.T) {
		good := t.TempDir()
		_, errs, code := cli(t, nil, "backup", src, "--to", "file://"+good, "--to", unopenable, "-r", rec, "--json")
		if code != exitPartial {
			t.Fatalf("exit %d, want %d\n%s", code, exitPartial, errs)
		}
		evs := lastEvents(t, errs)
		failed, summary := evs["target_failed"], evs["summary"]
		if failed == nil || failed["target"] != unopenable || !strings.Contains(fmt.Sprint(failed["error"]), "not a directory") {
			t.Fatalf("target_failed event %v, want one for %s with the reason\n%s", failed, unopenable, errs)
		}
		if summary == nil || summary["ok"] != 1.0 || summary["failed"] != 1.0 {
			t.Fatalf("summary %v, want 1 ok and 1 failed", summary)
		}
	})

	// No target opens: each is reported as failed, as when some do (its
	// reason, a target_failed event, the summary's count), the final
	// error gives every reason in one line, and nothing is read.
	t.Run("none", func(t *testing.T) {
		out, errs, code := cli(t, nil, "backup", src, "--to", unopenable, "--to", unopenable+"-2", "-r", rec)
		if code != exitFailure || out != "" {
			t.Fatalf("exit %d, stdout %q, want 1 and nothing\n%s", code, out, errs)
		}
		if !strings.Contains(errs, unopenable+":") || !strings.Contains(errs, unopenable+"-2:") || !strings.Contains(errs, "0 of 2 targets stored") {
			t.Fatalf("stderr does not give each target's reason:\n%s", errs)
		}
		lines := strings.Split(strings.TrimSpace(errs), "\n")
		if last := lines[len(lines)-1]; !strings.HasPrefix(last, "sluice: ") || !strings.Contains(last, "every target failed") ||
			!strings.Contains(last, unopenable+":") || !strings.Contains(last, unopenable+"-2:") {
			t.Fatalf("last line %q, want the error in one line with each target's reason", last)
		}

		_, errs, code = cli(t, nil, "backup", src, "--to", unopenable, "--to", unopenable+"-2", "-r", rec, "--json")
		var failed []string
		var summary map[string]any
		for _, ev := range jsonEvents(t, errs) {
			switch ev["event"] {
			case "target_failed":
				failed = append(failed, fmt.Sprint(ev["target"]))
			case "summary":
				summary = ev
			}
		}
		if code != exitFailure || !slices.Equal(failed, []string{unopenable, unopenable + "-2"}) || summary == nil || summary["failed"] != 2.0 || summary["ok"] != 0.0 {
			t.Fatalf("exit %d, target_failed for %v, summary %v; want 1, both targets, 2 failed\n%s", code, failed, summary, errs)
		}

		out, errs, code = cli(t, nil, "backup", src, "--to", unopenable, "-r", rec, "--dry-run")
		if code != exitFailure || out != "" || !strings.Contains(errs, "no target can be opened") {
			t.Fatalf("dry run: exit %d, stdout %q, want 1 and nothing\n%s", code, out, errs)
		}
	})

	t.Run("all or nothing", func(t *testing.T) {
		good := t.TempDir()
		out, errs, code := cli(t, nil, "backup", src, "--to", "file://"+good, "--to", unopenable, "-r", rec, "--all-or-nothing")
		if code != exitFailure || out != "" {
			t.Fatalf("exit %d, stdout %q, want 1 and nothing\n%s", code, out, errs)
		}
		assertEmptyDir(t, good)
	})

	t.Run("dry run", func(t *testing.T) {
		good := t.TempDir()
		out, errs, code := cli(t, nil, "backup", src, "--to", "file://"+good, "--to", unopenable, "-r", rec, "--dry-run")
		if code != exitPartial || out != "" {
			t.Fatalf("exit %d, stdout %q, want 3 and nothing\n%s", code, out, errs)
		}
		if !strings.Contains(errs, "cannot open "+unopenable) {
			t.Fatalf("dry run does not report the unavailable target:\n%s", errs)
		}
		_, errs, _ = cli(t, nil, "backup", src, "--to", "file://"+good, "--to", unopenable, "-r", rec, "--dry-run", "--json")
		evs := jsonEvents(t, errs)
		if un, _ := evs[0]["unavailable"].([]any); len(un) != 1 || un[0].(map[string]any)["target"] != unopenable {
			t.Fatalf("dry_run event %v, want %s unavailable", evs[0], unopenable)
		}
		assertEmptyDir(t, good)
	})

	for _, tc := range []struct{ name, target, want string }{
		{"relative file URL", "file://rel/x", "absolute path"},
		{"unknown option", "file:///tmp/x?part_size=5MiB", "unknown option"},
		{"bad option value", "s3://bkt/p?part_size=1024", "part_size"},
		{"unknown scheme", "ftp://host/p", "unknown"},
		{"given twice", "GOOD/", "given twice"},
	} {
		t.Run("usage/"+tc.name, func(t *testing.T) {
			good := t.TempDir()
			target := strings.Replace(tc.target, "GOOD", "file://"+good, 1)
			out, errs, code := cli(t, nil, "backup", src, "--to", "file://"+good, "--to", target, "-r", rec)
			if code != exitUsage || out != "" {
				t.Fatalf("exit %d, stdout %q, want 2 and nothing\n%s", code, out, errs)
			}
			if !strings.Contains(errs, tc.want) {
				t.Fatalf("stderr does not say %q:\n%s", tc.want, errs)
			}
			assertEmptyDir(t, good)
		})
	}
}

// TestBackupTargetGivenTwiceThroughSymlink: two file:// targets that are
// one folder, one of them named through a symlink (to it or to a parent
// of a folder not made yet), are a target given twice, as literal
// duplicates are: a usage error before anything is stored.
func TestBackupTargetGivenTwiceThroughSymlink(t *testing.T) {
	_, rec := keypair(t)
	src := filepath.Join(t.TempDir(), "f")
	if err := os.WriteFile(src, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	w := t.TempDir()
	real := filepath.Join(w, "real")
	if err := os.Mkdir(real, 0o755); err != nil {
		t.Fatal(err)
	}
	link := filepath.Join(w, "link")
	if err := os.Symlink("real", link); err != nil {
		t.Fatal(err)
	}
	for _, pair := range [][2]string{
		{real, link},
		{link, real + "/"},
		{real + "/new/sub", link + "/new/sub"},
	} {
		out, errs, code := cli(t, nil, "backup", src, "--name", "same", "-r", rec,
			"--to", "file://"+pair[0], "--to", "file://"+pair[1])
		if code != exitUsage || out != "" {
			t.Fatalf("%v: exit %d, stdout %q, want 2 and nothing\n%s", pair, code, out, errs)
		}
		if !strings.Contains(errs, "given twice") || strings.Contains(errs, "numbered variants") {
			t.Fatalf("%v: stderr does not say the target is given twice:\n%s", pair, errs)
		}
	}
	assertEmptyDir(t, real)
	// Two folders, one beside the other's symlink, stay two targets.
	other := filepath.Join(w, "other")
	mustCLI(t, nil, "backup", src, "--name", "two", "-r", rec, "--to", "file://"+link, "--to", "file://"+other)
}

// TestTargetGivenTwiceByPlace: targets that differ only in how the store
// is reached (a region, a protocol, localemu=1 or true) or in where an
// option is written are one target given twice, to backup (before any is
// opened: nothing listens at the endpoint) and to config validate alike;
// another endpoint is another target.
func TestTargetGivenTwiceByPlace(t *testing.T) {
	_, rec := keypair(t)
	src := dataFile(t, t.TempDir())
	const e = "http://127.0.0.1:1"
	for _, pair := range [][2]string{
		{"s3://bkt1/d?endpoint=" + e, "s3://bkt1/d?endpoint=" + e + "&region=us-east-1"},
		{"azblob://c/p?localemu=1&domain=127.0.0.1:1", "azblob://c/p/?domain=127.0.0.1:1&localemu=true&protocol=http"},
	} {
		out, errs, code := cli(t, nil, "backup", src, "-r", rec, "--to", pair[0], "--to", pair[1])
		if code != exitUsage || out != "" || !strings.Contains(errs, "given twice: it is the same place as") {
			t.Errorf("%v: exit %d, stdout %q, want 2 and given twice\n%s", pair, code, out, errs)
		}
	}
	cfg := writeConfig(t, "sluice.yaml", `
pipelines:
  docs:
    source: `+src+`
    stages: [zstd, {age: {recipient: `+rec+`}}]
    targets:
      - "s3://bkt1/g?endpoint=`+e+`"
      - {url: "s3://bkt1/g", endpoint: "`+e+`"}
`)
	const want = "pipelines.docs.targets[1]: the same target as pipelines.docs.targets[0]: give each target once"
	if _, errs, code := cli(t, nil, "--config", cfg, "config", "validate"); code != exitUsage || !strings.Contains(errs, want) {
		t.Errorf("config validate: exit %d, want 2 and %q\n%s", code, want, errs)
	}
	// Another endpoint is another store: the backup goes on to open both.
	_, errs, code := cli(t, nil, "backup", src, "-r", rec, "--dry-run", "--to", "s3://bkt1/d?endpoint="+e, "--to", "s3://bkt1/d?endpoint=http://127.0.0.1:2")
	if code == exitUsage || strings.Contains(errs, "given twice") {
		t.Errorf("two endpoints: exit %d\n%s", code, errs)
	}
}

// TestRunUnavailableTarget: a pipeline target that cannot be opened is
// one failed target of the pipeline's backup: counted in its summary and
// reported like a target that fails while writing.
func TestRunUnavailableTarget(t *testing.T) {
	_, rec := keypair(t)
	good := t.TempDir()
	cfg := writeConfig(t, "sluice.yaml", fmt.Sprintf(`
pipelines:
  docs:
    source: %s
    stages: [zstd, {age: {recipients_file: %s}}]
    targets: [%s, "file://%s"]
`, makeTree(t), recipientFile(t, rec), unopenable, good))
	out, errs, code := cli(t, nil, "--config", cfg, "run", "--json")
	if code != exitPartial {
		t.Fatalf("exit %d, want %d\n%s", code, exitPartial, errs)
	}
	singleURL(t, out)
	evs := lastEvents(t, errs)
	failed, summary := evs["target_failed"], evs["summary"]
	if failed == nil || failed["target"] != unopenable {
		t.Fatalf("target_failed %v, want one naming %s\n%s", failed, unopenable, errs)
	}
	if summary == nil || summary["ok"] != 1.0 || summary["failed"] != 1.0 {
		t.Fatalf("summary %v, want 1 ok and 1 failed\n%s", summary, errs)
	}
	// Every event of the pipeline's backup names it, so that a script
	// reading several pipelines' events can tell them apart.
	for _, ev := range jsonEvents(t, errs) {
		switch ev["event"] {
		case "start", "progress", "target_done", "target_failed", "summary":
			if ev["pipeline"] != "docs" {
				t.Errorf("%s event without its pipeline: %v", ev["event"], ev)
			}
		}
	}
}

// TestRunDryRunUnavailableTarget: a dry run of a pipeline with one
// target that cannot be opened exits 3, as backup --dry-run and a real
// run do, and the pipeline does not count as failed (no pipeline_failed
// event); with no target that opens, it exits 1.
func TestRunDryRunUnavailableTarget(t *testing.T) {
	_, rec := keypair(t)
	write := func(targets string) string {
		return writeConfig(t, "sluice.yaml", fmt.Sprintf(`
pipelines:
  docs:
    source: %s
    stages: [zstd, {age: {recipients_file: %s}}]
    targets: [%s]
`, makeTree(t), recipientFile(t, rec), targets))
	}
	cfg := write(fmt.Sprintf(`%s, "file://%s"`, unopenable, t.TempDir()))
	_, errs, code := cli(t, nil, "--config", cfg, "run", "--dry-run", "--json")
	if code != exitPartial {
		t.Fatalf("exit %d, want %d\n%s", code, exitPartial, errs)
	}
	if evs := lastEvents(t, errs); evs["pipeline_failed"] != nil || evs["dry_run"] == nil {
		t.Fatalf("want a dry_run event and no pipeline_failed:\n%s", errs)
	}
	if _, errs, code := cli(t, nil, "--config", cfg, "run", "--dry-run"); code != exitPartial || strings.Contains(errs, "FAILED") {
		t.Fatalf("text: exit %d, want %d and no FAILED\n%s", code, exitPartial, errs)
	}
	cfg = write(unopenable)
	if _, errs, code := cli(t, nil, "--config", cfg, "run", "--dry-run"); code != exitFailure {
		t.Fatalf("no target opens: exit %d, want %d\n%s", code, exitFailure, errs)
	}
}

// TestReadCommandsOpenErrors: restore, verify and list exit 2 for a wrong
// URL and 1 for a store they cannot open.
func TestReadCommandsOpenErrors(t *testing.T) {
	// Nothing listens at the S3 endpoint: bare bucket/prefix arguments
	// fail to open, fast.
	t.Setenv("AWS_ENDPOINT_URL_S3", "http://127.0.0.1:1")
	t.Setenv("AWS_ACCESS_KEY_ID", "x")
	t.Setenv("AWS_SECRET_ACCESS_KEY", "x")
	t.Setenv("AWS_REGION", "us-east-1")
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	for _, tc := range []struct {
		args []string
		code int
	}{
		{[]string{"restore", "file://rel/obj.zst", "--to", "-"}, exitUsage},
		{[]string{"restore", unopenable + "/obj.zst", "--to", "-"}, exitFailure},
		{[]string{"verify", "file://rel/obj.zst"}, exitUsage},
		{[]string{"verify", unopenable + "/obj.zst"}, exitFailure},
		{[]string{"list", "file://rel/x"}, exitUsage},
		{[]string{"list", unopenable}, exitFailure},
		// A bare bucket/prefix is an S3 target, as for backup's --to, not
		// a pipeline name (those hold no "/").
		{[]string{"list", "nobucket/prefix"}, exitFailure},
		{[]string{"verify", "nobucket/prefix/obj.zst.age"}, exitFailure},
	} {
		t.Run(strings.Join(tc.args, " "), func(t *testing.T) {
			_, errs, code := cli(t, nil, tc.args...)
			if code != tc.code {
				t.Fatalf("exit %d, want %d\n%s", code, tc.code, errs)
			}
			if strings.HasPrefix(tc.args[1], "nobucket/") && !strings.Contains(errs, `check bucket "nobucket"`) {
				t.Fatalf("%s is not read as an S3 URL:\n%s", tc.args[1], errs)
			}
		})
	}
}

// lastEvents parses stderr as JSON lines and returns the last event of
// each kind, by its "event" name.
func lastEvents(t *testing.T, stderr string) map[string]map[string]any {
	t.Helper()
	out := map[string]map[string]any{}
	for _, ev := range jsonEvents(t, stderr) {
		out[fmt.Sprint(ev["event"])] = ev
	}
	return out
}

// assertEmptyDir fails unless dir exists and holds nothing.
func assertEmptyDir(t *testing.T, dir string) {
	t.Helper()
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	if len(entries) > 0 {
		t.Fatalf("%s holds %d entries, want none: %v", dir, len(entries), entries[0].Name())
	}
}

// TestConfigChecksTargets: a target URL's query and a target entry's
// option values are checked when the config loads, so `config validate`
// finds a typo and `run` stops on it with a config error (exit 2) naming
// the target's key path, instead of failing that target at run time.
func TestConfigChecksTargets(t *testing.T) {
	_, rec := keypair(t)
	for _, tc := range []struct{ name, target, want string }{
		{"unknown query parameter", `"s3://b/p?storage_clas=GLACIER"`, "pipelines.a.targets[1]: target s3://b/p?storage_clas=GLACIER: query parameter storage_clas: unknown option"},
		{"bad option value", `{url: "s3://b/p", storage_class: FOO}`, `pipelines.a.targets[1]: target s3://b/p: storage_class "FOO"`},
		{"relative file URL", `"file://rel/x"`, "pipelines.a.targets[1]: target file://rel/x: file URLs need an absolute path"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			good := t.TempDir()
			cfg := writeConfig(t, "sluice.yaml", fmt.Sprintf(`
pipelines:
  a:
    source: %s
    stages: [zstd, {age: {recipients_file: %s}}]
    targets: ["file://%s", %s]
`, makeTree(t), recipientFile(t, rec), good, tc.target))
			for _, args := range [][]string{{"config", "validate"}, {"run"}} {
				out, errs, code := cli(t, nil, append([]string{"--config", cfg}, args...)...)
				if code != exitUsage || out != "" {
					t.Fatalf("%s: exit %d, stdout %q, want 2 and nothing\n%s", args[0], code, out, errs)
				}
				if !strings.Contains(errs, tc.want) {
					t.Fatalf("%s: stderr does not say %q:\n%s", args[0], tc.want, errs)
				}
			}
			assertEmptyDir(t, good)
		})
	}
}

// TestMissingFolderCreatedOnlyByBackup: a dry run and the reading
// commands create no folder; list, verify and restore say the folder does
// not exist (exit 1) rather than finding nothing in it; a backup creates
// it.
func TestMissingFolderCreatedOnlyByBackup(t *testing.T) {
	_, rec := keypair(t)
	root := t.TempDir()
	dir := filepath.Join(root, "a", "b")
	target := "file://" + dir
	for _, args := range [][]string{
		{"backup", "-", "--to", target, "-r", rec, "--dry-run"},
		{"list", target},
		{"verify", target + "/obj.zst.age"},
		{"restore", target + "/obj.zst.age", "--to", "-"},
	} {
		_, errs, code := cli(t, strings.NewReader("data"), args...)
		want := exitFailure
		if args[0] == "backup" {
			want = exitOK
		}
		if code != want {
			t.Fatalf("%s: exit %d, want %d\n%s", args[0], code, want, errs)
		}
		if want == exitFailure && !strings.Contains(errs, "folder "+dir+" does not exist") {
			t.Fatalf("%s does not say the folder is missing:\n%s", args[0], errs)
		}
		assertEmptyDir(t, root)
	}
	url := singleURL(t, mustCLI(t, strings.NewReader("data"), "backup", "-", "--to", target, "-r", rec))
	if !strings.HasPrefix(url, target+"/") {
		t.Fatalf("stored %s", url)
	}
}

// TestTargetInsideSourceLeftOut: a file:// target folder inside the
// directory being backed up is left out of the archive, so a backup does
// not store its own output or earlier backups (and does not fail reading
// the object it is writing). The folder's name holds path.Match's special
// characters, which must match literally.
func TestTargetInsideSourceLeftOut(t *testing.T) {
	src := makeTree(t)
	store := filepath.Join(src, "sub", "bk*[1]")
	var last string
	for range 2 {
		last = singleURL(t, mustCLI(t, nil, "backup", src, "--to", "file://"+store, "--encrypt", "none", "--compress", "none"))
	}
	out := filepath.Join(t.TempDir(), "restored")
	mustCLI(t, nil, "restore", last, "--to", out)
	if _, err := os.Stat(filepath.Join(out, "sub", "bk*[1]")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the target folder was archived (%v)", err)
	}
	compareTrees(t, src, out, `bk\*\[1\]`) // a pattern of the base name

	// run does the same for a pipeline's targets.
	cfg := plainPipeline(t, "self", src, store)
	url := singleURL(t, mustCLI(t, nil, "--config", cfg, "run"))
	out2 := filepath.Join(t.TempDir(), "restored")
	mustCLI(t, nil, "restore", url, "--to", out2)
	compareTrees(t, src, out2, `bk\*\[1\]`)
}

// TestTargetInsideLinkedSourceLeftOut: a file:// target folder that does
// not exist yet, named through a symbolic link to the source, is left out
// too: it is compared with the source as the path it will have, not as
// written (the source's links are resolved).
func TestTargetInsideLinkedSourceLeftOut(t *testing.T) {
	src := makeTree(t)
	link := filepath.Join(t.TempDir(), "srclink")
	if err := os.Symlink(src, link); err != nil {
		t.Fatal(err)
	}
	store := filepath.Join(link, "zzz", "new")
	url := singleURL(t, mustCLI(t, nil, "backup", link, "--to", "file://"+store, "--encrypt", "none", "--compress", "none"))
	out := filepath.Join(t.TempDir(), "restored")
	mustCLI(t, nil, "restore", url, "--to", out)
	if _, err := os.Stat(filepath.Join(out, "zzz", "new")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("backup archived the target folder (%v)", err)
	}

	cfg := plainPipeline(t, "self", link, filepath.Join(link, "yyy"))
	url = singleURL(t, mustCLI(t, nil, "--config", cfg, "run"))
	out2 := filepath.Join(t.TempDir(), "restored")
	mustCLI(t, nil, "restore", url, "--to", out2)
	if _, err := os.Stat(filepath.Join(out2, "yyy")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("run archived the target folder (%v)", err)
	}
}

// TestTargetIsSourceRefused: a file:// target that is the source folder
// itself, as written or through a link, cannot be left out of the
// archive: backup and run refuse it (exit 2) and store nothing, where the
// backup read its own output and failed, or archived it.
func TestTargetIsSourceRefused(t *testing.T) {
	src := makeTree(t)
	link := filepath.Join(t.TempDir(), "srclink")
	if err := os.Symlink(src, link); err != nil {
		t.Fatal(err)
	}
	names := func() []string {
		entries, err := os.ReadDir(src)
		if err != nil {
			t.Fatal(err)
		}
		var out []string
		for _, e := range entries {
			out = append(out, e.Name())
		}
		return out
	}
	before := names()
	for _, target := range []string{src, link} {
		_, errs, code := cli(t, nil, "backup", src, "--to", "file://"+target, "--encrypt", "none")
		if code != exitUsage || !strings.Contains(errs, "is the source folder "+src+" itself") {
			t.Errorf("backup to %s: exit %d\n%s", target, code, errs)
		}
		cfg := plainPipeline(t, "self", src, target)
		if _, errs, code := cli(t, nil, "--config", cfg, "run"); code != exitUsage || !strings.Contains(errs, "is the source folder") {
			t.Errorf("run to %s: exit %d\n%s", target, code, errs)
		}
	}
	// A pipeline whose second source is its target stores nothing, not
	// the first source's backup before refusing; validate says so too.
	other := filepath.Join(t.TempDir(), "other")
	if err := os.Mkdir(other, 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(other, "f"), []byte("f"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := writeConfig(t, "sluice.yaml", fmt.Sprintf("pipelines:\n  two:\n    sources: [%s, %s]\n    allow_plaintext: true\n    stages: [zstd]\n    targets: [\"file://%s\"]\n", other, src, src))
	for _, args := range [][]string{{"run"}, {"run", "--dry-run"}, {"config", "validate"}} {
		out, errs, code := cli(t, nil, append([]string{"--config", cfg}, args...)...)
		if code != exitUsage || out != "" || !strings.Contains(errs, "pipelines.two: target file://"+src+" is the source folder") {
			t.Errorf("%v: exit %d, stdout %q\n%s", args, code, out, errs)
		}
	}
	if after := names(); !slices.Equal(after, before) {
		t.Errorf("the source holds %q after the refused backups, held %q", after, before)
	}
}

// TestTargetIsSourceThroughBindMount: a target folder that is the source
// folder, or inside it, reached through a bind mount (another path to the
// same directory, which resolving links does not reveal) is refused, or
// left out of the archive.
func TestTargetIsSourceThroughBindMount(t *testing.T) {
	src := makeTree(t)
	bind := t.TempDir()
	if err := syscall.Mount(src, bind, "", syscall.MS_BIND, ""); err != nil {
		if os.Getenv("CI") == "true" && os.Getuid() == 0 {
			t.Fatalf("bind mount as root in CI: %v", err)
		}
		t.Skipf("cannot bind-mount here: %v", err)
	}
	t.Cleanup(func() { syscall.Unmount(bind, 0) })
	if _, errs, code := cli(t, nil, "backup", src, "--to", "file://"+bind, "--encrypt", "none"); code != exitUsage || !strings.Contains(errs, "is the source folder") {
		t.Errorf("backup to the source through a bind mount: exit %d\n%s", code, errs)
	}
	url := singleURL(t, mustCLI(t, nil, "backup", src, "--to", "file://"+filepath.Join(bind, "store"), "--encrypt", "none", "--compress", "none"))
	out := filepath.Join(t.TempDir(), "restored")
	mustCLI(t, nil, "restore", url, "--to", out)
	if _, err := os.Stat(filepath.Join(out, "store")); !errors.Is(err, fs.ErrNotExist) {
		t.Fatalf("the target folder inside the source, through a bind mount, was archived (%v)", err)
	}
}

// TestHintsNameWhatToGive: errors for a wrong argument say what to give
// instead, and only what the command takes.
func TestHintsNameWhatToGive(t *testing.T) {
	cfg := plainPipeline(t, "docs", makeTree(t), t.TempDir())
	// prune takes no URL, so does not suggest one.
	_, errs, code := cli(t, nil, "--config", cfg, "prune", "nosuch")
	if code != exitUsage || !strings.Contains(errs, `no pipeline "nosuch"`) || strings.Contains(errs, "URL") {
		t.Errorf("prune nosuch: exit %d\n%s", code, errs)
	}
	if _, errs, _ := cli(t, nil, "--config", cfg, "list", "nosuch"); !strings.Contains(errs, "for a target, give its URL") {
		t.Errorf("list nosuch does not suggest a URL:\n%s", errs)
	}
	// An object's URL given to list names the target URL to give.
	dir := t.TempDir()
	obj := filepath.Join(dir, "x.zst.age")
	if err := os.WriteFile(obj, []byte("x"), 0o644); err != nil {
		t.Fatal(err)
	}
	want := "list file://" + obj + ": that is an object, not a folder of backups; list takes the target URL (file://" + dir + ")"
	if _, errs, code := cli(t, nil, "list", "file://"+obj); code != exitFailure || !strings.Contains(errs, want) {
		t.Errorf("list of an object: exit %d, want 1 and %q\n%s", code, want, errs)
	}
	// A relative file URL is said to be one, whatever else is wrong.
	for _, u := range []string{"file://rel", "file://rel/"} {
		if _, errs, code := cli(t, nil, "verify", u); code != exitUsage || !strings.Contains(errs, "file URLs need an absolute path") {
			t.Errorf("verify %s: exit %d\n%s", u, code, errs)
		}
	}
}

// plainPipeline writes a config declaring one pipeline, name, that backs
// source up without encryption to the folder target, and returns its path.
func plainPipeline(t *testing.T, name, source, target string) string {
	t.Helper()
	return writeConfig(t, "sluice.yaml", fmt.Sprintf(`
pipelines:
  %s:
    source: %s
    allow_plaintext: true
    targets: ["file://%s"]
`, name, source, target))
}
