//go:build !unix

package zstd

import "time"

// cpuTime is not measured here; benchmarks report zero CPU.
func cpuTime() time.Duration { return 0 }
