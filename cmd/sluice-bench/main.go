// Command sluice-bench times sluice against the shell pipelines it
// replaces, side by side on the same machine and the same data:
//
//	go run ./cmd/sluice-bench                 # 1 GiB file + 5,000-file tree, 3 rounds
//	go run ./cmd/sluice-bench -size 256MiB -rounds 5
//	go run ./cmd/sluice-bench -input FILE -tree DIR   # your own data instead of the generated
//	go run ./cmd/sluice-bench -mode memory    # peak RSS at 512 MiB and 4 GiB of stdin, 1 and 3 targets
//	go run ./cmd/sluice-bench -mode memory -store s3   # the same to S3 buckets on moto_server
//	go run ./cmd/sluice-bench -mode memory -store azure # … Azurite containers (or -store gcs: fake-gcs-server)
//	go run ./cmd/sluice-bench -mode bwlimit   # achieved rate under --bwlimit
//
// It needs zstd, age and tar on PATH (.ci/test-deps installs them). Each
// case runs once per round, sluice and its peer alternating which goes
// first, and the table shows medians. Peak RSS is each process's
// ru_maxrss as GNU time (/usr/bin/time) reports it; for a shell pipeline
// it is the sum over its processes, which run at the same time, so it
// bounds their joint peak from above.
package main

import (
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"

	"github.com/sluice-backup/sluice/pipeline"
)

func main() {
	var cfg config
	var size string
	flag.StringVar(&size, "size", "1GiB", "size of the generated file")
	flag.IntVar(&cfg.rounds, "rounds", 3, "rounds per case; the table shows medians")
	flag.IntVar(&cfg.files, "files", 5000, "files in the generated tree (0 skips the tree case)")
	flag.StringVar(&cfg.mode, "mode", "speed", "speed, memory or bwlimit")
	flag.StringVar(&cfg.dir, "dir", "", "work directory, new or empty, kept at the end (default: a new temporary directory, removed at the end)")
	flag.StringVar(&cfg.sluice, "sluice", "", "sluice binary to test (default: build ./cmd/sluice)")
	flag.Float64Var(&cfg.random, "random", DefaultRandom, "share of 1 MiB blocks of generated data that are random (the rest is text-like)")
	flag.StringVar(&cfg.workers, "workers", "", "passed to sluice backup --workers when set")
	flag.StringVar(&cfg.input, "input", "", "speed mode: back up this file instead of generated data (-size and -random then do not apply to it)")
	flag.StringVar(&cfg.tree, "tree", "", "speed mode: back up this directory instead of a generated tree (-files then only turns the tree cases on or off)")
	flag.StringVar(&cfg.store, "store", "file", "memory mode's targets: file, s3 (moto_server), azure (Azurite) or gcs (fake-gcs-server); the bench serves the emulator")
	flag.StringVar(&cfg.query, "query", "", "memory mode: appended to each target URL, e.g. ?part_size=5242880 for s3")
	flag.StringVar(&cfg.flags, "flags", "", "memory mode: extra sluice backup flags, space-separated, e.g. \"--upload-memory 96MiB\"")
	sizes := flag.String("sizes", "512MiB,4GiB", "memory mode: stream sizes, comma-separated")
	flag.Parse()
	var err error
	if cfg.size, err = pipeline.ParseSize(size); err != nil {
		fatal(err)
	}
	for _, s := range strings.Split(*sizes, ",") {
		n, err := pipeline.ParseSize(s)
		if err != nil {
			fatal(fmt.Errorf("-sizes: %w", err))
		}
		cfg.sizes = append(cfg.sizes, n)
	}
	if err := run(&cfg); err != nil {
		fatal(err)
	}
}

func fatal(err error) {
	fmt.Fprintln(os.Stderr, "sluice-bench:", err)
	os.Exit(1)
}

type config struct {
	size    int64
	rounds  int
	files   int
	mode    string
	dir     string
	sluice  string
	workers string
	store   string  // memory mode: file, s3, azure or gcs
	query   string  // memory mode: target URL query
	flags   string  // memory mode: extra backup flags
	sizes   []int64 // memory mode: stream sizes
	random  float64
	input   string // speed mode: a file to use instead of generated data
	tree    string // speed mode: a directory to use instead of the generated tree
	key     string // identity file
	rec     string // recipient
}

func run(cfg *config) error {
	for _, tool := range []string{"zstd", "age", "tar", timeBin} {
		if _, err := exec.LookPath(tool); err != nil {
			return fmt.Errorf("%s not found (run .ci/test-deps; GNU time is Debian's package time)", tool)
		}
	}
	if cfg.dir == "" {
		dir, err := os.MkdirTemp("", "sluice-bench-")
		if err != nil {
			return err
		}
		defer os.RemoveAll(dir)
		cfg.dir = dir
	} else if err := emptyDir(cfg.dir); err != nil {
		return err
	}
	if cfg.sluice == "" {
		cfg.sluice = filepath.Join(cfg.dir, "sluice")
		// The tags of the shipped build (see the Makefile).
		build := exec.Command("go", "build", "-tags", "disable_grpc_modules", "-o", cfg.sluice, "github.com/sluice-backup/sluice/cmd/sluice")
		build.Stdout, build.Stderr = os.Stderr, os.Stderr
		if err := build.Run(); err != nil {
			return fmt.Errorf("build sluice: %w", err)
		}
	}
	cfg.key = filepath.Join(cfg.dir, "key.txt")
	out, err := exec.Command(cfg.sluice, "keygen", "-o", cfg.key).Output()
	if err != nil {
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return fmt.Errorf("sluice keygen: %w: %s", err, bytes.TrimSpace(exit.Stderr))
		}
		return fmt.Errorf("sluice keygen: %w", err)
	}
	cfg.rec = strings.TrimSpace(string(out))
	switch cfg.mode {
	case "speed":
		return speed(cfg)
	case "memory":
		return memory(cfg)
	case "bwlimit":
		return bwlimit(cfg)
	}
	return fmt.Errorf("-mode %q: want speed, memory or bwlimit", cfg.mode)
}

// emptyDir makes sure dir, the -dir work directory, exists and is empty:
// what an earlier run left there (its key, its tree, its targets) would
// change this run's results.
func emptyDir(dir string) error {
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return err
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		return err
	}
	if len(entries) > 0 {
		return fmt.Errorf("-dir %s: not empty (%d entries); give a new or empty directory", dir, len(entries))
	}
	return nil
}
