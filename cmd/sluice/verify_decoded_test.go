package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestVerifyJSONDecoded runs verify --json along every path an object's
// check can take and checks that its verified or verify_failed event
// always has decoded, true only when the object was decoded (or decoding
// was tried on its data, which failed it).
func TestVerifyJSONDecoded(t *testing.T) {
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	key, rec := keypair(t)
	otherKey, _ := keypair(t)
	store := t.TempDir()
	backup := func(name string, args ...string) (url, path string) {
		url = singleURL(t, mustCLI(t, strings.NewReader("some data to keep\n"), append([]string{"backup", "-", "--to", "file://" + store, "--name", name}, args...)...))
		return url, strings.TrimPrefix(url, "file://")
	}
	enc, _ := backup("enc", "-r", rec)
	plain, _ := backup("plain", "--encrypt", "none")
	foreign, foreignPath := backup("foreign", "-r", rec)
	must(os.Remove(foreignPath + ".sluice.json"))
	gone, gonePath := backup("gone", "-r", rec)
	must(os.Remove(gonePath))
	badManifest, badManifestPath := backup("badmanifest", "-r", rec)
	must(os.WriteFile(badManifestPath+".sluice.json", []byte("{garbage"), 0o644))
	damaged, damagedPath := backup("damaged", "-r", rec)
	b, err := os.ReadFile(damagedPath)
	must(err)
	b[len(b)-20] ^= 1 // in the last age chunk, past the header
	must(os.WriteFile(damagedPath, b, 0o644))

	// A pipeline's backup whose object is gone: verify knows it from the
	// listing, without looking for the object.
	src := filepath.Join(t.TempDir(), "vd")
	must(os.WriteFile(src, []byte("pipeline data\n"), 0o644))
	cfg := writeConfig(t, "vd.yaml", fmt.Sprintf(`pipelines:
  vd:
    source: %s
    stages: [zstd, {age: {recipient: %s}}]
    targets: [file://%s]
`, src, rec, t.TempDir()))
	must(os.Remove(strings.TrimPrefix(singleURL(t, mustCLI(t, nil, "--config", cfg, "run")), "file://")))

	for _, c := range []struct {
		name    string
		args    []string
		event   string
		decoded bool
		says    string // in the event's error, if set
	}{
		{"key", []string{enc, "-i", key}, "verified", true, ""},
		{"no key, checksum only", []string{enc}, "verified", false, ""},
		{"wrong key", []string{enc, "-i", otherKey}, "verify_failed", false, "the stored object is intact"},
		{"unencrypted", []string{plain}, "verified", true, ""},
		{"no manifest, no key", []string{foreign}, "verify_failed", false, ""},
		{"no manifest, key", []string{foreign, "-i", key}, "verified", true, ""},
		{"missing object", []string{gone}, "verify_failed", false, ""},
		{"missing object, key", []string{gone, "-i", key}, "verify_failed", false, ""},
		{"pipeline, missing object", []string{"--config", cfg, "vd"}, "verify_failed", false, ""},
		{"pipeline, missing object, key", []string{"--config", cfg, "vd", "-i", key}, "verify_failed", false, ""},
		{"unreadable manifest", []string{badManifest}, "verify_failed", false, ""},
		{"unreadable manifest, key", []string{badManifest, "-i", key}, "verify_failed", false, "move the manifest"},
		{"damaged, checksum only", []string{damaged}, "verify_failed", false, ""},
		{"damaged, key", []string{damaged, "-i", key}, "verify_failed", true, ""},
	} {
		t.Run(c.name, func(t *testing.T) {
			_, stderr, _ := cli(t, nil, append([]string{"verify", "--json"}, c.args...)...)
			evs := jsonEvents(t, stderr)
			if len(evs) == 0 || evs[0]["event"] != c.event || evs[0]["decoded"] != c.decoded {
				t.Fatalf("want a %s event with decoded %v first, got:\n%s", c.event, c.decoded, stderr)
			}
			if msg, _ := evs[0]["error"].(string); !strings.Contains(msg, c.says) {
				t.Errorf("the event's error does not say %q:\n%s", c.says, stderr)
			}
		})
	}
}
