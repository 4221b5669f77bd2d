package main

import (
	"os"
	"runtime/debug"
)

// defaultGCPercent is the garbage collector's target sluice sets when the
// environment sets neither GOGC nor GOMEMLIMIT: the heap may grow to
// 1.25 × what is live rather than Go's default 2 ×.
//
// sluice's big buffers (zstd blocks, fan-out chunks, S3 part pools) are
// allocated once and reused, so garbage comes slowly and a collection,
// which marks mostly pointer-free byte slices, is cheap. With Go's default
// the heap then creeps toward twice the live buffers over a long run
// (peak RSS grows with the input's length); at 25% it stays flat, for a
// few more collections a minute. A percentage rather than a fixed soft
// limit (debug.SetMemoryLimit) scales with whatever the knobs make live
// (part_size, --upload-memory, --workers, frame_size): a fixed limit
// below the live buffers would make the collector run continuously.
const defaultGCPercent = 25

// tuneGC applies defaultGCPercent unless GOGC or GOMEMLIMIT is set, in
// which case the Go runtime's own handling of them stands.
func tuneGC() {
	if os.Getenv("GOGC") == "" && os.Getenv("GOMEMLIMIT") == "" {
		debug.SetGCPercent(defaultGCPercent)
	}
}
