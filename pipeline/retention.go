package pipeline

import (
	"fmt"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"time"
)

// Retention is a pipeline's retention policy, with the semantics of
// restic's `forget`:
//
//   - Last keeps the n newest backups.
//   - Hourly, Daily, Weekly, Monthly and Yearly keep, newest first, the
//     newest backup of each of the n most recent hours, days, ISO weeks,
//     months or years that have a backup. When a policy still has counts
//     left at the oldest backup, it keeps that one too (restic ≥ 0.16), so
//     the history reaches as far back as the counts allow.
//   - Within keeps every backup made within that long before the newest
//     backup (not before now, so a pipeline that stopped running does not
//     age out).
//   - A count of -1 means unlimited.
//
// A backup is kept when any policy keeps it. Buckets are computed in UTC,
// so the result does not depend on the machine's time zone. Whatever the
// policy, the newest backup is always kept. A zero Retention keeps
// everything (like restic, which refuses to forget without a policy).
type Retention struct {
	Last, Hourly, Daily, Weekly, Monthly, Yearly int
	Within                                       RetentionDuration
}

// IsZero reports whether no policy is set.
func (r Retention) IsZero() bool { return r == Retention{} }

// RetentionDuration is a calendar duration as restic writes it:
// years, months, days and hours ("1y6m", "14d", "36h").
type RetentionDuration struct {
	Years, Months, Days, Hours int
}

// IsZero reports whether the duration is empty.
func (d RetentionDuration) IsZero() bool { return d == RetentionDuration{} }

func (d RetentionDuration) String() string {
	var b strings.Builder
	for _, p := range []struct {
		n    int
		unit string
	}{{d.Years, "y"}, {d.Months, "m"}, {d.Days, "d"}, {d.Hours, "h"}} {
		if p.n != 0 {
			b.WriteString(strconv.Itoa(p.n) + p.unit)
		}
	}
	if b.Len() == 0 {
		return "0d"
	}
	return b.String()
}

// before returns t minus the duration, calendar-aware.
func (d RetentionDuration) before(t time.Time) time.Time {
	return t.AddDate(-d.Years, -d.Months, -d.Days).Add(-time.Duration(d.Hours) * time.Hour)
}

var durationRE = regexp.MustCompile(`^(?:(\d+)y)?(?:(\d+)m)?(?:(\d+)d)?(?:(\d+)h)?$`)

// ParseRetentionDuration parses restic's duration form: a sequence of
// numbers with units y (years), m (months), d (days) and h (hours), in that
// order, as in "1y5m7d2h" or "30d". Note m is months, not minutes.
func ParseRetentionDuration(s string) (RetentionDuration, error) {
	m := durationRE.FindStringSubmatch(strings.TrimSpace(s))
	if m == nil || strings.TrimSpace(s) == "" {
		return RetentionDuration{}, fmt.Errorf("%q is not a duration: want numbers with units y, m (months), d and h, in that order, such as 30d, 1y6m or 36h (no weeks or minutes)", s)
	}
	var d RetentionDuration
	for i, dst := range []*int{&d.Years, &d.Months, &d.Days, &d.Hours} {
		if m[i+1] != "" {
			n, err := strconv.Atoi(m[i+1])
			if err != nil {
				return RetentionDuration{}, fmt.Errorf("duration %q: %w", s, err)
			}
			*dst = n
		}
	}
	return d, nil
}

// Decision is the retention verdict on one backup.
type Decision struct {
	Time    time.Time
	Keep    bool
	Reasons []string // the policies that keep it ("last", "daily", ...)
}

// Apply decides which of the backups made at times to keep. It returns
// one decision per input, in the input's order. Equal times are kept or
// removed together only by chance of order: they are distinct backups.
func (r Retention) Apply(times []time.Time) []Decision {
	out := make([]Decision, len(times))
	order := make([]int, len(times))
	for i, t := range times {
		out[i].Time = t
		order[i] = i
	}
	// Newest first; ties keep input order, so results are deterministic.
	sort.SliceStable(order, func(a, b int) bool { return times[order[a]].After(times[order[b]]) })
	if len(times) == 0 {
		return out
	}
	if r.IsZero() {
		for i := range out {
			out[i].Keep = true
			out[i].Reasons = []string{"no policy"}
		}
		return out
	}
	type bucket struct {
		count  int
		reason string
		key    func(t time.Time, nr int) int
		last   int
	}
	buckets := []bucket{
		{r.Last, "last", func(_ time.Time, nr int) int { return nr }, -1},
		{r.Hourly, "hourly", func(t time.Time, _ int) int { return t.Year()*1_000_000 + t.YearDay()*100 + t.Hour() }, -1},
		{r.Daily, "daily", func(t time.Time, _ int) int { return t.Year()*1000 + t.YearDay() }, -1},
		{r.Weekly, "weekly", func(t time.Time, _ int) int { y, w := t.ISOWeek(); return y*100 + w }, -1},
		{r.Monthly, "monthly", func(t time.Time, _ int) int { return t.Year()*100 + int(t.Month()) }, -1},
		{r.Yearly, "yearly", func(t time.Time, _ int) int { return t.Year() }, -1},
	}
	newest := times[order[0]]
	var within time.Time
	if !r.Within.IsZero() {
		within = r.Within.before(newest.UTC())
	}
	for nr, i := range order {
		t := times[i].UTC()
		d := &out[i]
		if !within.IsZero() && t.After(within) {
			d.Keep = true
			d.Reasons = append(d.Reasons, "within "+r.Within.String())
		}
		for bi := range buckets {
			b := &buckets[bi]
			if b.count == 0 {
				continue
			}
			val := b.key(t, nr)
			if val != b.last || nr == len(order)-1 {
				d.Keep = true
				d.Reasons = append(d.Reasons, b.reason)
				b.last = val
				if b.count > 0 {
					b.count--
				}
			}
		}
		if nr == 0 && !d.Keep {
			d.Keep = true
			d.Reasons = append(d.Reasons, "newest")
		}
	}
	return out
}
