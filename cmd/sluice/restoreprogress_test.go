package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"io"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/sluice-backup/sluice/backends"
	"github.com/sluice-backup/sluice/pipeline"
	"github.com/sluice-backup/sluice/pipeline/stagetest"
)

// backedUp stores size bytes of test data with age to a new file://
// folder and returns the object URL, the identity file and the data.
func backedUp(t *testing.T, size int) (url, identity string, data []byte) {
	t.Helper()
	identity, rec := keypair(t)
	data = stagetest.Data(size, 11)
	url = singleURL(t, mustCLI(t, bytes.NewReader(data), "backup", "-", "--to", "file://"+t.TempDir(), "-r", rec))
	return url, identity, data
}

// jsonEvents parses stderr as JSON lines, failing on any other line, and
// returns the events in order.
func jsonEvents(t *testing.T, stderr string) []map[string]any {
	t.Helper()
	var evs []map[string]any
	sc := bufio.NewScanner(strings.NewReader(stderr))
	for sc.Scan() {
		var ev map[string]any
		if err := json.Unmarshal(sc.Bytes(), &ev); err != nil {
			t.Fatalf("stderr line is not JSON: %q", sc.Text())
		}
		if _, err := time.Parse(time.RFC3339Nano, ev["time"].(string)); err != nil {
			t.Fatalf("%v: bad time: %v", ev["event"], err)
		}
		evs = append(evs, ev)
	}
	return evs
}

// TestRestoreJSON restores with --json to a file and to stdout: stderr
// holds restore_start, then restore_done with the stored and decoded
// sizes; stdout holds only the data. A restore that fails ends with
// restore_failed.
func TestRestoreJSON(t *testing.T) {
	url, identity, data := backedUp(t, 3<<20)
	stored, err := os.Stat(strings.TrimPrefix(url, "file://"))
	if err != nil {
		t.Fatal(err)
	}
	dest := filepath.Join(t.TempDir(), "out.bin")
	for _, to := range []string{dest, "-"} {
		stdout, stderr, code := cli(t, nil, "restore", url, "--to", to, "-i", identity, "--json")
		if code != 0 {
			t.Fatalf("--to %s: exit %d\n%s", to, code, stderr)
		}
		evs := jsonEvents(t, stderr)
		if len(evs) < 2 {
			t.Fatalf("--to %s: events %v", to, evs)
		}
		first, last := evs[0], evs[len(evs)-1]
		if first["event"] != "restore_start" || first["object"] != url || first["stored_size"].(float64) != float64(stored.Size()) ||
			!slicesEqual(first["stages"], []string{"zstd", "age"}) {
			t.Errorf("--to %s: first event %v", to, first)
		}
		for _, ev := range evs[1 : len(evs)-1] {
			if ev["event"] != "restore_progress" {
				t.Errorf("--to %s: unexpected event %v", to, ev)
			}
		}
		if last["event"] != "restore_done" || last["to"] != to || last["verified"] != true ||
			last["stored_bytes"].(float64) != float64(stored.Size()) || last["decoded_bytes"].(float64) != float64(len(data)) {
			t.Errorf("--to %s: last event %v", to, last)
		}
		if to == "-" && stdout != string(data) {
			t.Errorf("stdout holds %d bytes, want the %d restored", len(stdout), len(data))
		}
	}
	_, stderr, code := cli(t, nil, "restore", url, "--to", filepath.Join(t.TempDir(), "x"), "--json")
	evs := jsonEvents(t, stderr)
	if n := len(evs); code == 0 || n < 2 || evs[n-2]["event"] != "restore_failed" || !strings.Contains(evs[n-2]["error"].(string), "identity") ||
		evs[n-1]["event"] != "error" || evs[n-1]["exit_code"] != float64(code) {
		t.Errorf("restore without a key: exit %d, stderr:\n%s", code, stderr)
	}
	// An object whose folder cannot be opened fails before decoding
	// starts: restore_failed comes all the same.
	missing := "file://" + filepath.Join(t.TempDir(), "gone", "x.zst")
	_, stderr, code = cli(t, nil, "restore", missing, "--to", filepath.Join(t.TempDir(), "y"), "--json")
	evs = jsonEvents(t, stderr)
	if n := len(evs); code != 1 || n != 2 || evs[0]["event"] != "restore_failed" || evs[0]["object"] != missing ||
		!strings.Contains(evs[0]["error"].(string), "does not exist") || evs[1]["event"] != "error" {
		t.Errorf("restore of an object in a missing folder: exit %d, stderr:\n%s", code, stderr)
	}
	// A URL that is not one is a usage error: no restore was attempted.
	_, stderr, code = cli(t, nil, "restore", "bogus://b/x", "--to", filepath.Join(t.TempDir(), "z"), "--json")
	if evs = jsonEvents(t, stderr); code != 2 || len(evs) != 1 || evs[0]["event"] != "error" {
		t.Errorf("restore of an unknown scheme: exit %d, stderr:\n%s", code, stderr)
	}
}

func slicesEqual(v any, want []string) bool {
	got, ok := v.([]any)
	if !ok || len(got) != len(want) {
		return false
	}
	for i := range got {
		if got[i] != want[i] {
			return false
		}
	}
	return true
}

// TestRestoreProgressEvent reads part of an object and checks the
// progress event the reporter makes from its counters: stored bytes,
// decoded bytes, percent and ETA of the stored size.
func TestRestoreProgressEvent(t *testing.T) {
	url, identity, _ := backedUp(t, 4<<20)
	keys, err := decodeKeys(pipeline.Default, &keyFlags{identities: []string{identity}})
	if err != nil {
		t.Fatal(err)
	}
	tg, name, err := backends.OpenObject(t.Context(), pipeline.Default, url)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	obj, err := (&pipeline.Decoder{Keys: keys}).Open(t.Context(), tg, name)
	if err != nil {
		t.Fatal(err)
	}
	defer obj.Close()
	var buf bytes.Buffer
	r := newRestoreReporter(&buf, true, false, time.Hour, url)
	r.opened(obj)
	if _, err := io.CopyN(io.Discard, obj, 1<<20); err != nil {
		t.Fatal(err)
	}
	ev := r.progressEvent()
	if ev.DecodedBytes != 1<<20 || ev.StoredBytes <= 0 || ev.StoredBytes > obj.StoredSize {
		t.Fatalf("progress after 1 MiB: %+v (stored size %d)", ev, obj.StoredSize)
	}
	if ev.Percent == nil || *ev.Percent <= 0 || *ev.Percent > 100 || ev.Event != "restore_progress" {
		t.Fatalf("progress percent: %+v", ev)
	}
	if ev.StoredBytes < obj.StoredSize && (ev.ETASeconds == nil || *ev.ETASeconds < 0) {
		t.Fatalf("progress ETA: %+v", ev)
	}
	if !strings.Contains(buf.String(), `"event":"restore_start"`) {
		t.Fatalf("opened wrote %q, want a restore_start event", buf.String())
	}
}

// TestRestoreProgressBars checks restore's bars: none on a pipe by
// default (only the "restored" line), drawn with --progress always, and
// a bad mode is a usage error.
func TestRestoreProgressBars(t *testing.T) {
	fastProgress(t)
	url, identity, _ := backedUp(t, 2<<20)
	_, stderr, code := cli(t, nil, "restore", url, "--to", filepath.Join(t.TempDir(), "a"), "-i", identity)
	if code != 0 || strings.Contains(stderr, "restore ") || !strings.Contains(stderr, "restored "+url) {
		t.Fatalf("auto on a pipe: exit %d, stderr:\n%s", code, stderr)
	}
	_, stderr, code = cli(t, nil, "restore", url, "--to", filepath.Join(t.TempDir(), "b"), "-i", identity, "--progress", "always")
	if code != 0 || !strings.Contains(stderr, "restore ") || !strings.Contains(stderr, "2.0 MiB") || !strings.Contains(stderr, "restored "+url) {
		t.Fatalf("always on a pipe: exit %d, stderr:\n%s", code, stderr)
	}
	if _, stderr, code := cli(t, nil, "restore", url, "--to", "-", "--progress", "sometimes"); code != exitUsage || !strings.Contains(stderr, "--progress") {
		t.Fatalf("bad --progress: exit %d, stderr:\n%s", code, stderr)
	}
}

// TestRestoreProgressOnTerminal gives restore a pseudo-terminal as
// stderr: auto mode then draws the bar with the stored bytes of the
// object's size and the decoded bytes, then the "restored" line.
func TestRestoreProgressOnTerminal(t *testing.T) {
	fastProgress(t)
	url, identity, _ := backedUp(t, 6<<20)
	tty, screen := openTerminal(t)
	var stdout bytes.Buffer
	code := run([]string{"restore", url, "--to", filepath.Join(t.TempDir(), "out"), "-i", identity}, strings.NewReader(""), &stdout, tty)
	out := screen()
	if code != 0 {
		t.Fatalf("exit %d:\n%s", code, out)
	}
	for _, want := range []string{"restore ", " of ", "6.0 MiB", "/s", "\x1b[", "restored " + url} {
		if !strings.Contains(out, want) {
			t.Errorf("terminal output lacks %q:\n%q", want, out)
		}
	}
	if stdout.Len() != 0 {
		t.Errorf("stdout: %q", stdout.String())
	}
}
