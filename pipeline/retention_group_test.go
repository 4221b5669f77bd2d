package pipeline_test

import (
	"context"
	"errors"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-backup/sluice/backends"
	"github.com/sluice-backup/sluice/pipeline"
)

// openMem opens a fresh mem:// target for a test.
func openMem(t *testing.T, url string) *pipeline.Target {
	t.Helper()
	target, err := backends.OpenTarget(context.Background(), testRegistry(), url, nil)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { target.Close() })
	return target
}

// storeAs runs a plaintext backup of source src into pipeline pipe on
// target, named as the default template names it, at when.
func storeAs(t *testing.T, target *pipeline.Target, pipe, src string, when time.Time) string {
	t.Helper()
	return storeFrom(t, target, pipe, src, "", pipeline.DefaultNameTemplate, when)
}

// storeFrom is storeAs on the machine named host ("" for this one), with
// the name template tmpl.
func storeFrom(t *testing.T, target *pipeline.Target, pipe, src, host, tmpl string, when time.Time) string {
	t.Helper()
	name, err := pipeline.ExpandName(tmpl, pipeline.NameVars{Pipeline: pipe, Source: src, Host: host, Time: when})
	if err != nil {
		t.Fatal(err)
	}
	b := &pipeline.Backup{
		Source:  pipeline.StreamSource(src, strings.NewReader(src+" at "+when.String()), -1),
		Targets: []*pipeline.Target{target}, Name: name, Pipeline: pipe, Host: host, Now: when, ExpectedSize: -1,
	}
	res, err := b.Run(context.Background())
	if err != nil {
		t.Fatal(err)
	}
	return res.Object
}

// putLegacy stores an object with a manifest as sluice wrote it before it
// recorded the source: no "source" key.
func putLegacy(t *testing.T, target *pipeline.Target, pipe, name string, when time.Time) {
	t.Helper()
	ctx := context.Background()
	if err := target.Bucket.WriteAll(ctx, target.Key(name), []byte(name), nil); err != nil {
		t.Fatal(err)
	}
	m := fmt.Sprintf(`{"format":"sluice/1","object":%q,"pipeline":%q,"stages":[],"size":%d,"sha256":"","bytes_in":0,"created":%q}`,
		name, pipe, len(name), when.UTC().Format(time.RFC3339Nano))
	if err := target.Bucket.WriteAll(ctx, target.Key(name+pipeline.ManifestSuffix), []byte(m), nil); err != nil {
		t.Fatal(err)
	}
}

// keptNames returns the names of the items kept, sorted.
func keptNames(items []pipeline.PruneItem) []string {
	var out []string
	for _, it := range items {
		if it.Keep {
			out = append(out, it.Name)
		}
	}
	slices.Sort(out)
	return out
}

// TestPruneKeepsEachSource runs a pipeline with two sources twice a day
// for three days: every run stores both at the same time, and keep_daily
// must keep the newest backup of each of the last two days of each
// source, not of the pipeline as a whole.
func TestPruneKeepsEachSource(t *testing.T) {
	ctx := context.Background()
	target := openMem(t, "mem://prune-sources/p")
	for _, day := range []string{"2026-01-01", "2026-01-02", "2026-01-03"} {
		for _, hm := range []string{"04:00", "16:00"} {
			for _, src := range []string{"src", "src2"} {
				storeAs(t, target, "ms", src, at(day+" "+hm))
			}
		}
	}
	all, err := pipeline.Catalog(ctx, target, "ms")
	if err != nil || len(all) != 12 || all[0].Manifest.Source == "" {
		t.Fatalf("catalog: %d entries, %v", len(all), err)
	}
	items, err := pipeline.Prune(ctx, target, "ms", pipeline.Retention{Daily: 2}, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{"src-20260102T160000Z", "src-20260103T160000Z", "src2-20260102T160000Z", "src2-20260103T160000Z"}
	if got := keptNames(items); !slices.Equal(got, want) {
		t.Fatalf("kept %q\nwant %q", got, want)
	}
	left, err := pipeline.Catalog(ctx, target, "ms")
	if err != nil || len(left) != len(want) {
		t.Fatalf("after prune: %d backups, %v", len(left), err)
	}
}

// TestPruneKeepsEachHost: two machines run the same pipeline into one
// prefix, named "{pipeline}-{host}-{time}" as the README's example does,
// one at 02:00 and one at 03:00 every day. keep_daily must keep each
// machine's last days, not only the later machine's (which removed every
// backup of the other, its newest too).
func TestPruneKeepsEachHost(t *testing.T) {
	ctx := context.Background()
	target := openMem(t, "mem://prune-hosts/p")
	const tmpl = "{pipeline}-{host}-{time}"
	for _, day := range []string{"2026-01-01", "2026-01-02", "2026-01-03", "2026-01-04"} {
		storeFrom(t, target, "db", "dump", "nasA", tmpl, at(day+" 02:00"))
		storeFrom(t, target, "db", "dump", "nasB", tmpl, at(day+" 03:00"))
	}
	all, err := pipeline.Catalog(ctx, target, "db")
	if err != nil || len(all) != 8 || all[0].Manifest.Host == "" {
		t.Fatalf("catalog: %d entries (host %q), %v", len(all), all[0].Manifest.Host, err)
	}
	items, err := pipeline.Prune(ctx, target, "db", pipeline.Retention{Daily: 2}, false)
	if err != nil {
		t.Fatal(err)
	}
	want := []string{
		"db-nasA-20260103T020000Z", "db-nasA-20260104T020000Z",
		"db-nasB-20260103T030000Z", "db-nasB-20260104T030000Z",
	}
	if got := keptNames(items); !slices.Equal(got, want) {
		t.Fatalf("kept %q\nwant %q", got, want)
	}
}

// TestBackupRecordsHost: the manifest records the machine's short name,
// as {host} renders it, unless the Backup names another.
func TestBackupRecordsHost(t *testing.T) {
	target := openMem(t, "mem://record-host/p")
	storeAs(t, target, "h", "src", at("2026-01-01 04:00"))
	storeFrom(t, target, "h", "src2", "other", pipeline.DefaultNameTemplate, at("2026-01-01 04:00"))
	all, err := pipeline.Catalog(context.Background(), target, "h")
	if err != nil || len(all) != 2 {
		t.Fatalf("catalog: %d entries, %v", len(all), err)
	}
	got := map[string]string{}
	for _, e := range all {
		got[e.Manifest.Source] = e.Manifest.Host
	}
	if got["src"] != pipeline.ShortHost() || got["src"] == "" || got["src2"] != "other" {
		t.Fatalf("hosts recorded %q, want src: %q, src2: other", got, pipeline.ShortHost())
	}
}

// TestRetentionGroups checks how backups are grouped, in particular those
// whose manifest predates the recorded source.
func TestRetentionGroups(t *testing.T) {
	d1, d2, d3 := at("2026-01-01 04:00"), at("2026-01-02 04:00"), at("2026-01-03 04:00")
	entry := func(name, source string, created time.Time) pipeline.Entry {
		return pipeline.Entry{Name: name, Manifest: &pipeline.Manifest{Object: name, Source: source, Created: created}}
	}
	hosted := func(name, source, host string, created time.Time) pipeline.Entry {
		e := entry(name, source, created)
		e.Manifest.Host = host
		return e
	}
	cases := []struct {
		name    string
		entries []pipeline.Entry
		groups  []int // entries with the same number share a group
	}{
		{"recorded sources", []pipeline.Entry{
			entry("src-20260101T040000Z.zst", "src", d1), entry("src2-20260101T040000Z.zst", "src2", d1),
			entry("renamed-template-src", "src", d2),
		}, []int{0, 1, 0}},
		{"legacy: the name without its time", []pipeline.Entry{
			entry("src-20260101T040000Z.zst", "", d1), entry("src2-20260101T040000Z.zst", "", d1),
			entry("src-20260102T040000Z.zst", "", d2), entry("p/2026-01-02/src2-20260102T040000Z.zst", "", d2),
			entry("p/2026-01-03/src2-20260103T040000Z.zst", "", d3),
		}, []int{0, 1, 0, 2, 2}},
		{"legacy joins the recorded source of its stem", []pipeline.Entry{
			entry("src-20260101T040000Z.zst", "", d1), entry("src-20260102T040000Z.zst", "src", d2),
			entry("src2-20260101T040000Z.zst", "", d1), entry("src-20260101T040000Z-2.zst", "", d1),
		}, []int{0, 0, 1, 2}},
		{"legacy whose name does not show its time stays alone", []pipeline.Entry{
			entry("src-latest.zst", "", d1), entry("src-latest-2.zst", "", d2), entry("src-20260103T040000Z.zst", "src", d3),
		}, []int{0, 1, 2}},
		{"a stem two recorded sources share claims no legacy backup", []pipeline.Entry{
			entry("db-20260101T040000Z.zst", "a", d1), entry("db-20260102T040000Z.zst", "b", d2),
			entry("db-20260103T040000Z.zst", "", d3),
		}, []int{0, 1, 2}},
		{"hosts sharing a prefix", []pipeline.Entry{
			hosted("db-a-20260101T040000Z", "db", "a", d1), hosted("db-b-20260101T040000Z", "db", "b", d1),
			hosted("db-a-20260102T040000Z", "db", "a", d2),
		}, []int{0, 1, 0}},
		{"no host: the one host of its stem", []pipeline.Entry{
			hosted("db-a-20260101T040000Z", "db", "", d1), hosted("db-a-20260102T040000Z", "db", "a", d2),
			hosted("db-b-20260102T040000Z", "db", "b", d2), hosted("db-b-20260101T040000Z", "db", "", d1),
			hosted("db-a-20260103T040000Z", "", "", d3),
		}, []int{0, 0, 1, 1, 0}},
		{"no host: the one host of its source", []pipeline.Entry{
			hosted("db-20260101T040000Z", "db", "", d1), hosted("renamed-db-20260102T040000Z", "db", "a", d2),
		}, []int{0, 0}},
		{"a source two hosts record claims no hostless backup", []pipeline.Entry{
			hosted("db-20260101T040000Z", "db", "", d1), hosted("db-x-20260102T040000Z", "db", "a", d2),
			hosted("db-y-20260103T040000Z", "db", "b", d3),
		}, []int{0, 1, 2}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			got := pipeline.RetentionGroups(c.entries)
			if len(got) != len(c.entries) {
				t.Fatalf("%d groups for %d entries", len(got), len(c.entries))
			}
			for i := range got {
				for j := range got {
					if (got[i] == got[j]) != (c.groups[i] == c.groups[j]) {
						t.Errorf("%s and %s: groups %q and %q, want same=%v", c.entries[i].Name, c.entries[j].Name, got[i], got[j], c.groups[i] == c.groups[j])
					}
				}
			}
		})
	}
}

// TestPruneLegacyManifests prunes backups of a two-source pipeline whose
// manifests do not record their source, then new backups that do: each
// source keeps its newest backup, and the old ones age out with the new.
func TestPruneLegacyManifests(t *testing.T) {
	ctx := context.Background()
	target := openMem(t, "mem://prune-legacy/p")
	for _, day := range []string{"2026-01-01", "2026-01-02"} {
		for _, src := range []string{"src", "src2"} {
			when := at(day + " 04:00")
			putLegacy(t, target, "ms", src+"-"+when.Format(pipeline.TimeFormat), when)
		}
	}
	items, err := pipeline.Prune(ctx, target, "ms", pipeline.Retention{Last: 1}, true)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := keptNames(items), []string{"src-20260102T040000Z", "src2-20260102T040000Z"}; !slices.Equal(got, want) {
		t.Fatalf("legacy only: kept %q, want %q", got, want)
	}
	// A new run records its source; the legacy backups of its stem are
	// now older backups of that source.
	newSrc := storeAs(t, target, "ms", "src", at("2026-01-03 04:00"))
	items, err = pipeline.Prune(ctx, target, "ms", pipeline.Retention{Last: 1}, false)
	if err != nil {
		t.Fatal(err)
	}
	if got, want := keptNames(items), []string{newSrc, "src2-20260102T040000Z"}; !slices.Equal(got, want) {
		t.Fatalf("legacy and new: kept %q, want %q", got, want)
	}
}

// TestCatalogDamagedManifest puts a truncated manifest and one of another
// format beside objects among good backups: the catalog lists them with
// the error, prune skips them and removes nothing of theirs.
func TestCatalogDamagedManifest(t *testing.T) {
	ctx := context.Background()
	target := openMem(t, "mem://catalog-damaged/p")
	var names []string
	for _, day := range []string{"2026-01-01", "2026-01-02", "2026-01-03"} {
		names = append(names, storeAs(t, target, "a", "src", at(day+" 04:00")))
	}
	other := storeAs(t, target, "b", "src", at("2026-01-01 05:00"))
	damage := map[string]string{
		names[0]: `{"format":"sluice/1","obj`,
		names[2]: `{"format":"another/7","object":"` + names[2] + `"}`,
		other:    `{`,
	}
	for name, text := range damage {
		if err := target.Bucket.WriteAll(ctx, target.Key(name+pipeline.ManifestSuffix), []byte(text), nil); err != nil {
			t.Fatal(err)
		}
	}
	// Objects of other tools with a manifest name are listed as damaged too.
	for k, v := range map[string]string{"foreign": "x", "foreign.sluice.json": "not json"} {
		if err := target.Bucket.WriteAll(ctx, target.Key(k), []byte(v), nil); err != nil {
			t.Fatal(err)
		}
	}

	entries, err := pipeline.Catalog(ctx, target, "a")
	if err != nil {
		t.Fatal(err)
	}
	var good, bad []string
	for _, e := range entries {
		if e.ManifestErr != nil {
			bad = append(bad, e.Name)
			if e.Manifest != nil || !e.Created().IsZero() {
				t.Errorf("%s: damaged entry with a manifest", e.Name)
			}
		} else {
			good = append(good, e.Name)
		}
	}
	// The object of pipeline b is left out by its metadata; the foreign
	// one has none and may be a's.
	if !slices.Equal(good, []string{names[1]}) || !slices.Equal(bad, []string{"foreign", names[0], names[2]}) {
		t.Fatalf("catalog: good %q, damaged %q", good, bad)
	}
	if err := entries[len(entries)-1].ManifestErr; !strings.Contains(err.Error(), `unsupported format "another/7"`) {
		t.Errorf("wrong format: %v", err)
	}
	if err := entries[2].ManifestErr; !errors.Is(err, pipeline.ErrIntegrity) {
		t.Errorf("truncated manifest: %v", err)
	}
	if all, err := pipeline.Catalog(ctx, target, ""); err != nil || len(all) != 5 {
		t.Fatalf("catalog of everything: %d entries, %v", len(all), err)
	}

	items, err := pipeline.Prune(ctx, target, "a", pipeline.Retention{Last: 1}, false)
	if err == nil || !strings.Contains(err.Error(), "3 backups skipped because their manifest could not be read") {
		t.Fatalf("prune: %v", err)
	}
	skipped := 0
	for _, it := range items {
		if it.Skipped() {
			skipped++
			if !it.Keep || it.Err != nil {
				t.Errorf("%s: skipped but %+v", it.Name, it.Decision)
			}
		}
	}
	if skipped != 3 || len(items) != 4 {
		t.Fatalf("%d items, %d skipped", len(items), skipped)
	}
	for _, name := range []string{names[0], names[1], names[2], other, "foreign"} {
		if ok, _ := target.Bucket.Exists(ctx, target.Key(name)); !ok {
			t.Errorf("%s was removed", name)
		}
	}
}

// TestVerifyStoredMissing checks that an object that is not there, or a
// name that is a folder, is reported as not found rather than as lacking
// a manifest.
func TestVerifyStoredMissing(t *testing.T) {
	ctx := context.Background()
	target := openMem(t, "mem://verify-missing/p")
	name := storeAs(t, target, "a", "src", at("2026-01-01 04:00"))
	if err := target.Bucket.WriteAll(ctx, target.Key("dir/inner"), []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	if err := target.Bucket.WriteAll(ctx, target.Key("bare"), []byte("x"), nil); err != nil {
		t.Fatal(err)
	}
	if err := pipeline.VerifyStored(ctx, target, name, nil); err != nil {
		t.Fatal(err)
	}
	for _, n := range []string{"nothing.zst.age", "dir"} {
		err := pipeline.VerifyStored(ctx, target, n, nil)
		if !errors.Is(err, pipeline.ErrNotFound) || errors.Is(err, pipeline.ErrNoManifest) || !strings.Contains(err.Error(), target.ObjectURL(n)) {
			t.Errorf("%s: %v", n, err)
		}
	}
	if err := pipeline.VerifyStored(ctx, target, "bare", nil); !errors.Is(err, pipeline.ErrNoManifest) {
		t.Errorf("object without a manifest: %v", err)
	}
	// A manifest whose object is gone.
	if err := target.Bucket.Delete(ctx, target.Key(name)); err != nil {
		t.Fatal(err)
	}
	if err := pipeline.VerifyStored(ctx, target, name, nil); !errors.Is(err, pipeline.ErrNotFound) {
		t.Errorf("object gone, manifest left: %v", err)
	}
}
