package main

import (
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"
	"text/tabwriter"
	"time"

	"github.com/sluice-backup/sluice/pipeline/fsync"
)

// side is one contender of a case: it runs once and reports a sample.
type side struct {
	name string
	run  func(round int) (sample, error)
}

// benchCase compares a (sluice) with b (the peer) on in bytes of input.
type benchCase struct {
	name string
	in   int64
	a, b side
}

// result holds a case's medians and the range of its rounds' time
// ratios, which shows how much the machine moved the run.
type result struct {
	name             string
	aName, bName     string
	in               int64
	a, b             stats
	ratioLo, ratioHi float64
}

type stats struct{ wall, cpu, rss, out float64 }

func summarize(ss []sample) stats {
	var w, c, r, o []float64
	for _, s := range ss {
		w = append(w, s.wall.Seconds())
		c = append(c, s.cpu.Seconds())
		r = append(r, float64(s.rss))
		o = append(o, float64(s.out))
	}
	return stats{wall: median(w), cpu: median(c), rss: median(r), out: median(o)}
}

// runCases runs every case rounds times, alternating which side goes first.
func runCases(cases []benchCase, rounds int) ([]result, error) {
	as := make([][]sample, len(cases))
	bs := make([][]sample, len(cases))
	for round := range rounds {
		for i, c := range cases {
			order := []*side{&c.a, &c.b}
			if round%2 == 1 {
				order[0], order[1] = order[1], order[0]
			}
			for _, sd := range order {
				s, err := sd.run(round)
				if err != nil {
					return nil, fmt.Errorf("%s: %s: %w", c.name, sd.name, err)
				}
				if sd == &c.a {
					as[i] = append(as[i], s)
				} else {
					bs[i] = append(bs[i], s)
				}
				fmt.Fprintf(os.Stderr, "round %d %-22s %-34s %6.2fs  cpu %6.2fs  %s  out %s\n", round+1, c.name, sd.name, s.wall.Seconds(), s.cpu.Seconds(), mib(float64(s.rss)), mib(float64(s.out)))
			}
		}
	}
	var res []result
	for i, c := range cases {
		r := result{name: c.name, aName: c.a.name, bName: c.b.name, in: c.in, a: summarize(as[i]), b: summarize(bs[i])}
		r.ratioLo, r.ratioHi = ratioRange(as[i], bs[i])
		res = append(res, r)
	}
	return res, nil
}

// ratioRange returns the lowest and highest time ratio a[i]/b[i] of the
// rounds.
func ratioRange(a, b []sample) (lo, hi float64) {
	for i := range min(len(a), len(b)) {
		r := ratio(a[i].wall.Seconds(), b[i].wall.Seconds())
		if i == 0 || r < lo {
			lo = r
		}
		if i == 0 || r > hi {
			hi = r
		}
	}
	return lo, hi
}

// formatTable renders results as a Markdown table: medians of wall time
// and their ratio (a/b: below 1 means a is faster), the range of the
// rounds' ratios, throughput over the
// input size, CPU time (user + system; on a shared machine it varies far
// less than wall time), output sizes and their ratio, and peak RSS.
func formatTable(w io.Writer, res []result) {
	tw := tabwriter.NewWriter(w, 0, 0, 1, ' ', tabwriter.Debug)
	fmt.Fprintln(tw, "| case\t sluice\t peer\t sluice s\t peer s\t time ratio\t rounds\t sluice MB/s\t peer MB/s\t sluice CPU s\t peer CPU s\t CPU ratio\t sluice out\t peer out\t out ratio\t sluice RSS\t peer RSS\t")
	fmt.Fprintln(tw, "|---\t---\t---\t---:\t---:\t---:\t---:\t---:\t---:\t---:\t---:\t---:\t---:\t---:\t---:\t---:\t---:\t")
	for _, r := range res {
		fmt.Fprintf(tw, "| %s\t %s\t %s\t %.2f\t %.2f\t %.2f\t %.2f–%.2f\t %.0f\t %.0f\t %.2f\t %.2f\t %.2f\t %s\t %s\t %.4f\t %s\t %s\t\n",
			md(r.name), md(r.aName), md(r.bName), r.a.wall, r.b.wall, ratio(r.a.wall, r.b.wall), r.ratioLo, r.ratioHi,
			mbps(r.in, r.a.wall), mbps(r.in, r.b.wall), r.a.cpu, r.b.cpu, ratio(r.a.cpu, r.b.cpu),
			mib(r.a.out), mib(r.b.out), ratio(r.a.out, r.b.out), mib(r.a.rss), mib(r.b.rss))
	}
	tw.Flush()
}

// md escapes a table cell's pipes.
func md(s string) string { return strings.ReplaceAll(s, "|", `\|`) }

func ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}

func mbps(n int64, secs float64) float64 {
	if secs == 0 {
		return 0
	}
	return float64(n) / 1e6 / secs
}

// sluiceBackup returns a side running sluice backup of src to n fresh
// file:// targets, extra flags (the stages' flags among them) appended.
// It keeps the last stored object path in *last, for restore cases.
func (cfg *config) sluiceBackup(name, src string, targets int, last *string, extra ...string) side {
	return side{name: name, run: func(round int) (sample, error) {
		args := []string{cfg.sluice, "backup", src, "--progress", "never"}
		if cfg.workers != "" {
			args = append(args, "--workers", cfg.workers)
		}
		var dirs []string
		for i := range targets {
			d := filepath.Join(cfg.dir, fmt.Sprintf("t-%s-%d-%d", strings.ReplaceAll(name, " ", "_"), round, i))
			os.RemoveAll(d)
			dirs = append(dirs, d)
			args = append(args, "--to", "file://"+d)
		}
		args = append(args, extra...)
		s, err := shellPipeline("", nil, "", args)
		if err != nil {
			return s, err
		}
		obj, size, err := storedObject(dirs[0])
		if err != nil {
			return s, err
		}
		s.out = size
		if last != nil {
			*last = obj
		}
		for _, d := range dirs[1:] {
			os.RemoveAll(d)
		}
		return s, nil
	}}
}

// treeSize is the bytes of the regular files under dir.
func treeSize(dir string) int64 {
	var n int64
	filepath.WalkDir(dir, func(_ string, d fs.DirEntry, err error) error {
		if err == nil && d.Type().IsRegular() {
			if fi, err := d.Info(); err == nil {
				n += fi.Size()
			}
		}
		return nil
	})
	return n
}

func speed(cfg *config) error {
	file, about, err := cfg.benchFile()
	if err != nil {
		return err
	}
	peerOut := filepath.Join(cfg.dir, "peer.zst.age")
	zstdCmd := []string{"zstd", "-3", "-T2", "-q", "-c"}
	ageCmd := []string{"age", "-r", cfg.rec}
	var lastObj string
	cases := []benchCase{
		{name: "file backup", in: cfg.size,
			a: cfg.sluiceBackup("sluice backup FILE", file, 1, &lastObj, "-r", cfg.rec),
			b: side{name: "zstd -3 -T2 | age", run: func(int) (sample, error) {
				return shellPipeline(file, nil, peerOut, zstdCmd, ageCmd)
			}}},
		{name: "fan-out 3 vs 1 target", in: cfg.size,
			a: cfg.sluiceBackup("sluice backup FILE, 3 targets", file, 3, nil, "-r", cfg.rec),
			b: cfg.sluiceBackup("sluice backup FILE, 1 target", file, 1, nil, "-r", cfg.rec)},
		// The compressor alone on one core, both sides writing a plain
		// .zst file: the gap here is what the klauspost encoder costs
		// against C zstd per byte, which bounds the cases above on a
		// machine whose cores are all busy.
		{name: "zstd alone, 1 core", in: cfg.size,
			a: cfg.sluiceBackup("sluice backup FILE, no encryption, 1 worker", file, 1, nil, "--encrypt", "none", "--workers", "1"),
			b: side{name: "zstd -3 -T1", run: func(int) (sample, error) {
				return shellPipeline(file, nil, filepath.Join(cfg.dir, "peer.zst"), []string{"zstd", "-3", "-T1", "-q", "-c"})
			}}},
		{name: "file restore", in: cfg.size,
			a: side{name: "sluice restore", run: func(round int) (sample, error) {
				out := filepath.Join(cfg.dir, fmt.Sprintf("restored-%d", round))
				defer os.Remove(out)
				s, err := shellPipeline("", nil, "", []string{cfg.sluice, "restore", "file://" + lastObj, "--to", out, "-i", cfg.key})
				if fi, e := os.Stat(out); e == nil {
					s.out = fi.Size()
				}
				return s, err
			}},
			b: side{name: "age -d | zstd -d", run: func(round int) (sample, error) {
				out := filepath.Join(cfg.dir, fmt.Sprintf("peer-restored-%d", round))
				defer os.Remove(out)
				return shellPipeline(peerOut, nil, out, []string{"age", "-d", "-i", cfg.key}, []string{"zstd", "-d", "-q", "-c"})
			}}},
	}
	if cfg.files > 0 {
		tree, n, treeAbout, err := cfg.benchTree()
		if err != nil {
			return err
		}
		about += "; " + treeAbout
		peerTree := filepath.Join(cfg.dir, "peer-tree.tar.zst.age")
		var lastTree string
		cases = append(cases, benchCase{name: "tree backup", in: n,
			a: cfg.sluiceBackup("sluice backup DIR", tree, 1, &lastTree, "-r", cfg.rec),
			b: side{name: "tar | zstd -3 -T2 | age", run: func(int) (sample, error) {
				return shellPipeline("", nil, peerTree, []string{"tar", "-C", tree, "-cf", "-", "."}, zstdCmd, ageCmd)
			}}},
			benchCase{name: "tree restore", in: n,
				a: side{name: "sluice restore DIR", run: func(round int) (sample, error) {
					out := filepath.Join(cfg.dir, fmt.Sprintf("tree-restored-%d", round))
					defer os.RemoveAll(out)
					// tar -x makes every symlink as it is; a -tree may
					// hold links that point outside it.
					s, err := shellPipeline("", nil, "", []string{cfg.sluice, "restore", "file://" + lastTree, "--to", out, "-i", cfg.key, "--allow-external-symlinks"})
					s.out = treeSize(out)
					return s, err
				}},
				b: side{name: "age -d | zstd -d | tar -x", run: func(round int) (sample, error) {
					out := filepath.Join(cfg.dir, fmt.Sprintf("peer-tree-restored-%d", round))
					defer os.RemoveAll(out)
					if err := os.Mkdir(out, 0o755); err != nil {
						return sample{}, err
					}
					s, err := shellPipeline(peerTree, nil, "", []string{"age", "-d", "-i", cfg.key}, []string{"zstd", "-d", "-q", "-c"}, []string{"tar", "-x", "-C", out})
					if err != nil {
						return s, err
					}
					// sluice restore flushes the tree before it
					// reports it done (syncfs on Linux): so does the
					// peer, as `sync -f` would, on the clock.
					t0 := time.Now()
					err = fsync.Tree(out)
					s.wall += time.Since(t0)
					s.out = treeSize(out)
					return s, err
				}}})
	}
	res, err := runCases(cases, cfg.rounds)
	if err != nil {
		return err
	}
	fmt.Printf("\n%d rounds, medians; %s; %s\n\n", cfg.rounds, about, machine())
	formatTable(os.Stdout, res)
	return nil
}

// benchFile returns the file the file cases back up: -input, or
// generated mixed data of -size bytes. It sets cfg.size to the file's size
// and describes it for the table's heading.
func (cfg *config) benchFile() (path, about string, err error) {
	if cfg.input != "" {
		fi, err := os.Stat(cfg.input)
		if err != nil {
			return "", "", fmt.Errorf("-input: %w", err)
		}
		if !fi.Mode().IsRegular() {
			return "", "", fmt.Errorf("-input %s: not a regular file", cfg.input)
		}
		cfg.size = fi.Size()
		return cfg.input, fmt.Sprintf("file %s (%s)", cfg.input, mib(float64(cfg.size))), nil
	}
	path = filepath.Join(cfg.dir, "data.bin")
	t0 := time.Now()
	if err := writeFile(path, cfg.size, 1, cfg.random); err != nil {
		return "", "", err
	}
	fmt.Fprintf(os.Stderr, "generated %s of mixed data in %s\n", mib(float64(cfg.size)), time.Since(t0).Round(time.Millisecond))
	return path, fmt.Sprintf("%s file of mixed data (%.0f%% random blocks)", mib(float64(cfg.size)), 100*cfg.random), nil
}

// benchTree returns the directory the tree cases back up, -tree or a
// generated tree of -files files, with the bytes of its regular files and
// a description for the table's heading.
func (cfg *config) benchTree() (dir string, size int64, about string, err error) {
	if cfg.tree != "" {
		fi, err := os.Stat(cfg.tree)
		if err != nil {
			return "", 0, "", fmt.Errorf("-tree: %w", err)
		}
		if !fi.IsDir() {
			return "", 0, "", fmt.Errorf("-tree %s: not a directory", cfg.tree)
		}
		size = treeSize(cfg.tree)
		return cfg.tree, size, fmt.Sprintf("tree %s (%s)", cfg.tree, mib(float64(size))), nil
	}
	dir = filepath.Join(cfg.dir, "tree")
	t0 := time.Now()
	if size, err = writeTree(dir, cfg.files, 2, cfg.random); err != nil {
		return "", 0, "", err
	}
	fmt.Fprintf(os.Stderr, "generated %d files, %s, in %s\n", cfg.files, mib(float64(size)), time.Since(t0).Round(time.Millisecond))
	return dir, size, fmt.Sprintf("%d-file tree of mixed data", cfg.files), nil
}
