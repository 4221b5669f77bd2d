package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/creack/pty"

	"github.com/sluice-backup/sluice/pipeline"
	"github.com/sluice-backup/sluice/pipeline/stagetest"
)

// slowReader yields data in 64 KiB reads with a pause between them, so a
// backup runs for several progress intervals of the sped-up test clock.
type slowReader struct {
	r     io.Reader
	pause time.Duration
}

func (s *slowReader) Read(p []byte) (int, error) {
	time.Sleep(s.pause)
	return s.r.Read(p[:min(len(p), 64<<10)])
}

func fastProgress(t *testing.T) {
	oldJ, oldB := jsonInterval, barInterval
	jsonInterval, barInterval = 5*time.Millisecond, 5*time.Millisecond
	t.Cleanup(func() { jsonInterval, barInterval = oldJ, oldB })
}

// TestJSONEvents runs a backup with --json into a pipe-like buffer and
// checks every stderr line is a JSON object and the events follow the
// documented schema: start, progress, one target_done per target,
// summary. stdout still carries only the URLs.
func TestJSONEvents(t *testing.T) {
	fastProgress(t)
	_, rec := keypair(t)
	data := stagetest.Data(2<<20, 5)
	dirs := []string{t.TempDir(), t.TempDir()}
	stdout, stderr, code := cli(t, &slowReader{r: bytes.NewReader(data), pause: 3 * time.Millisecond},
		"backup", "-", "--json", "--to", "file://"+dirs[0], "--to", "file://"+dirs[1], "-r", rec)
	if code != 0 {
		t.Fatalf("exit %d\n%s", code, stderr)
	}
	if lines := strings.Split(strings.TrimSpace(stdout), "\n"); len(lines) != 2 {
		t.Fatalf("stdout: %q", stdout)
	}
	counts := map[string]int{}
	var last map[string]any
	sc := bufio.NewScanner(strings.NewReader(stderr))
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("stderr line is not JSON: %q", sc.Text())
		}
		name, _ := ev["event"].(string)
		if name == "" {
			// slog records in JSON: allowed, documented.
			if ev["msg"] == nil {
				t.Fatalf("JSON line with neither event nor msg: %q", sc.Text())
			}
			continue
		}
		if _, err := time.Parse(time.RFC3339Nano, ev["time"].(string)); err != nil {
			t.Fatalf("%s: bad time: %v", name, err)
		}
		counts[name]++
		switch name {
		case "start":
			if counts["progress"] > 0 || len(ev["targets"].([]any)) != 2 || ev["source_size"] != nil {
				t.Errorf("start: %v", ev)
			}
		case "progress":
			for _, k := range []string{"bytes_in", "bytes_out", "seconds", "bytes_per_sec", "ratio"} {
				if _, ok := ev[k].(float64); !ok {
					t.Errorf("progress lacks %s: %v", k, ev)
				}
			}
		case "target_done":
			if ev["ok"] != true || !strings.HasPrefix(ev["url"].(string), "file://") {
				t.Errorf("target_done: %v", ev)
			}
		}
		last = ev
	}
	if counts["start"] != 1 || counts["progress"] < 1 || counts["target_done"] != 2 || counts["summary"] != 1 {
		t.Fatalf("event counts %v", counts)
	}
	if last["event"] != "summary" || last["bytes_in"].(float64) != float64(len(data)) || last["ok"].(float64) != 2 || last["ratio"].(float64) <= 0 {
		t.Fatalf("summary: %v", last)
	}
}

// TestJSONTargetFailed checks the event a failed target produces (the
// pipeline tests cover when TargetDone is called).
func TestJSONTargetFailed(t *testing.T) {
	var buf bytes.Buffer
	r := newReporter(&buf, true, false, time.Hour)
	r.Started(pipeline.BackupStart{Object: "o.zst", SourceSize: -1, Targets: []string{"mem://a", "mem://b"}})
	r.Wrote(1, 10)
	r.TargetDone(1, pipeline.TargetResult{Target: "mem://b", Err: errors.New("target mem://b: write: disk full")})
	lines := strings.Split(strings.TrimSpace(buf.String()), "\n")
	if len(lines) != 2 {
		t.Fatalf("events: %q", buf.String())
	}
	var ev map[string]any
	if err := json.Unmarshal([]byte(lines[1]), &ev); err != nil {
		t.Fatal(err)
	}
	if ev["event"] != "target_failed" || ev["ok"] != false || ev["target"] != "mem://b" || ev["bytes"].(float64) != 10 || !strings.Contains(ev["error"].(string), "disk full") {
		t.Fatalf("target_failed event: %v", ev)
	}
}

// TestProgressOnPipe checks the default (auto) shows no bars on a
// non-terminal, only the human summary line, and that always forces them.
func TestProgressOnPipe(t *testing.T) {
	fastProgress(t)
	_, rec := keypair(t)
	data := stagetest.Data(1<<20, 6)
	_, stderr, code := cli(t, bytes.NewReader(data), "backup", "-", "--to", "file://"+t.TempDir(), "-r", rec)
	if code != 0 || strings.Contains(stderr, "read ") || !strings.Contains(stderr, "backup: 1.0 MiB") {
		t.Fatalf("auto on a pipe: exit %d, stderr:\n%s", code, stderr)
	}
	dir := t.TempDir()
	_, stderr, code = cli(t, &slowReader{r: bytes.NewReader(data), pause: 2 * time.Millisecond},
		"backup", "-", "--progress", "always", "--to", "file://"+dir, "-r", rec)
	if code != 0 || !strings.Contains(stderr, "read ") || !strings.Contains(stderr, "file://"+dir) || !strings.Contains(stderr, "ratio") {
		t.Fatalf("always on a pipe: exit %d, stderr:\n%s", code, stderr)
	}
	_, stderr, _ = cli(t, bytes.NewReader(data), "backup", "-", "--progress", "never", "--json", "--to", "file://"+t.TempDir(), "-r", rec)
	if strings.Contains(stderr, "read ") {
		t.Fatalf("bars with --json:\n%s", stderr)
	}
}

// TestProgressOnTerminal gives backup a pseudo-terminal as stderr: auto
// mode then draws bars with the bytes read, throughput, ratio, ETA (the
// source size is known) and one line per target.
func TestProgressOnTerminal(t *testing.T) {
	fastProgress(t)
	tty, screen := openTerminal(t)
	_, rec := keypair(t)
	src := filepath.Join(t.TempDir(), "data.bin")
	if err := os.WriteFile(src, stagetest.Data(6<<20, 9), 0o600); err != nil {
		t.Fatal(err)
	}
	dirs := []string{t.TempDir(), t.TempDir()}
	var stdout bytes.Buffer
	code := run([]string{"backup", src, "--to", "file://" + dirs[0], "--to", "file://" + dirs[1], "-r", rec, "--bwlimit-target", "8MiB",
		// Small frames keep little in flight, so reading is paced by the
		// limit and the ETA shows.
		"-o", "zstd.frame_size=65536"},
		strings.NewReader(""), &stdout, tty)
	out := screen()
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{"read ", "ratio", "ETA", "/s", "file://" + dirs[0], "file://" + dirs[1], "\x1b[", "backup: 6.0 MiB"} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal output lacks %q:\n%q", want, out)
		}
	}
	if strings.Contains(stdout.String(), "read") || len(strings.Split(strings.TrimSpace(stdout.String()), "\n")) != 2 {
		t.Errorf("stdout: %q", stdout.String())
	}
}

// openTerminal opens a pseudo-terminal of 40 × 160 for a command's
// stderr. screen closes the terminal's end the command wrote to and
// returns everything written.
func openTerminal(t *testing.T) (tty *os.File, screen func() string) {
	t.Helper()
	return openSizedTerminal(t, 40, 160)
}

// openSizedTerminal is openTerminal with rows × cols (0 × 0: a pty nobody
// sized).
func openSizedTerminal(t *testing.T, rows, cols uint16) (tty *os.File, screen func() string) {
	t.Helper()
	ptmx, tty, err := pty.Open()
	if err != nil {
		skipOutsideCI(t, "no pty: %v", err)
	}
	t.Cleanup(func() { ptmx.Close() })
	if err := pty.Setsize(ptmx, &pty.Winsize{Rows: rows, Cols: cols}); err != nil {
		t.Fatal(err)
	}
	out := make(chan string)
	go func() {
		b, _ := io.ReadAll(ptmx)
		out <- string(b)
	}()
	return tty, func() string {
		tty.Close()
		return <-out
	}
}

// TestProgressOnUnsizedTerminal: a terminal that reports no size (a pty
// `script` opens from a non-interactive shell) still gets bars, drawn at
// 100 columns; mpb would size them to the terminal's 0 columns.
func TestProgressOnUnsizedTerminal(t *testing.T) {
	fastProgress(t)
	tty, screen := openSizedTerminal(t, 0, 0)
	_, rec := keypair(t)
	var stdout bytes.Buffer
	code := run([]string{"backup", "-", "--to", "file://" + t.TempDir(), "-r", rec},
		&slowReader{r: bytes.NewReader(stagetest.Data(2<<20, 4)), pause: 2 * time.Millisecond}, &stdout, tty)
	out := screen()
	if code != 0 || !strings.Contains(out, "read ") || !strings.Contains(out, "ratio") {
		t.Fatalf("exit %d, no bars on an unsized terminal:\n%q", code, out)
	}
}

// TestRunPerfFlags checks run's --workers and --upload-memory: --workers
// sets zstd.concurrency on the selected pipelines that use zstd, and
// --upload-memory replaces the upload_memory key; the dry run shows
// both (and the default budget of a pipeline that sets none). Bad values, and --workers with no zstd pipeline selected, are
// usage errors.
func TestRunPerfFlags(t *testing.T) {
	_, rec := keypair(t)
	cfg := writeConfig(t, "sluice.yaml", fmt.Sprintf(`defaults:
  stages: [zstd, {age: {recipient: %s}}]
  targets: [file://%s]
pipelines:
  docs:
    source: %s
    upload_memory: 64MiB
  logs:
    source: %s
    stages: [gzip, {age: {recipient: %s}}]
`, rec, t.TempDir(), t.TempDir(), t.TempDir(), rec))
	_, stderr, code := cli(t, nil, "--config", cfg, "run", "--dry-run")
	docs, logs, _ := strings.Cut(stderr, "dry run logs:")
	if code != 0 || !strings.Contains(docs, "upload memory 64.0 MiB") || !strings.Contains(docs, "stage zstd: concurrency=0 ") || !strings.Contains(logs, "upload memory 48.0 MiB") {
		t.Fatalf("run --dry-run: exit %d\n%s", code, stderr)
	}
	_, stderr, code = cli(t, nil, "--config", cfg, "run", "--dry-run", "--workers", "3", "--upload-memory", "96MiB")
	docs, logs, _ = strings.Cut(stderr, "dry run logs:")
	if code != 0 || !strings.Contains(docs, "upload memory 96.0 MiB") || !strings.Contains(docs, "stage zstd: concurrency=3 ") ||
		!strings.Contains(logs, "upload memory 96.0 MiB") || !strings.Contains(logs, "stage gzip:") || strings.Contains(logs, "zstd") {
		t.Fatalf("run --dry-run --workers 3 --upload-memory 96MiB: exit %d\n%s", code, stderr)
	}
	for _, args := range [][]string{
		{"--workers", "2", "logs"},
		{"--workers", "-1"},
		{"--upload-memory", "8MiB"},
		{"--upload-memory", "lots"},
	} {
		full := append([]string{"--config", cfg, "run", "--dry-run"}, args...)
		if _, stderr, code := cli(t, nil, full...); code != exitUsage || !strings.Contains(stderr, args[0]) {
			t.Errorf("%v: exit %d, want %d naming %s\n%s", args, code, exitUsage, args[0], stderr)
		}
	}
}

func TestBadPerfFlags(t *testing.T) {
	_, rec := keypair(t)
	for _, args := range [][]string{
		{"--workers", "-1"},
		{"--workers", "2", "--compress", "gzip"},
		{"--bwlimit", "fast"},
		{"--bwlimit-target", "10"},
		{"--upload-memory", "lots"},
		{"--upload-memory", "8MiB"},
	} {
		full := append([]string{"backup", "-", "--to", "file://" + t.TempDir(), "-r", rec}, args...)
		if _, stderr, code := cli(t, nil, full...); code != exitUsage {
			t.Errorf("%v: exit %d, want %d\n%s", args, code, exitUsage, stderr)
		}
	}
	// --workers reaches the zstd stage.
	out := mustCLI(t, bytes.NewReader(stagetest.Data(100<<10, 1)), "backup", "-", "--workers", "3", "--to", "file://"+t.TempDir(), "-r", rec)
	singleURL(t, out)
}

// TestRunBandwidth checks that declared pipelines take upload limits from
// their bwlimit keys and that run's flags replace them; --dry-run shows
// the limits a run would apply (the limiter's pacing is measured by
// sluice-bench -mode bwlimit, not against the clock here).
func TestRunBandwidth(t *testing.T) {
	_, rec := keypair(t)
	cfg := writeConfig(t, "sluice.yaml", fmt.Sprintf(`defaults:
  stages: [zstd, {age: {recipient: %s}}]
  targets: [file://%s]
  bwlimit: 8MiB
pipelines:
  docs:
    source: %s
    bwlimit_target: 2MiB/s
  etc:
    source: %s
`, rec, t.TempDir(), t.TempDir(), t.TempDir()))
	for _, tc := range []struct {
		flags      []string
		docs, etcs []string // lines the dry run prints for each pipeline
		absent     []string
	}{
		{nil,
			[]string{"8.0 MiB/s for all targets together", "2.0 MiB/s per target"},
			[]string{"8.0 MiB/s for all targets together"}, nil},
		{[]string{"--bwlimit", "1MiB", "--bwlimit-target", "512KiB"},
			[]string{"1.0 MiB/s for all targets together", "512.0 KiB/s per target"},
			[]string{"1.0 MiB/s for all targets together", "512.0 KiB/s per target"},
			[]string{"8.0 MiB/s", "2.0 MiB/s"}},
	} {
		args := append([]string{"--config", cfg, "run", "--dry-run"}, tc.flags...)
		_, stderr, code := cli(t, nil, args...)
		if code != 0 {
			t.Fatalf("%v: exit %d: %s", tc.flags, code, stderr)
		}
		docs, etc, _ := strings.Cut(stderr, "dry run etc:")
		for _, c := range []struct {
			text string
			want []string
		}{{docs, tc.docs}, {etc, tc.etcs}} {
			for _, w := range c.want {
				if !strings.Contains(c.text, "upload limit "+w) {
					t.Errorf("%v: missing %q in:\n%s", tc.flags, w, c.text)
				}
			}
		}
		if !strings.Contains(docs, "dry run docs:") || strings.Contains(etc, "per target") && tc.flags == nil {
			t.Errorf("%v: unexpected dry run output:\n%s", tc.flags, stderr)
		}
		for _, a := range tc.absent {
			if strings.Contains(stderr, a) {
				t.Errorf("%v: flags must replace the keys, yet %q shows:\n%s", tc.flags, a, stderr)
			}
		}
	}
	if _, stderr, code := cli(t, nil, "--config", cfg, "run", "--dry-run", "--bwlimit", "fast"); code != 2 || !strings.Contains(stderr, "--bwlimit") {
		t.Errorf("bad --bwlimit: exit %d, %s", code, stderr)
	}
}

// TestJSONExpectedSize checks the expected size of a source whose size is
// not known: a directory's start event carries its measured tar length,
// which is exactly what the backup then reads; stdin's carries
// --expected-size. Progress takes its percent and ETA from it, and an
// expected size that the source passes caps the percent at 100 and
// drops the ETA.
func TestJSONExpectedSize(t *testing.T) {
	_, rec := keypair(t)
	dir := t.TempDir()
	for i := range 5 {
		if err := os.WriteFile(filepath.Join(dir, fmt.Sprintf("f%d", i)), stagetest.Data(100_000*i+1, uint64(i)), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	events := func(stdin io.Reader, args ...string) (start, summary map[string]any) {
		t.Helper()
		_, stderr, code := cli(t, stdin, append(args, "--json", "--to", "file://"+t.TempDir(), "-r", rec)...)
		if code != 0 {
			t.Fatalf("exit %d\n%s", code, stderr)
		}
		for _, ev := range jsonEvents(t, stderr) {
			switch ev["event"] {
			case "start":
				start = ev
			case "summary":
				summary = ev
			}
		}
		return start, summary
	}
	start, summary := events(nil, "backup", dir)
	if start["source_size"] != nil || start["expected_size"] == nil || start["expected_size"] != summary["bytes_in"] {
		t.Errorf("directory: start %v, summary read %v bytes", start, summary["bytes_in"])
	}
	start, _ = events(bytes.NewReader(stagetest.Data(1<<20, 1)), "backup", "-", "--expected-size", "3MiB")
	if start["source_size"] != nil || start["expected_size"] != float64(3<<20) {
		t.Errorf("stdin with --expected-size: start %v", start)
	}

	r := newReporter(io.Discard, true, false, time.Hour)
	r.Started(pipeline.BackupStart{Object: "o.tar.zst", SourceSize: -1, ExpectedSize: 1000, Targets: []string{"mem://a"}})
	r.Read(250)
	if ev := r.progressEvent(); ev.Percent == nil || *ev.Percent != 25 || ev.ETASeconds == nil {
		t.Errorf("a quarter of the expected size: %+v", ev)
	}
	r.Read(1000)
	if ev := r.progressEvent(); ev.Percent == nil || *ev.Percent != 100 || ev.ETASeconds != nil {
		t.Errorf("past the expected size: %+v", ev)
	}
}

// TestDryRunJSON checks --dry-run --json: stderr holds only one
// "dry_run" event per backup, stdout nothing. A directory's event carries
// its measured size, which is what the backup then reads, or the size
// --expected-size gives, which replaces the walk; run's events
// name their pipeline and the options each stage would run with.
func TestDryRunJSON(t *testing.T) {
	_, rec := keypair(t)
	tree := makeTree(t)
	store := t.TempDir()
	stdout, stderr, code := cli(t, nil, "backup", tree, "--to", "file://"+store, "-r", rec, "--dry-run", "--json", "--bwlimit-target", "2MiB")
	evs := jsonEvents(t, stderr)
	if code != 0 || stdout != "" || len(evs) != 1 {
		t.Fatalf("backup --dry-run --json: exit %d, stdout %q\n%s", code, stdout, stderr)
	}
	ev := evs[0]
	if ev["event"] != "dry_run" || !strings.HasSuffix(ev["object"].(string), ".tar.zst.age") ||
		fmt.Sprint(ev["stages"]) != "[tar zstd age]" || ev["files"] == nil || ev["entries"] == nil ||
		fmt.Sprint(ev["targets"]) != "[file://"+store+"]" || ev["bwlimit_target"] != float64(2<<20) || ev["source_size"] != nil {
		t.Errorf("dry_run event: %v", ev)
	}
	if entries, _ := os.ReadDir(store); len(entries) != 0 {
		t.Fatalf("dry run stored %d entries", len(entries))
	}
	_, stderr, _ = cli(t, nil, "backup", tree, "--to", "file://"+store, "-r", rec, "--json")
	var read any
	for _, done := range jsonEvents(t, stderr) {
		if done["event"] == "summary" {
			read = done["bytes_in"]
		}
	}
	if read == nil || read != ev["expected_size"] {
		t.Errorf("dry run expected %v bytes, the backup read %v", ev["expected_size"], read)
	}
	// --expected-size replaces the walk, in the dry run as in the backup:
	// the size given is reported, and no file or entry counts.
	_, stderr, code = cli(t, nil, "backup", tree, "--to", "file://"+store, "-r", rec, "--dry-run", "--json", "--expected-size", "1MiB")
	if evs = jsonEvents(t, stderr); code != 0 || len(evs) != 1 || evs[0]["expected_size"] != float64(1<<20) || evs[0]["files"] != nil || evs[0]["entries"] != nil {
		t.Errorf("backup --dry-run --expected-size 1MiB: exit %d\n%s", code, stderr)
	}

	cfg := writeConfig(t, "sluice.yaml", fmt.Sprintf(`pipelines:
  docs:
    source: %s
    stages: [{zstd: {level: 7}}, {age: {recipient: %s}}]
    targets: [file://%s]
`, tree, rec, store))
	stdout, stderr, code = cli(t, nil, "--config", cfg, "run", "--dry-run", "--json")
	evs = jsonEvents(t, stderr)
	if code != 0 || stdout != "" || len(evs) != 1 {
		t.Fatalf("run --dry-run --json: exit %d, stdout %q\n%s", code, stdout, stderr)
	}
	opts, _ := evs[0]["options"].(map[string]any)
	zstdOpts, _ := opts["zstd"].(map[string]any)
	if evs[0]["pipeline"] != "docs" || zstdOpts["level"] != "7" || evs[0]["expected_size"] != ev["expected_size"] {
		t.Errorf("run's dry_run event: %v", evs[0])
	}
	// The upload memory budget is the one the backup would use, default
	// or not, in backup's dry run and in run's alike.
	if ev["upload_memory"] != float64(48<<20) || evs[0]["upload_memory"] != float64(48<<20) {
		t.Errorf("upload_memory %v (backup), %v (run), want the default %d", ev["upload_memory"], evs[0]["upload_memory"], 48<<20)
	}
}

// TestJSONError checks that a command failing with --json ends stderr
// with an "error" event carrying the message and the exit status, where
// the text mode prints "sluice: ERROR": every line stays JSON, and the
// missing path is named somewhere in them.
func TestJSONError(t *testing.T) {
	missing := filepath.Join(t.TempDir(), "missing")
	for _, args := range [][]string{
		{"backup", missing, "--to", "file://" + t.TempDir(), "--encrypt", "none"},
		{"restore", "file://" + missing + "/x.zst", "--to", "-"},
		{"verify", "file://" + missing + "/x.zst"},
	} {
		_, stderr, code := cli(t, nil, append(args, "--json")...)
		evs := jsonEvents(t, stderr)
		if code == 0 || len(evs) == 0 {
			t.Fatalf("%v --json: exit %d\n%s", args, code, stderr)
		}
		last := evs[len(evs)-1]
		if msg, _ := last["error"].(string); last["event"] != "error" || last["exit_code"] != float64(code) || msg == "" || !strings.Contains(stderr, "missing") {
			t.Errorf("%v --json: last event %v", args, last)
		}
		_, stderr, textCode := cli(t, nil, args...)
		if textCode != code || !strings.HasPrefix(stderr[strings.LastIndex(strings.TrimSpace(stderr), "\n")+1:], "sluice: ") {
			t.Errorf("%v: exit %d, stderr:\n%s", args, textCode, stderr)
		}
	}
}
