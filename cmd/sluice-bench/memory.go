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

// memory pipes generated streams (512 MiB and 4 GiB unless -sizes says
// otherwise) into sluice backup - (no input file on disk) with 1 and 3
// targets and reports each run's peak RSS. The targets are file://
// folders, or with -store s3 buckets on a moto_server the bench starts,
// which it resets after every run. Flat memory means the 4 GiB runs peak
// where the 512 MiB ones do. CPU time (user + system of sluice alone)
// shows what the garbage collector costs at a given memory limit.
func memory(cfg *config) error {
	var s3 *moto
	switch cfg.store {
	case "file":
	case "s3":
		var err error
		if s3, err = startMoto(cfg.dir); err != nil {
			return err
		}
		defer s3.stop()
	default:
		return fmt.Errorf("-store %q: want file or s3", cfg.store)
	}
	fmt.Printf("| stdin stream\t| targets\t| seconds\t| CPU s\t| peak RSS\t|\n|---\t|---:\t|---:\t|---:\t|---:\t|\n")
	for _, size := range cfg.sizes {
		for _, targets := range []int{1, 3} {
			args := []string{cfg.sluice, "backup", "-", "-r", cfg.rec, "--progress", "never"}
			if cfg.workers != "" {
				args = append(args, "--workers", cfg.workers)
			}
			args = append(args, strings.Fields(cfg.flags)...)
			var dirs []string
			for i := range targets {
				name := fmt.Sprintf("mem-%d-%d", size>>20, i)
				if s3 != nil {
					if err := s3.createBucket(name); err != nil {
						return err
					}
					args = append(args, "--to", "s3://"+name+"/bench"+cfg.query)
					continue
				}
				d := filepath.Join(cfg.dir, name)
				dirs = append(dirs, d)
				args = append(args, "--to", "file://"+d)
			}
			s, err := shellPipeline("", NewData(size, 3, cfg.random), "", args)
			for _, d := range dirs {
				os.RemoveAll(d)
			}
			if s3 != nil {
				if rerr := s3.reset(); err == nil {
					err = rerr
				}
			}
			if err != nil {
				return err
			}
			fmt.Printf("| %s\t| %d\t| %.1f\t| %.1f\t| %s\t|\n", mib(float64(size)), targets, s.wall.Seconds(), s.cpu.Seconds(), mib(float64(s.rss)))
		}
	}
	fmt.Printf("\n%s targets; %s\n", cfg.store, machine())
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
			s, err := shellPipeline("", io.LimitReader(rand.Reader, 64<<20), "", args)
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
