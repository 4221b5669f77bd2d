package pipeline_test

import (
	"context"
	"fmt"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/sluice-backup/sluice/backends"
	"github.com/sluice-backup/sluice/pipeline"
)

func at(s string) time.Time {
	t, err := time.Parse("2006-01-02 15:04", s)
	if err != nil {
		panic(err)
	}
	return t
}

// kept returns the times r keeps, formatted, newest first.
func kept(r pipeline.Retention, times []time.Time) []string {
	var out []string
	for _, d := range r.Apply(times) {
		if d.Keep {
			out = append(out, d.Time.Format("2006-01-02 15:04"))
		}
	}
	slices.Sort(out)
	slices.Reverse(out)
	return out
}

// sundays is restic's documented example: one backup every Sunday for 12
// weeks, 2019-09-01 to 2019-11-17, at 11:00.
func sundays() []time.Time {
	var out []time.Time
	for t := at("2019-09-01 11:00"); !t.After(at("2019-11-17 11:00")); t = t.AddDate(0, 0, 7) {
		out = append(out, t)
	}
	return out
}

// daily returns one backup a day at 12:00 from first to last.
func daily(first, last string) []time.Time {
	var out []time.Time
	for t := at(first + " 12:00"); !t.After(at(last + " 12:00")); t = t.AddDate(0, 0, 1) {
		out = append(out, t)
	}
	return out
}

func TestRetention(t *testing.T) {
	hourly := []time.Time{ // several an hour, over three hours
		at("2026-01-10 09:05"), at("2026-01-10 09:40"), at("2026-01-10 10:10"),
		at("2026-01-10 10:50"), at("2026-01-10 11:20"), at("2026-01-10 11:55"),
	}
	cases := []struct {
		name  string
		r     pipeline.Retention
		times []time.Time
		want  []string
	}{
		{
			// restic's docs: "forget --keep-daily 4 will keep the last
			// four snapshots, for the last four Sundays".
			name: "restic docs: keep_daily 4 over 12 Sundays", r: pipeline.Retention{Daily: 4}, times: sundays(),
			want: []string{"2019-11-17 11:00", "2019-11-10 11:00", "2019-11-03 11:00", "2019-10-27 11:00"},
		},
		{
			name: "keep_last 3", r: pipeline.Retention{Last: 3}, times: sundays(),
			want: []string{"2019-11-17 11:00", "2019-11-10 11:00", "2019-11-03 11:00"},
		},
		{
			name: "keep_weekly 2 over Sundays", r: pipeline.Retention{Weekly: 2}, times: sundays(),
			want: []string{"2019-11-17 11:00", "2019-11-10 11:00"},
		},
		{
			name: "keep_monthly 2: the newest of each month", r: pipeline.Retention{Monthly: 2}, times: sundays(),
			want: []string{"2019-11-17 11:00", "2019-10-27 11:00"},
		},
		{
			name: "keep_hourly 2: newest of each hour", r: pipeline.Retention{Hourly: 2}, times: hourly,
			want: []string{"2026-01-10 11:55", "2026-01-10 10:50"},
		},
		{
			// Not enough backups to fill the buckets: the oldest is
			// kept as well (restic: "oldest hourly snapshot").
			name: "counts left keep the oldest", r: pipeline.Retention{Hourly: 5}, times: hourly,
			want: []string{"2026-01-10 11:55", "2026-01-10 10:50", "2026-01-10 09:40", "2026-01-10 09:05"},
		},
		{
			name: "keep_yearly", r: pipeline.Retention{Yearly: 2}, times: []time.Time{at("2024-03-01 00:00"), at("2024-12-31 23:00"), at("2025-06-01 00:00"), at("2026-01-01 00:00"), at("2026-02-01 00:00")},
			want: []string{"2026-02-01 00:00", "2025-06-01 00:00"},
		},
		{
			// Within counts back from the newest backup, not from now.
			name: "keep_within 14d", r: pipeline.Retention{Within: pipeline.RetentionDuration{Days: 14}}, times: sundays(),
			// 2019-11-03 is exactly 14 days before the newest: out.
			want: []string{"2019-11-17 11:00", "2019-11-10 11:00"},
		},
		{
			name: "keep_within 1m", r: pipeline.Retention{Within: pipeline.RetentionDuration{Months: 1}}, times: sundays(),
			want: []string{"2019-11-17 11:00", "2019-11-10 11:00", "2019-11-03 11:00", "2019-10-27 11:00", "2019-10-20 11:00"},
		},
		{
			name: "policies are ORed", r: pipeline.Retention{Last: 1, Monthly: 3}, times: sundays(),
			want: []string{"2019-11-17 11:00", "2019-10-27 11:00", "2019-09-29 11:00"},
		},
		{
			// -1 never runs out, so the oldest is kept too.
			name: "unlimited daily", r: pipeline.Retention{Daily: -1}, times: append(sundays()[:2], at("2019-09-08 09:00")),
			want: []string{"2019-09-08 11:00", "2019-09-01 11:00"},
		},
		{
			name: "no policy keeps everything", r: pipeline.Retention{}, times: hourly[:3],
			want: []string{"2026-01-10 10:10", "2026-01-10 09:40", "2026-01-10 09:05"},
		},
		{
			// keep_within with nothing in range except the newest: the
			// newest is always kept.
			name: "newest always kept", r: pipeline.Retention{Within: pipeline.RetentionDuration{Hours: 1}}, times: sundays()[:2],
			want: []string{"2019-09-08 11:00"},
		},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			// Order of input must not matter.
			in := slices.Clone(c.times)
			slices.Reverse(in)
			got := kept(c.r, in)
			if !slices.Equal(got, c.want) {
				t.Fatalf("kept\n %q\nwant\n %q", got, c.want)
			}
		})
	}
}

// TestRetentionCentury follows restic's docs: daily backups, keep_daily 7,
// keep_weekly 5, keep_monthly 12, keep_yearly 5 keeps the 7 dailies, the
// weeklies the dailies do not cover, 11 more monthlies and 4 more
// yearlies.
func TestRetentionCentury(t *testing.T) {
	times := daily("2016-01-01", "2025-12-31")
	r := pipeline.Retention{Daily: 7, Weekly: 5, Monthly: 12, Yearly: 5}
	got := kept(r, times)
	want := []string{
		// 7 daily
		"2025-12-31 12:00", "2025-12-30 12:00", "2025-12-29 12:00", "2025-12-28 12:00", "2025-12-27 12:00", "2025-12-26 12:00", "2025-12-25 12:00",
		// weekly (ISO weeks; Sundays end them): 2026-W01 and 2025-W52 are covered above
		"2025-12-21 12:00", "2025-12-14 12:00", "2025-12-07 12:00",
		// monthly: December is covered above
		"2025-11-30 12:00", "2025-10-31 12:00", "2025-09-30 12:00", "2025-08-31 12:00", "2025-07-31 12:00", "2025-06-30 12:00",
		"2025-05-31 12:00", "2025-04-30 12:00", "2025-03-31 12:00", "2025-02-28 12:00", "2025-01-31 12:00",
		// yearly: 2025 is covered above
		"2024-12-31 12:00", "2023-12-31 12:00", "2022-12-31 12:00", "2021-12-31 12:00",
	}
	if !slices.Equal(got, want) {
		t.Fatalf("kept %d:\n %q\nwant %d:\n %q", len(got), got, len(want), want)
	}
}

func TestParseRetentionDuration(t *testing.T) {
	good := map[string]pipeline.RetentionDuration{
		"30d": {Days: 30}, "1y6m": {Years: 1, Months: 6}, "36h": {Hours: 36}, "2y5m7d3h": {Years: 2, Months: 5, Days: 7, Hours: 3},
	}
	for s, want := range good {
		got, err := pipeline.ParseRetentionDuration(s)
		if err != nil || got != want {
			t.Errorf("%q: %+v, %v", s, got, err)
		}
		if got.String() != s {
			t.Errorf("%q prints as %q", s, got.String())
		}
	}
	for _, s := range []string{"", "2w", "1d2y", "5", "10m30s", "-1d", "1h30m"} {
		_, err := pipeline.ParseRetentionDuration(s)
		if err == nil {
			t.Errorf("%q accepted", s)
		} else if want := fmt.Sprintf("%q is not a duration", s); !strings.HasPrefix(err.Error(), want) {
			// The error names the value given, not an example.
			t.Errorf("%q: %v, want it to start with %s", s, err, want)
		}
	}
}

// TestPruneNeverTouchesForeignObjects stores backups of two pipelines and
// foreign files on one target, then prunes one pipeline to a single
// backup.
func TestPruneNeverTouchesForeignObjects(t *testing.T) {
	ctx := context.Background()
	reg := testRegistry()
	target, err := backends.OpenTarget(ctx, reg, "mem://prune-foreign/p", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer target.Close()
	chain := []pipeline.ChainStage{}
	store := func(pipe, name string, when time.Time) {
		b := &pipeline.Backup{
			Source: pipeline.StreamSource("x", strings.NewReader(name), -1), Stages: chain,
			Targets: []*pipeline.Target{target}, Name: name, Pipeline: pipe, Now: when, ExpectedSize: -1,
		}
		if _, err := b.Run(ctx); err != nil {
			t.Fatal(err)
		}
	}
	for i, day := range []string{"2026-01-01", "2026-01-02", "2026-01-03"} {
		store("a", "a-"+day, at(day+" 10:00"))
		store("b", "b-"+day, at(day+" 10:00").Add(time.Duration(i)*time.Minute))
	}
	foreign := map[string]string{
		"p/a-foreign":             "not sluice's",
		"p/a-2026-01-04":          "no manifest: looks like ours by name only",
		"p/a-renamed":             "manifest names another object",
		"p/a-renamed.sluice.json": `{"format":"sluice/1","object":"a-other","pipeline":"a","created":"2020-01-01T00:00:00Z"}`,
		"elsewhere/a-2026-01-01":  "outside the prefix",
	}
	for k, v := range foreign {
		if err := target.Bucket.WriteAll(ctx, k, []byte(v), nil); err != nil {
			t.Fatal(err)
		}
	}
	r := pipeline.Retention{Last: 1}

	items, err := pipeline.Prune(ctx, target, "a", r, true)
	if err != nil || len(items) != 3 {
		t.Fatalf("dry run: %d items, %v", len(items), err)
	}
	if n := countKeys(t, target); n != 6*2+len(foreign) {
		t.Fatalf("dry run deleted something: %d keys left", n)
	}

	items, err = pipeline.Prune(ctx, target, "a", r, false)
	if err != nil {
		t.Fatal(err)
	}
	var keptNames []string
	for _, it := range items {
		if it.Keep {
			keptNames = append(keptNames, it.Name)
		}
	}
	if !slices.Equal(keptNames, []string{"a-2026-01-03"}) {
		t.Fatalf("kept %q", keptNames)
	}
	for k := range foreign {
		if ok, _ := target.Bucket.Exists(ctx, k); !ok {
			t.Errorf("foreign object %s was removed", k)
		}
	}
	b, err := pipeline.Catalog(ctx, target, "b")
	if err != nil || len(b) != 3 {
		t.Fatalf("pipeline b lost backups: %d, %v", len(b), err)
	}
	for _, gone := range []string{"p/a-2026-01-01", "p/a-2026-01-01.sluice.json", "p/a-2026-01-02", "p/a-2026-01-02.sluice.json"} {
		if ok, _ := target.Bucket.Exists(ctx, gone); ok {
			t.Errorf("%s should be gone", gone)
		}
	}
	all, err := pipeline.Catalog(ctx, target, "")
	if err != nil || len(all) != 4 || all[0].Name != "b-2026-01-03" {
		t.Fatalf("catalog of everything: %d, %v", len(all), err)
	}
}

func countKeys(t *testing.T, target *pipeline.Target) int {
	t.Helper()
	n := 0
	it := target.Bucket.List(nil)
	for {
		_, err := it.Next(context.Background())
		if err != nil {
			return n
		}
		n++
	}
}
