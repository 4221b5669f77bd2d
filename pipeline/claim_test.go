package pipeline_test

import (
	"context"
	"errors"
	"slices"
	"strconv"
	"strings"
	"testing"

	"github.com/sluice-backup/sluice/pipeline"
)

// TestPlanName: a dry run's name is the one a run would use: the plain
// name, else the first numbered variant that no target holds as an
// object, a manifest or a claim. Targets not open are left out.
func TestPlanName(t *testing.T) {
	a, c := memTarget(t, "a"), memTarget(t, "c")
	notOpen := &pipeline.Target{URL: "file:///not/made/yet"} // Create pending: nothing there
	b := &pipeline.Backup{
		Source: pipeline.StreamSource("stdin", strings.NewReader("data"), -1), Stages: zstdChain(t),
		Targets: []*pipeline.Target{a, pipeline.UnavailableTarget("mem://down", errors.New("down")), notOpen, c}, Name: "db",
	}
	plan := func(want string) {
		t.Helper()
		got, err := b.PlanName(t.Context())
		if err != nil || got != want {
			t.Fatalf("PlanName = %q, %v; want %q", got, err, want)
		}
	}
	put := func(tg *pipeline.Target, key string) {
		t.Helper()
		if err := tg.Bucket.WriteAll(t.Context(), key, []byte("x"), nil); err != nil {
			t.Fatal(err)
		}
	}
	plan("db.zst")
	put(a, "db.zst")
	plan("db-2.zst")
	put(c, "db-2.zst"+pipeline.ManifestSuffix)
	plan("db-3.zst")
	put(a, "db-3.zst"+pipeline.ClaimSuffix)
	plan("db-4.zst")
	if got := keys(t, c); !slices.Equal(got, []string{"db-2.zst" + pipeline.ManifestSuffix}) {
		t.Errorf("PlanName wrote: %v", got)
	}
}

// TestTargetOccupiedAndCheckKey: a target's Occupied sees what Exists
// does not, so the backup takes the next name; its CheckKey refuses a
// name before anything is claimed or written, and Check says so without
// running.
func TestTargetOccupiedAndCheckKey(t *testing.T) {
	tg := memTarget(t, "o")
	tg.Occupied = func(ctx context.Context, key string) (bool, error) {
		if key == "obj.zst" {
			return true, nil // say, a folder of that name
		}
		return tg.Bucket.Exists(ctx, key)
	}
	b := &pipeline.Backup{
		Source: pipeline.StreamSource("stdin", strings.NewReader("data"), -1), Stages: zstdChain(t),
		Targets: []*pipeline.Target{tg}, Name: "obj", ExpectedSize: -1,
	}
	if got, err := b.PlanName(t.Context()); err != nil || got != "obj-2.zst" {
		t.Fatalf("PlanName = %q, %v; want obj-2.zst", got, err)
	}
	res, err := b.Run(t.Context())
	if err != nil || res.Object != "obj-2.zst" {
		t.Fatalf("Run stored %v, %v; want obj-2.zst", res, err)
	}

	refusing := memTarget(t, "r")
	refusing.CheckKey = func(key string) error {
		if strings.HasSuffix(key, ".zst") {
			return errors.New("no .zst here")
		}
		return nil
	}
	b = &pipeline.Backup{
		Source: pipeline.StreamSource("stdin", strings.NewReader("data"), -1), Stages: zstdChain(t),
		Targets: []*pipeline.Target{refusing}, Name: "obj", ExpectedSize: -1,
	}
	if err := b.Check(); err == nil || !strings.Contains(err.Error(), "no .zst here") || !strings.Contains(err.Error(), "mem://r") {
		t.Fatalf("Check: %v, want the target's refusal", err)
	}
	if _, err := b.Run(t.Context()); err == nil || !strings.Contains(err.Error(), "no .zst here") {
		t.Fatalf("Run: %v, want the target's refusal", err)
	}
	if got := keys(t, refusing); len(got) != 0 {
		t.Fatalf("refused backup wrote %v", got)
	}
}

// TestNoFreeNameCountsStaleClaims: when every variant of a fixed name is
// taken, the error says how many only a claim holds (runs killed
// outright leave theirs), since prune, which it also suggests, removes
// backups, never claims.
func TestNoFreeNameCountsStaleClaims(t *testing.T) {
	tg := memTarget(t, "full")
	b := &pipeline.Backup{
		Source:  pipeline.StreamSource("stdin", strings.NewReader("data"), -1),
		Targets: []*pipeline.Target{tg}, Name: "db", ExpectedSize: -1,
	}
	for i := 1; i <= 100; i++ {
		key := "db-" + strconv.Itoa(i)
		if i == 1 {
			key = "db"
		}
		if i%4 == 0 {
			key += pipeline.ManifestSuffix // a backup whose object was lost
		} else if i%3 != 0 {
			key += pipeline.ClaimSuffix
		}
		if err := tg.Bucket.WriteAll(t.Context(), key, []byte("x"), nil); err != nil {
			t.Fatal(err)
		}
	}
	// Of 100 variants, 25 hold a manifest, 25 an object (i%3 == 0 but
	// not i%4 == 0) and the other 50 only a claim.
	for _, run := range []func() error{
		func() error { _, err := b.PlanName(t.Context()); return err },
		func() error { _, err := b.Run(t.Context()); return err },
	} {
		err := run()
		if !errors.Is(err, pipeline.ErrExists) || !strings.Contains(err.Error(), "50 of them are held only by the claim") {
			t.Errorf("err = %v; want ErrExists saying 50 variants are held only by claims", err)

		}
	}
}
