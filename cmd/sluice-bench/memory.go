package main

import (
	"crypto/rand"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"runtime"
	"strings"
)

// memory pipes generated streams of 512 MiB and 4 GiB into sluice backup -
// (no input file on disk) with 1 and 3 file:// targets and reports each
// run's peak RSS. Flat memory means the 4 GiB runs peak where the 512 MiB
// ones do.
func memory(cfg *config) error {
	fmt.Printf("| stdin stream\t| targets\t| seconds\t| peak RSS\t|\n|---\t|---:\t|---:\t|---:\t|\n")
	for _, size := range []int64{512 << 20, 4 << 30} {
		for _, targets := range []int{1, 3} {
			args := []string{cfg.sluice, "backup", "-", "-r", cfg.rec, "--progress", "never"}
			if cfg.workers != "" {
				args = append(args, "--workers", cfg.workers)
			}
			var dirs []string
			for i := range targets {
				d := filepath.Join(cfg.dir, fmt.Sprintf("mem-%d-%d", size>>20, i))
				dirs = append(dirs, d)
				args = append(args, "--to", "file://"+d)
			}
			s, err := pipeline("", NewData(size, 3, cfg.random), "", args)
			for _, d := range dirs {
				os.RemoveAll(d)
			}
			if err != nil {
				return err
			}
			fmt.Printf("| %s\t| %d\t| %.1f\t| %s\t|\n", mib(float64(size)), targets, s.wall.Seconds(), mib(float64(s.rss)))
		}
	}
	fmt.Printf("\n%s\n", machine())
	return nil
}

// bwlimit backs up a 64 MiB random stream under --bwlimit (all targets
// together) and --bwlimit-target (each target) and reports the achieved
// rates of stored bytes.
func bwlimit(cfg *config) error {
	fmt.Printf("| flag\t| targets\t| seconds\t| per target\t| all targets\t|\n|---\t|---:\t|---:\t|---:\t|---:\t|\n")
	for _, flag := range []string{"--bwlimit", "--bwlimit-target"} {
		for _, targets := range []int{1, 3} {
			const limit = "16MiB"
			args := []string{cfg.sluice, "backup", "-", "-r", cfg.rec, "--compress", "none", "--progress", "never", flag, limit}
			var dirs []string
			for i := range targets {
				d := filepath.Join(cfg.dir, fmt.Sprintf("bw%s-%d", flag, i))
				dirs = append(dirs, d)
				args = append(args, "--to", "file://"+d)
			}
			// Random data: the stored size is the input size plus age's
			// 0.03%.
			s, err := pipeline("", io.LimitReader(rand.Reader, 64<<20), "", args)
			if err != nil {
				return err
			}
			_, size, err := storedObject(dirs[0])
			for _, d := range dirs {
				os.RemoveAll(d)
			}
			if err != nil {
				return err
			}
			per := float64(size) / (1 << 20) / s.wall.Seconds()
			fmt.Printf("| %s %s\t| %d\t| %.1f\t| %.1f MiB/s\t| %.1f MiB/s\t|\n", flag, limit, targets, s.wall.Seconds(), per, per*float64(targets))
		}
	}
	return nil
}

// machine describes the host for the table's caption.
func machine() string {
	model := ""
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, line := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(line, "model name") {
				_, model, _ = strings.Cut(line, ":")
				model = strings.TrimSpace(model)
				break
			}
		}
	}
	return fmt.Sprintf("%d CPUs (%s), %s/%s, %s", runtime.NumCPU(), model, runtime.GOOS, runtime.GOARCH, runtime.Version())
}
