package pipeline_test

import (
	"context"
	"errors"
	"slices"
	"strings"
	"testing"

	"github.com/sluice-backup/sluice/pipeline"
)

// TestCatalogMissingObject deletes the object of a backup and leaves its
// manifest: the catalog lists it as missing, verify reports it not found,
// and prune lets it take no stored backup's place and removes its manifest
// once retention lets it go.
func TestCatalogMissingObject(t *testing.T) {
	ctx := context.Background()
	target := openMem(t, "mem://catalog-missing/p")
	var names []string
	for _, day := range []string{"2026-01-01", "2026-01-02", "2026-01-03"} {
		names = append(names, storeAs(t, target, "a", "src", at(day+" 04:00")))
	}
	lost := names[2] // the newest
	if err := target.Bucket.Delete(ctx, target.Key(lost)); err != nil {
		t.Fatal(err)
	}
	entries, err := pipeline.Catalog(ctx, target, "a")
	if err != nil || len(entries) != 3 {
		t.Fatalf("catalog: %d entries, %v", len(entries), err)
	}
	for _, e := range entries {
		if e.Missing != (e.Name == lost) || e.Manifest == nil {
			t.Errorf("%s: missing %v, manifest %v", e.Name, e.Missing, e.Manifest)
		}
	}
	if err := pipeline.VerifyStored(ctx, target, lost, entries[0].Manifest); !errors.Is(err, pipeline.ErrNotFound) {
		t.Errorf("verify of the lost backup: %v", err)
	}

	items, err := pipeline.Prune(ctx, target, "a", pipeline.Retention{Last: 1}, false)
	if err != nil {
		t.Fatal(err)
	}
	// The lost backup is the newest of all, so its record stays; the
	// newest stored one is kept as if the lost one were not there.
	if got, want := keptNames(items), []string{names[1], lost}; !slices.Equal(got, want) {
		t.Fatalf("kept %q, want %q", got, want)
	}
	newest := storeAs(t, target, "a", "src", at("2026-01-04 04:00"))
	items, err = pipeline.Prune(ctx, target, "a", pipeline.Retention{Last: 1}, false)
	if err != nil {
		t.Fatal(err)
	}
	if got := keptNames(items); !slices.Equal(got, []string{newest}) {
		t.Fatalf("kept %q, want only %s", got, newest)
	}
	if ok, _ := target.Bucket.Exists(ctx, target.Key(lost+pipeline.ManifestSuffix)); ok {
		t.Errorf("the manifest of the lost backup was not removed")
	}
	if entries, _ := pipeline.Catalog(ctx, target, "a"); len(entries) != 1 {
		t.Errorf("after prune: %d entries, want 1", len(entries))
	}
}

// TestListBackupsElsewhere lists the parent of a prefix backups were
// written under, and a folder a name template with a "/" made: the
// backups there are not entries (prune of the parent must not touch
// them) but are counted, with the URL they belong to.
func TestListBackupsElsewhere(t *testing.T) {
	ctx := context.Background()
	photos := openMem(t, "mem://catalog-elsewhere/photos")
	storeAs(t, photos, "a", "src", at("2026-01-01 04:00"))
	storeAs(t, photos, "b", "src", at("2026-01-01 05:00"))
	root := openMem(t, "mem://catalog-elsewhere")
	l, err := pipeline.ListBackups(ctx, root, "")
	if err != nil || len(l.Entries) != 0 || l.Elsewhere != 2 || !slices.Equal(l.ElsewhereURLs, []string{"mem://catalog-elsewhere/photos"}) {
		t.Fatalf("parent: %+v, %v", l, err)
	}
	if l, err := pipeline.ListBackups(ctx, root, "a"); err != nil || l.Elsewhere != 1 {
		t.Fatalf("parent, pipeline a: %+v, %v", l, err)
	}

	b := &pipeline.Backup{
		Source:  pipeline.StreamSource("src", strings.NewReader("x"), -1),
		Targets: []*pipeline.Target{root}, Name: "sub/dir/{source}", Pipeline: "c", ExpectedSize: -1,
	}
	if _, err := b.Run(ctx); err != nil {
		t.Fatal(err)
	}
	sub := openMem(t, "mem://catalog-elsewhere/sub/dir")
	l, err = pipeline.ListBackups(ctx, sub, "")
	if err != nil || len(l.Entries) != 0 || l.Elsewhere != 1 || !slices.Equal(l.ElsewhereURLs, []string{"mem://catalog-elsewhere"}) {
		t.Fatalf("folder of a template: %+v, %v", l, err)
	}
	if l, err := pipeline.ListBackups(ctx, root, "c"); err != nil || len(l.Entries) != 1 || l.Elsewhere != 0 {
		t.Fatalf("root, pipeline c: %+v, %v", l, err)
	}

	// A target URL with a query (an endpoint): the URLs named keep it.
	const q = "?endpoint=http://127.0.0.1:9000&region=r"
	for _, tc := range []struct {
		target *pipeline.Target
		want   string
	}{
		{root, "mem://catalog-elsewhere/photos" + q},
		{sub, "mem://catalog-elsewhere" + q},
	} {
		withQuery := *tc.target
		withQuery.URL += q
		l, err := pipeline.ListBackups(ctx, &withQuery, "")
		if err != nil || l.Elsewhere == 0 || !slices.Equal(l.ElsewhereURLs, []string{tc.want}) {
			t.Errorf("%s: %+v, %v; want backups elsewhere at %s", withQuery.URL, l, err, tc.want)
		}
	}
}

// TestListBackupsPrefixIsObject lists with an object's name as the
// prefix: nothing is found and PrefixIsObject says why; a prefix that
// is no object, or one with backups under it, leaves it false.
func TestListBackupsPrefixIsObject(t *testing.T) {
	ctx := context.Background()
	photos := openMem(t, "mem://catalog-prefix-object/photos")
	name := storeAs(t, photos, "a", "src", at("2026-01-01 04:00"))
	obj := openMem(t, "mem://catalog-prefix-object/photos/"+name)
	if l, err := pipeline.ListBackups(ctx, obj, ""); err != nil || len(l.Entries) != 0 || !l.PrefixIsObject {
		t.Errorf("object as prefix: %+v, %v; want PrefixIsObject", l, err)
	}
	for _, target := range []*pipeline.Target{photos, openMem(t, "mem://catalog-prefix-object/none")} {
		if l, err := pipeline.ListBackups(ctx, target, ""); err != nil || l.PrefixIsObject {
			t.Errorf("%s: %+v, %v; want PrefixIsObject false", target.URL, l, err)
		}
	}
}
