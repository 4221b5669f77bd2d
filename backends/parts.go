package backends

import (
	"fmt"

	"github.com/sluice-backup/sluice/pipeline"
)

const mib = 1 << 20

// partRules are a store's limits on an upload in parts (S3 multipart
// parts, Azure blocks) and sluice's preferences within them.
type partRules struct {
	store    string // names the store in messages: "S3"
	minPart  int64  // smallest part the store takes (but the last)
	maxPart  int64  // largest part
	maxParts int64  // most parts per object
	// budget is how many parts an automatic size aims for, below
	// maxParts: the rest absorbs a stored size that runs past the
	// estimate (incompressible input grows slightly under encryption).
	budget int64
	// autoPart is the part sluice prefers for an object of known size
	// when memory allows: fewer, larger requests than the minimum.
	autoPart int64
	// streamPart is the largest part sluice picks for a stream of unknown
	// length (stdin), which caps it at maxParts of them.
	streamPart int64
	// spare is how many part buffers an upload holds besides the parts
	// in flight.
	spare int
	// hint ends the message for an object too large for the plan.
	hint string
}

// s3Parts: S3's multipart limits. gocloud's transfer manager reads the
// first part on its own, then keeps a pool of concurrency + 1 parts (one
// filling while the others upload): two spare buffers.
var s3Parts = partRules{
	store: "S3", minPart: minPartSize, maxPart: maxPartSize, maxParts: maxParts, budget: partBudget,
	autoPart: 8 * mib, streamPart: 16 * mib, spare: 2, hint: ": raise part_size",
}

// azureBlocks: Azure's block blob limits (50,000 blocks of up to 4,000
// MiB; the SDK's streaming upload takes blocks of at least 1 MiB). Its
// UploadStream holds one buffer per block in flight, no spare.
var azureBlocks = partRules{
	store: "Azure", minPart: 1 * mib, maxPart: 4000 * mib, maxParts: 50000, budget: 45000,
	autoPart: 8 * mib, streamPart: 16 * mib, spare: 0,
}

// S3's limits (s3Parts), under their own names for the S3 code and its
// tests.
const (
	minPartSize = 5 * mib
	maxPartSize = 5 << 30
	maxParts    = 10000
	partBudget  = 9000
)

// uploadPlan is how one upload in parts runs.
type uploadPlan struct {
	part        int64 // bytes per part
	concurrency int   // parts in flight
	limit       int64 // largest object: maxParts parts
	spare       int   // buffers held besides those in flight
}

// buffers is what the upload holds in memory: part × (concurrency +
// spare).
func (p uploadPlan) buffers() int64 { return p.part * int64(p.concurrency+p.spare) }

// plan chooses the part size and concurrency of an upload of about size
// bytes (-1 when unknown) that may buffer memory bytes (0: the default
// budget of a whole backup, [pipeline.DefaultUploadMemory]). explicit is a
// part size the user set (0: automatic) and configured the most parts in
// flight.
//
// The part must be at least minPart and, for a known size, large enough
// to store it within budget parts. Within memory, an automatic part is the
// larger of that minimum and autoPart, at the configured concurrency; when
// that does not fit, the part shrinks toward its minimum, and then the
// concurrency drops, to no less than 1. For an unknown size the part is
// as large as memory allows at one part in flight, from minPart up to
// streamPart, since the part size caps the object (maxParts parts), and
// spare memory then raises the concurrency. An explicit part size is
// kept; only the concurrency adapts.
//
// When even one part in flight of the smallest allowed part exceeds
// memory (many targets, or a very large object), the plan runs one part
// at a time regardless: the budget is a target, not a hard limit. An
// explicit part size outside [minPart, maxPart], or a known size beyond
// the plan's limit, is an error.
func (r partRules) plan(size, explicit int64, configured int, memory int64) (uploadPlan, error) {
	if memory <= 0 {
		memory = pipeline.DefaultUploadMemory
	}
	configured = max(configured, 1)
	held := int64(r.spare)
	// fit is the most parts in flight that part allows within memory.
	fit := func(part int64) int { return max(1, min(configured, int(memory/part-held))) }
	p := uploadPlan{spare: r.spare}
	switch {
	case explicit < 0:
		return p, fmt.Errorf("part_size: must not be negative, got %d", explicit)
	case explicit > 0 && explicit < r.minPart:
		return p, fmt.Errorf("part_size: %s is below %s's %s minimum", fmtBytes(explicit), r.store, fmtBytes(r.minPart))
	case explicit > r.maxPart:
		return p, fmt.Errorf("part_size: %s is above %s's %s maximum", fmtBytes(explicit), r.store, fmtBytes(r.maxPart))
	case explicit > 0:
		p.part = explicit
	case size < 0:
		p.part = min(max(floorMiB(memory/(1+held)), r.minPart), r.streamPart)
	default:
		need := min(max(ceilMiB((size+r.budget-1)/r.budget), r.minPart), r.maxPart)
		p.part = need
		for conc := configured; conc >= 1; conc-- {
			if part := min(max(need, r.autoPart), floorMiB(memory/(int64(conc)+held))); part >= need {
				p.part = part
				break
			}
		}
	}
	p.concurrency = fit(p.part)
	p.limit = p.part * r.maxParts
	if size > p.limit {
		return p, fmt.Errorf("an object of %s needs more than %d parts of %s%s", fmtBytes(size), r.maxParts, fmtBytes(p.part), r.hint)
	}
	return p, nil
}

func floorMiB(n int64) int64 { return n / mib * mib }
func ceilMiB(n int64) int64  { return (n + mib - 1) / mib * mib }
