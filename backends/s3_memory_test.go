package backends

import (
	"fmt"
	"strings"
	"testing"

	"gocloud.dev/blob"

	"github.com/sluice-backup/sluice/pipeline"
)

// TestPlanUpload checks the part size and concurrency chosen for one
// target's share of a backup's upload memory budget: 1, 3 and 8 targets
// sharing the default 48 MiB, known and unknown sizes, an explicit
// part_size, and the 10,000-part limit.
func TestPlanUpload(t *testing.T) {
	const gib, tib = int64(1) << 30, int64(1) << 40
	share := func(targets int64) int64 { return pipeline.DefaultUploadMemory / targets }
	for _, tc := range []struct {
		name       string
		size       int64
		explicit   int64
		configured int
		memory     int64
		part       int64
		conc       int
		err        string
	}{
		// One target: the whole 48 MiB.
		{name: "1 target, unknown", size: -1, configured: 2, memory: share(1), part: 16 * mib, conc: 1},
		{name: "1 target, 1 GiB", size: gib, configured: 2, memory: share(1), part: 8 * mib, conc: 2},
		{name: "1 target, 100 GiB", size: 100 * gib, configured: 2, memory: share(1), part: 12 * mib, conc: 2},
		{name: "1 target, 100 GiB, concurrency 3", size: 100 * gib, configured: 3, memory: share(1), part: 12 * mib, conc: 2},
		{name: "1 target, 1 GiB, concurrency 8", size: gib, configured: 8, memory: share(1), part: 5 * mib, conc: 7},
		{name: "no budget means the default", size: -1, configured: 2, memory: 0, part: 16 * mib, conc: 1},
		// Three targets: 16 MiB each.
		{name: "3 targets, unknown", size: -1, configured: 2, memory: share(3), part: 5 * mib, conc: 1},
		{name: "3 targets, 1 GiB", size: gib, configured: 2, memory: share(3), part: 5 * mib, conc: 1},
		{name: "3 targets, 100 GiB", size: 100 * gib, configured: 2, memory: share(3), part: 12 * mib, conc: 1},
		{name: "3 targets, 1 TiB", size: tib, configured: 2, memory: share(3), part: 117 * mib, conc: 1},
		// Eight targets: 6 MiB each, below the 15 MiB floor of one upload.
		{name: "8 targets, unknown", size: -1, configured: 2, memory: share(8), part: 5 * mib, conc: 1},
		{name: "8 targets, 1 GiB", size: gib, configured: 2, memory: share(8), part: 5 * mib, conc: 1},
		// Two targets: 24 MiB each.
		{name: "2 targets, unknown", size: -1, configured: 2, memory: share(2), part: 8 * mib, conc: 1},
		{name: "2 targets, 1 GiB", size: gib, configured: 2, memory: share(2), part: 6 * mib, conc: 2},
		// A larger budget lets the configured concurrency through.
		{name: "96 MiB, unknown", size: -1, configured: 2, memory: 96 * mib, part: 16 * mib, conc: 2},
		{name: "96 MiB, 1 GiB, concurrency 4", size: gib, configured: 4, memory: 96 * mib, part: 8 * mib, conc: 4},
		{name: "192 MiB for 3 targets, unknown", size: -1, configured: 2, memory: 192 * mib / 3, part: 16 * mib, conc: 2},
		{name: "192 MiB for 3 targets, 1 GiB", size: gib, configured: 2, memory: 192 * mib / 3, part: 8 * mib, conc: 2},
		// An explicit part size is kept; the concurrency adapts.
		{name: "explicit 5 MiB, 3 targets", size: -1, explicit: 5 * mib, configured: 2, memory: share(3), part: 5 * mib, conc: 1},
		{name: "explicit 5 MiB, 1 target", size: -1, explicit: 5 * mib, configured: 2, memory: share(1), part: 5 * mib, conc: 2},
		{name: "explicit 64 MiB, 3 targets", size: gib, explicit: 64 * mib, configured: 2, memory: share(3), part: 64 * mib, conc: 1},
		{name: "explicit 6 MiB + 1", size: -1, explicit: 6*mib + 1, configured: 4, memory: share(1), part: 6*mib + 1, conc: 4},
		{name: "explicit too small for size", size: 100 * gib, explicit: 5 * mib, configured: 2, memory: share(3), err: "needs more than 10000 parts"},
		// 10,000 parts: an automatic part grows with the size past what the
		// budget would pick, and concurrency drops instead.
		{name: "3 targets, 9,000 parts of 5 MiB", size: 9000 * 5 * mib, configured: 2, memory: share(3), part: 5 * mib, conc: 1},
		{name: "3 targets, just past 9,000 parts of 5 MiB", size: 9000*5*mib + 1, configured: 2, memory: share(3), part: 6 * mib, conc: 1},
		{name: "beyond S3", size: 50 * tib, configured: 2, memory: share(1), err: "needs more than 10000 parts of 5 GiB"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			p, err := planUpload(tc.size, tc.explicit, tc.configured, tc.memory)
			if tc.err != "" {
				if err == nil || !strings.Contains(err.Error(), tc.err) {
					t.Fatalf("got %+v, err %v; want an error containing %q", p, err, tc.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if p.part != tc.part || p.concurrency != tc.conc {
				t.Errorf("part %s, concurrency %d; want %s, %d", fmtBytes(p.part), p.concurrency, fmtBytes(tc.part), tc.conc)
			}
			checkPlan(t, s3Parts, p, tc.size, tc.explicit, tc.configured, tc.memory)
		})
	}
}

// TestPlanUploadInvariants sweeps sizes, budgets and concurrencies and
// checks the rules every plan keeps, for S3 parts and Azure blocks.
func TestPlanUploadInvariants(t *testing.T) {
	sizes := []int64{-1, 0, 1, 5 * mib, 8*mib + 1, 1 << 30, 45 << 30, 47 << 30, 80 << 30, 200 << 30, 1 << 40, 5 << 40, 100 << 40}
	for _, r := range []partRules{s3Parts, azureBlocks} {
		for _, size := range sizes {
			if size > r.maxPart*r.budget {
				continue
			}
			for _, targets := range []int64{1, 2, 3, 4, 8, 16} {
				for _, budget := range []int64{16 * mib, pipeline.DefaultUploadMemory, 256 * mib} {
					for _, conc := range []int{1, 2, 4, 16} {
						memory := budget / targets
						name := fmt.Sprintf("%s, size %d, memory %s, concurrency %d", r.store, size, fmtBytes(memory), conc)
						p, err := r.plan(size, 0, conc, memory)
						if err != nil {
							t.Fatalf("%s: %v", name, err)
						}
						t.Run(name, func(t *testing.T) { checkPlan(t, r, p, size, 0, conc, memory) })
					}
				}
			}
		}
	}
}

// checkPlan checks what every plan under r must satisfy.
func checkPlan(t *testing.T, r partRules, p uploadPlan, size, explicit int64, configured int, memory int64) {
	t.Helper()
	if memory <= 0 {
		memory = pipeline.DefaultUploadMemory
	}
	if explicit > 0 && p.part != explicit {
		t.Errorf("part %d: the explicit part_size %d was not honoured", p.part, explicit)
	}
	if p.part < r.minPart || p.part > r.maxPart {
		t.Errorf("part %s is outside %s's bounds", fmtBytes(p.part), r.store)
	}
	if p.concurrency < 1 || p.concurrency > max(configured, 1) {
		t.Errorf("concurrency %d: want 1 to %d", p.concurrency, configured)
	}
	if p.limit != p.part*r.maxParts {
		t.Errorf("limit %d, want %d parts of %d", p.limit, r.maxParts, p.part)
	}
	if size > 0 && explicit == 0 && size > p.part*r.budget {
		t.Errorf("%s parts hold %d bytes in more than %d parts", fmtBytes(p.part), size, r.budget)
	}
	if size < 0 && explicit == 0 && p.limit < r.minPart*r.maxParts {
		t.Errorf("an unknown size is capped at %s", fmtBytes(p.limit))
	}
	// Within budget, unless even one part in flight of the smallest part
	// the size allows does not fit.
	if p.buffers() > memory {
		floor := max(r.minPart, explicit)
		if size > 0 {
			floor = max(floor, ceilMiB((size+r.budget-1)/r.budget))
		}
		if p.concurrency != 1 || p.part > floor {
			t.Errorf("part %s × (%d + %d) buffers %s, over the %s budget", fmtBytes(p.part), p.concurrency, r.spare, fmtBytes(p.buffers()), fmtBytes(memory))
		}
	}
	// Not wasteful: one more part in flight would not have fitted.
	if p.concurrency < configured && p.part*int64(p.concurrency+r.spare+1) <= memory {
		t.Errorf("concurrency %d, but %d in flight fit the budget", p.concurrency, p.concurrency+1)
	}
}

// TestPrepareShare checks that prepare applies the share of the budget it
// is given.
func TestPrepareShare(t *testing.T) {
	tune := &s3Tuning{concurrency: defaultConcurrency}
	wo := &blob.WriterOptions{}
	limit, err := tune.prepare(wo, pipeline.Write{Size: -1, Memory: pipeline.DefaultUploadMemory / 3})
	if err != nil {
		t.Fatal(err)
	}
	if wo.BufferSize != 5*mib || wo.MaxConcurrency != 1 || limit != 5*mib*maxParts {
		t.Errorf("got BufferSize %d, MaxConcurrency %d, limit %d", wo.BufferSize, wo.MaxConcurrency, limit)
	}
}
