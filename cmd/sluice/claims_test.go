package main

import (
	"encoding/json"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-backup/sluice/pipeline"
)

// TestClaimsInvisible checks that claim objects — one left by a killed
// run, one held by a backup still running — are never listed, counted,
// verified or pruned, that a new backup skips the stale claim's name, and
// that prune leaves both claims alone.
func TestClaimsInvisible(t *testing.T) {
	key, rec := keypair(t)
	tree := makeTree(t)
	store := t.TempDir()
	cfg := writeConfig(t, "sluice.yaml", `
pipelines:
  docs:
    source: `+tree+`
    stages: [zstd, {age: {recipients_file: `+recipientFile(t, rec)+`, identity_file: `+key+`}}]
    targets: [file://`+store+`]
    name: "{pipeline}-fixed"
    retention: {keep_last: 1}
`)
	// A claim left by a run killed outright, on the name the next run
	// would take.
	stale := filepath.Join(store, "docs-fixed.tar.zst.age"+pipeline.ClaimSuffix)
	body, _ := json.Marshal(map[string]any{"object": "docs-fixed.tar.zst.age", "host": "gone", "pid": 1, "started": time.Now().Add(-48 * time.Hour)})
	if err := os.WriteFile(stale, body, 0o644); err != nil {
		t.Fatal(err)
	}
	first := singleURL(t, mustCLI(t, nil, "--config", cfg, "run", "docs"))
	if !strings.HasSuffix(first, "/docs-fixed-2.tar.zst.age") {
		t.Fatalf("first run stored %s, want the next free name docs-fixed-2 past the stale claim", first)
	}
	second := singleURL(t, mustCLI(t, nil, "--config", cfg, "run", "docs"))
	if !strings.HasSuffix(second, "/docs-fixed-3.tar.zst.age") {
		t.Fatalf("second run stored %s, want docs-fixed-3", second)
	}

	// A backup still running on the same target holds its claim.
	c := startChild(t, nil, "backup", "-", "--to", "file://"+store, "--name", "live", "-r", rec)
	c.feedForever()
	var live string
	for deadline := time.Now().Add(time.Minute); live == "" && time.Now().Before(deadline); time.Sleep(20 * time.Millisecond) {
		claims, _ := filepath.Glob(filepath.Join(store, "live*"+pipeline.ClaimSuffix))
		if len(claims) > 0 {
			live = claims[0]
		}
	}
	if live == "" {
		t.Fatal("the running backup holds no claim")
	}

	urls := func(l []listed) []string {
		var out []string
		for _, e := range l {
			out = append(out, e.URL)
		}
		return out
	}
	for _, args := range [][]string{{"docs"}, {"file://" + store}} {
		got := urls(listJSON(t, append([]string{"--config", cfg}, args...)...))
		if !slices.Equal(got, []string{second, first}) {
			t.Errorf("list %v: %q, want only the two finished backups", args, got)
		}
		text := mustCLI(t, nil, append([]string{"--config", cfg, "list"}, args...)...)
		if strings.Contains(text, "claim") || strings.Contains(text, "live") {
			t.Errorf("list %v shows a claim or a running backup:\n%s", args, text)
		}
	}
	_, errs, code := cli(t, nil, "--config", cfg, "verify", "--json", "docs")
	if code != 0 || strings.Contains(errs, "claim") || strings.Count(errs, `"event":"verified"`) != 2 {
		t.Errorf("verify: exit %d, want two objects checked and no claim:\n%s", code, errs)
	}
	_, errs, code = cli(t, nil, "--config", cfg, "prune", "--json", "docs")
	if code != 0 || strings.Contains(errs, "claim") {
		t.Errorf("prune: exit %d\n%s", code, errs)
	}
	if got := urls(listJSON(t, "--config", cfg, "docs")); !slices.Equal(got, []string{second}) {
		t.Errorf("after prune keep_last 1: %q, want %s", got, second)
	}
	for _, p := range []string{stale, live} {
		if _, err := os.Stat(p); err != nil {
			t.Errorf("prune touched claim %s: %v", p, err)
		}
	}

	// The running backup is interrupted: it removes its claim (and stores
	// nothing); the stale claim stays until removed by hand.
	c.cmd.Process.Signal(os.Interrupt)
	c.wait(t, time.Minute)
	if _, err := os.Stat(live); !os.IsNotExist(err) {
		t.Errorf("claim %s outlived its run: %v", live, err)
	}
	if _, err := os.Stat(stale); err != nil {
		t.Errorf("stale claim gone: %v", err)
	}
}
