package main

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// sample is one timed run.
type sample struct {
	wall time.Duration
	rss  int64         // bytes: ru_maxrss, summed over a pipeline's processes
	cpu  time.Duration // user + system time, summed over a pipeline's processes
	out  int64         // bytes stored
}

// timeBin is GNU time, which reports a process's peak RSS from wait4.
// (os/exec's ProcessState.SysUsage cannot be trusted for this: on some
// kernels its waitid-based rusage reports the largest RSS of any child so
// far, not this process's.)
const timeBin = "/usr/bin/time"

// shellPipeline runs the commands connected stdout to stdin, the first reading
// stdin (a file path, or r when path is empty) and the last writing to the
// file outPath ("" discards). It returns wall time and the peak RSS of
// each process, summed. Each command runs under GNU time, which costs a
// fork and an exec. outPath is fsynced before the clock stops: sluice
// makes what it stores or restores durable before it reports it done, so
// a peer is timed with the same durability.
func shellPipeline(stdinPath string, r io.Reader, outPath string, cmds ...[]string) (sample, error) {
	var procs []*exec.Cmd
	var closeAfterStart []io.Closer
	var prev io.Reader
	if stdinPath != "" {
		f, err := os.Open(stdinPath)
		if err != nil {
			return sample{}, err
		}
		defer f.Close()
		prev = f
	} else if r != nil {
		prev = r
	}
	var out *os.File
	if outPath != "" {
		f, err := os.Create(outPath)
		if err != nil {
			return sample{}, err
		}
		defer f.Close()
		out = f
	}
	var stderr strings.Builder
	var rssFiles []string
	for i, argv := range cmds {
		rf, err := os.CreateTemp("", "sluice-bench-rss-")
		if err != nil {
			return sample{}, err
		}
		rf.Close()
		defer os.Remove(rf.Name())
		rssFiles = append(rssFiles, rf.Name())
		argv = append([]string{timeBin, "-f", "%M %U %S", "-o", rf.Name(), "--"}, argv...)
		c := exec.Command(argv[0], argv[1:]...)
		c.Stdin, c.Stderr = prev, &stderr
		if i == len(cmds)-1 {
			if out != nil {
				c.Stdout = out
			}
		} else {
			pr, pw, err := os.Pipe()
			if err != nil {
				return sample{}, err
			}
			c.Stdout = pw
			prev = pr
			closeAfterStart = append(closeAfterStart, pw, pr)
		}
		procs = append(procs, c)
	}
	start := time.Now()
	for _, c := range procs {
		if err := c.Start(); err != nil {
			return sample{}, err
		}
	}
	for _, c := range closeAfterStart {
		c.Close()
	}
	var errs []error
	var s sample
	for i, c := range procs {
		if err := c.Wait(); err != nil {
			errs = append(errs, fmt.Errorf("%s: %w", c.Args[5], err))
		}
		kib, cpu, err := readTime(rssFiles[i])
		if err != nil {
			errs = append(errs, err)
		}
		s.rss += kib * 1024
		s.cpu += cpu
	}
	if out != nil && len(errs) == 0 {
		if err := out.Sync(); err != nil {
			errs = append(errs, err)
		}
	}
	s.wall = time.Since(start)
	if len(errs) > 0 {
		return s, fmt.Errorf("%w\n%s", errors.Join(errs...), stderr.String())
	}
	if out != nil {
		if fi, err := out.Stat(); err == nil {
			s.out = fi.Size()
		}
	}
	return s, nil
}

// readTime reads what GNU time wrote, "peakKiB userSecs sysSecs", from
// the last line (a failed command's status line comes first).
func readTime(path string) (int64, time.Duration, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	var kib int64
	var user, sys float64
	if _, err := fmt.Sscanf(lines[len(lines)-1], "%d %g %g", &kib, &user, &sys); err != nil {
		return 0, 0, fmt.Errorf("%s output %q: %w", timeBin, b, err)
	}
	return kib, time.Duration((user + sys) * float64(time.Second)), nil
}

// storedObject returns the path and size of the one object (not manifest)
// under dir.
func storedObject(dir string) (string, int64, error) {
	var path string
	var size int64
	err := filepath.WalkDir(dir, func(p string, d os.DirEntry, err error) error {
		if err != nil || d.IsDir() || strings.HasSuffix(p, ".sluice.json") || strings.HasSuffix(p, ".attrs") {
			return err
		}
		fi, err := d.Info()
		if err != nil {
			return err
		}
		path, size = p, fi.Size()
		return nil
	})
	if path == "" && err == nil {
		err = fmt.Errorf("no object stored under %s", dir)
	}
	return path, size, err
}

func median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	if len(s)%2 == 1 {
		return s[len(s)/2]
	}
	return (s[len(s)/2-1] + s[len(s)/2]) / 2
}

func mib(b float64) string { return fmt.Sprintf("%.1f MiB", b/(1<<20)) }
