package main

import (
	"strconv"
	"strings"
	"time"

	"github.com/spf13/pflag"

	"github.com/sluice-backup/sluice/pipeline"
)

// How often JSON progress events are written and bars redraw; variables
// so tests can speed them up.
var (
	jsonInterval = time.Second
	barInterval  = 250 * time.Millisecond
)

// progressInterval picks the reporter's tick: bars and JSON never show
// together.
func progressInterval(asJSON bool) time.Duration {
	if asJSON {
		return jsonInterval
	}
	return barInterval
}

// perfFlags are backup's speed, memory and bandwidth knobs.
type perfFlags struct {
	workers       int
	bwlimit       string
	bwlimitTarget string
	uploadMemory  string
}

// perfSettings are the parsed knobs that reach the backup run.
type perfSettings struct {
	bandwidth    pipeline.Bandwidth
	uploadMemory int64 // 0: pipeline.DefaultUploadMemory
}

func (p *perfFlags) add(fs *pflag.FlagSet) {
	fs.IntVar(&p.workers, "workers", 0, "zstd compression workers, each compressing its own frame (0: one per CPU, at most 4); with 2 to 4 the frame buffers stay within 64 MiB of memory, 1 takes up to 40 MiB, each beyond 4 adds about 12 MiB")
	fs.StringVar(&p.bwlimit, "bwlimit", "", "cap on the upload rate to all targets together, e.g. 10MiB (per second)")
	fs.StringVar(&p.bwlimitTarget, "bwlimit-target", "", "cap on the upload rate to each target, e.g. 4MiB (per second)")
	fs.StringVar(&p.uploadMemory, "upload-memory", "48MiB", "memory all uploads (S3 parts, Azure blocks, GCS chunks) together may buffer, shared equally by the targets; it sets part sizes and parts in flight")
}

// apply checks the flags, passes --workers to the zstd stage as its
// concurrency option and returns the bandwidth limits and the upload
// memory budget. --workers typed for another compression is a usage
// error; SLUICE_WORKERS is left unused there, since it may be exported
// for every backup.
func (p *perfFlags) apply(compress string, k *keyFlags) (perfSettings, error) {
	var s perfSettings
	if p.workers < 0 {
		return s, usageErrorf("--workers %d: must not be negative", p.workers)
	}
	if p.workers > 0 {
		w := k.setting("workers", "zstd", "concurrency", strconv.Itoa(p.workers))
		if name, _, _ := strings.Cut(compress, ":"); name == "zstd" {
			k.extra = append(k.extra, w)
		} else if w.env == "" {
			return s, usageErrorf("--workers applies to zstd compression, not %q", name)
		}
	}
	var err error
	if s.bandwidth.Total, err = parseRate("--bwlimit", p.bwlimit); err != nil {
		return s, err
	}
	if s.bandwidth.PerTarget, err = parseRate("--bwlimit-target", p.bwlimitTarget); err != nil {
		return s, err
	}
	if s.uploadMemory, err = parseUploadMemory(p.uploadMemory); err != nil {
		return s, err
	}
	return s, nil
}

// parseUploadMemory parses an --upload-memory size of at least
// [pipeline.MinUploadMemory]; empty is 0, the default budget.
func parseUploadMemory(v string) (int64, error) {
	if v == "" {
		return 0, nil
	}
	n, err := pipeline.ParseSize(v)
	if err != nil {
		return 0, usageErrorf("--upload-memory: %v", err)
	}
	if err := pipeline.CheckUploadMemory(n); err != nil {
		return 0, usageErrorf("--upload-memory %q: %v", v, err)
	}
	return n, nil
}

// parseRate parses a byte rate such as 10MiB, 10MiB/s or 500K; empty is
// no limit.
func parseRate(flag, s string) (int64, error) {
	if s == "" {
		return 0, nil
	}
	n, err := pipeline.ParseRate(s)
	if err != nil {
		return 0, usageErrorf("%s %v", flag, err)
	}
	return n, nil
}
