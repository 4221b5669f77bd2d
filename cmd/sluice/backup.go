package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-backup/sluice/backends"
	"github.com/sluice-backup/sluice/pipeline"
)

type backupFlags struct {
	targets      []string
	compress     string
	encrypt      string
	name         string
	exclude      []string
	json         bool
	progress     string
	dryRun       bool
	expectedSize string
	stallTimeout time.Duration
	allOrNothing bool
	keys         keyFlags
	perf         perfFlags
}

func newBackupCmd(e *env, g *globalFlags) *cobra.Command {
	f := &backupFlags{}
	cmd := &cobra.Command{
		Use:   "backup SOURCE --to TARGET [--to TARGET]...",
		Short: "Back up a file, a directory or stdin (-) to one or more targets",
		Long: `Back up SOURCE: a file, a directory (stored as a tar archive) or - for stdin.

TARGET is s3://bucket/prefix, gs://bucket/prefix, azblob://container/prefix,
file:///abs/path or mem://; a bare bucket/prefix means S3. The object name is
the --name template plus the extensions of what it holds (.tar, .zst, .age).

On success stdout has exactly one line per stored object: its URL.`,
		Example: `  sluice keygen -o key.txt > recipient.txt
  sluice backup ~/photos --to s3://my-backups/photos -R recipient.txt
  pg_dump db | sluice backup - --name db-{time}.sql --to file:///var/backups -r age1…`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runBackup(cmd, e, g, f, args[0])
		},
	}
	fs := cmd.Flags()
	fs.StringArrayVar(&f.targets, "to", nil, "target URL (repeatable)")
	fs.StringVar(&f.compress, "compress", "zstd", "compression: zstd, zstd:LEVEL, gzip[:LEVEL], s2 or none")
	fs.StringVar(&f.encrypt, "encrypt", "", "encryption: age (default when a key is given), fernet or none")
	fs.StringVar(&f.name, "name", pipeline.DefaultNameTemplate, "object name template: {source}, {host}, {time}, {date}")
	fs.StringArrayVar(&f.exclude, "exclude", nil, "exclude pattern for directory sources (repeatable)")
	fs.BoolVar(&f.json, "json", false, "write JSON events to stderr instead of the human summary")
	fs.StringVar(&f.progress, "progress", "auto", "progress display on stderr: auto, always or never")
	fs.BoolVar(&f.dryRun, "dry-run", false, "show what would be stored, store nothing")
	fs.StringVar(&f.expectedSize, "expected-size", "", "expected size of a stdin source (e.g. 40GiB), or of a directory instead of measuring it: sizes multipart uploads and gives progress an ETA")
	fs.DurationVar(&f.stallTimeout, "stall-timeout", defaultStallTimeout, "abort a target that makes no progress for this long (0 waits forever)")
	fs.BoolVar(&f.allOrNothing, "all-or-nothing", false, "abort every target when one fails, removing copies already stored")
	f.keys.addEncrypt(fs)
	f.perf.add(fs)
	return cmd
}

// defaultStallTimeout is long enough for one multipart part (16 MiB at
// the default unknown-size part size) over a slow link.
const defaultStallTimeout = 10 * time.Minute

func runBackup(cmd *cobra.Command, e *env, g *globalFlags, f *backupFlags, source string) error {
	ctx := cmd.Context()
	log, err := g.logger(e.stderr)
	if err != nil {
		return err
	}
	ctx = backends.WithLogger(ctx, log)
	if len(f.targets) == 0 {
		return usageErrorf("backup: at least one --to TARGET is required")
	}
	if err := checkProgressMode(f.progress); err != nil {
		return err
	}
	if f.stallTimeout < 0 {
		return usageErrorf("--stall-timeout %s: must not be negative", f.stallTimeout)
	}
	expected := int64(-1)
	if f.expectedSize != "" {
		if expected, err = pipeline.ParseSize(f.expectedSize); err != nil {
			return usageErrorf("--expected-size: %v", err)
		}
	}
	warnLooseKeyFiles(e, &f.keys)
	perf, err := f.perf.apply(f.compress, &f.keys)
	if err != nil {
		return err
	}
	chain, err := backupChain(e.reg(), f.compress, f.encrypt, &f.keys)
	if err != nil {
		return err
	}
	var src *pipeline.Source
	if source == "-" {
		if len(f.exclude) > 0 {
			return usageErrorf("--exclude applies to directory sources only")
		}
		src = pipeline.StreamSource("stdin", newCancelReader(ctx, e.stdin), -1)
	} else if src, err = pipeline.PathSource(source, f.exclude); err != nil {
		return usageError(err)
	}
	name, err := pipeline.ExpandName(f.name, pipeline.NameVars{Source: src.Name, Host: shortHost(), Time: time.Now()})
	if err != nil {
		return usageError(err)
	}
	var targets []*pipeline.Target
	defer func() {
		for _, t := range targets {
			t.Close()
		}
	}()
	for _, raw := range f.targets {
		t, err := backends.OpenTarget(ctx, e.reg(), raw, nil)
		if err != nil {
			return usageError(err)
		}
		targets = append(targets, t)
	}
	b := &pipeline.Backup{
		Source: src, Stages: chain, Targets: targets, Name: name,
		ExpectedSize: expected, Log: log, Bandwidth: perf.bandwidth, UploadMemory: perf.uploadMemory,
		StallTimeout: f.stallTimeout, AllOrNothing: f.allOrNothing,
	}
	if f.dryRun {
		return printDryRun(ctx, e, b)
	}
	_, err = storeBackup(ctx, e, g, f.json, f.progress, b)
	if errors.Is(err, pipeline.ErrPartial) {
		return &exitError{code: exitPartial, err: err}
	}
	return err
}

// storeBackup runs b with a progress reporter (bars on a terminal per
// progress mode, JSON events with asJSON), prints the URL of every stored
// object on stdout (the backup and run contract: one line per object) and
// the summary on stderr. It returns Run's result and error.
func storeBackup(ctx context.Context, e *env, g *globalFlags, asJSON bool, progress string, b *pipeline.Backup) (*pipeline.BackupResult, error) {
	rep := newReporter(e.stderr, asJSON, showBars(progress, asJSON, e.stderr), progressInterval(asJSON))
	b.Log = backupLogger(b.Log, rep, asJSON, g)
	b.Observer = rep
	b.ProgressTotal = rep.json || rep.bars
	go rep.run()
	res, err := b.Run(ctx)
	rep.finish(err != nil)
	if res != nil {
		for _, t := range res.Targets {
			if t.Err == nil {
				fmt.Fprintln(e.stdout, t.URL)
			}
		}
		printSummary(e, asJSON, b.Pipeline, res)
	}
	return res, err
}

// printDryRun says on stderr what b would store, storing nothing. A
// directory source is measured, excludes applied, so the line shows what
// the backup would read; an error measuring it is one the backup would
// meet too, and is returned.
func printDryRun(ctx context.Context, e *env, b *pipeline.Backup) error {
	label := "dry run"
	if b.Pipeline != "" {
		label += " " + b.Pipeline
	}
	fmt.Fprintf(e.stderr, "%s: would store %s%s (%s)\n", label, b.Name, pipeline.Extensions(b.Source.Archive, b.Stages), describeChain(b.Source.Archive, b.Stages))
	size, measured, err := b.Source.Measure(ctx)
	switch {
	case err != nil:
		return fmt.Errorf("%s: %w", label, err)
	case measured:
		fmt.Fprintf(e.stderr, "  source: %d files, %d entries in all, %s as tar\n", size.Files, size.Entries, fmtBytes(size.Archive))
	case b.Source.Size >= 0:
		fmt.Fprintf(e.stderr, "  source: %s\n", fmtBytes(b.Source.Size))
	case b.ExpectedSize >= 0:
		fmt.Fprintf(e.stderr, "  source: %s, expected %s\n", b.Source.Name, fmtBytes(b.ExpectedSize))
	default:
		fmt.Fprintf(e.stderr, "  source: %s, size unknown\n", b.Source.Name)
	}
	for _, t := range b.Targets {
		fmt.Fprintf(e.stderr, "  to %s\n", t.URL)
	}
	if bw := b.Bandwidth.Total; bw > 0 {
		fmt.Fprintf(e.stderr, "  upload limit %s/s for all targets together\n", fmtBytes(bw))
	}
	if bw := b.Bandwidth.PerTarget; bw > 0 {
		fmt.Fprintf(e.stderr, "  upload limit %s/s per target\n", fmtBytes(bw))
	}
	if m := b.UploadMemory; m > 0 {
		fmt.Fprintf(e.stderr, "  upload memory %s, shared by the targets\n", fmtBytes(m))
	}
	return nil
}

// shortHost is the {host} of name templates: the host name up to its
// first dot.
func shortHost() string {
	host, _ := os.Hostname()
	host, _, _ = strings.Cut(host, ".")
	return host
}

func printSummary(e *env, asJSON bool, pipelineName string, res *pipeline.BackupResult) {
	ok := len(res.Targets) - res.Failed()
	if asJSON {
		ev := summaryEvent(res)
		ev.Pipeline = pipelineName
		writeJSONEvent(e.stderr, ev)
		return
	}
	label := "backup"
	if pipelineName != "" {
		label = "run " + pipelineName
	}
	ratio := 0.0
	if res.BytesIn > 0 {
		ratio = float64(res.BytesOut) / float64(res.BytesIn)
	}
	fmt.Fprintf(e.stderr, "%s: %s → %s (%.1f%%) in %s, %d of %d targets stored\n", label,
		fmtBytes(res.BytesIn), fmtBytes(res.BytesOut), 100*ratio, res.Duration.Round(time.Millisecond), ok, len(res.Targets))
}
