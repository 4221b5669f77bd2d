package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"maps"
	"os"
	"slices"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-backup/sluice/backends"
	"github.com/sluice-backup/sluice/pipeline"
	"github.com/sluice-backup/sluice/pipeline/archive"
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
	// allowChanging archives files that change while read (see
	// pipeline.Backup.AllowChangingFiles).
	allowChanging bool
	keys          keyFlags
	perf          perfFlags
}

func newBackupCmd(e *env, g *globalFlags) *cobra.Command {
	f := &backupFlags{}
	cmd := &cobra.Command{
		Use:   "backup SOURCE --to TARGET [--to TARGET]...",
		Short: "Back up a file, a directory or stdin (-) to one or more targets",
		Long: `Back up SOURCE: a file, a directory (stored as a tar archive), a named pipe
(a FIFO or <(command), read like stdin) or - for stdin.

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
	fs.BoolVar(&f.allowChanging, "allow-changing-files", false, "archive a file of a directory that changes while it is read as read, with a warning, instead of failing")
	f.keys.addEncrypt(fs)
	f.perf.add(fs)
	return cmd
}

// isDir reports whether path is a directory (following symlinks, as a
// backup reads it).
func isDir(path string) bool {
	st, err := os.Stat(path)
	return err == nil && st.IsDir()
}

// defaultStallTimeout is long enough for one multipart part (16 MiB at
// the default unknown-size part size) over a slow link.
const defaultStallTimeout = 10 * time.Minute

func runBackup(cmd *cobra.Command, e *env, g *globalFlags, f *backupFlags, source string) error {
	ctx := cmd.Context()
	log, err := g.logger(e.stderr, f.json)
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
	if f.name == "" {
		// Given empty (typed, or SLUICE_NAME set to nothing): a template
		// that names nothing is a mistake, not a request for the default.
		return usageErrorf("--name is empty: give a template such as %q, or leave --name out for that default", pipeline.DefaultNameTemplate)
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
	warnLooseKeyFiles(e, &f.keys, log, f.json)
	perf, err := f.perf.apply(f.compress, &f.keys)
	if err != nil {
		return err
	}
	chain, err := backupChain(e.reg(), f.compress, f.encrypt, &f.keys)
	if err != nil {
		return err
	}
	exclude := f.exclude
	if err := archive.CheckPatterns(exclude); err != nil {
		return usageErrorf("--exclude: %w", err)
	}
	if flagEnvOf(cmd.Flags().Lookup("exclude")) != "" && (source == "-" || !isDir(source)) {
		// SLUICE_EXCLUDE may be exported for every backup; for a
		// file or stdin, which it cannot apply to, it is left unused.
		// Typed, --exclude for those is an error.
		exclude = nil
	}
	var src *pipeline.Source
	if source == "-" {
		if len(exclude) > 0 {
			return usageErrorf("--exclude applies to directory sources only")
		}
		src = pipeline.StreamSource("stdin", newCancelReader(ctx, e.stdin), -1)
	} else if src, err = pipeline.PathSource(source, exclude); err != nil {
		return usageError(err)
	} else if err := checkSourceReadable(source); err != nil {
		return err
	}
	if src.Name == "" && strings.Contains(f.name, "{source}") {
		return usageErrorf("backup: source %s is a file descriptor, whose name says nothing of what it holds: give --name (the template %q uses {source})", source, f.name)
	}
	name, err := pipeline.ExpandName(f.name, pipeline.NameVars{Source: src.Name, Host: pipeline.ShortHost(), Time: time.Now()})
	if err != nil {
		return usageErrorf("--name: %w", err)
	}
	configs := make([]pipeline.TargetConfig, len(f.targets))
	for i, raw := range f.targets {
		configs[i] = pipeline.TargetConfig{URL: raw}
	}
	targets, err := openBackupTargets(ctx, e.reg(), configs)
	if exitCode(err) == exitUsage {
		return usageErrorf("--to: %w", err)
	} else if err != nil {
		return err
	}
	defer closeTargets(targets)
	if src.Archive {
		more, err := targetExcludes(source, targetNames(targets))
		if err != nil {
			return usageError(err)
		}
		if len(more) > 0 {
			log.Info("leaving target folders inside the source out of the archive", "exclude", more)
			if src, err = pipeline.PathSource(source, append(slices.Clone(f.exclude), more...)); err != nil {
				return usageError(err)
			}
		}
	}
	b := &pipeline.Backup{
		Source: src, Stages: chain, Targets: targets, Name: name,
		ExpectedSize: expected, Log: log, Bandwidth: perf.bandwidth, UploadMemory: perf.uploadMemory,
		StallTimeout: f.stallTimeout, AllOrNothing: f.allOrNothing, AllowChangingFiles: f.allowChanging,
	}
	if err := b.Check(); err != nil {
		return usageError(err)
	}
	if f.dryRun {
		return printDryRun(ctx, e, f.json, b, nil, source)
	}
	_, err = storeBackup(ctx, e, g, f.json, f.progress, b)
	err = backupSourceHint(err)
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
	rep.pipeline = b.Pipeline
	// Every logger of the command, the targets' too, writes where the
	// reporter wants while it runs.
	defer g.divertLogs(rep.logHandler(asJSON, rep.bars, g.level))()
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

// printDryRun says on stderr what b would store, storing nothing: as
// text, or with asJSON as one "dry_run" event. A directory source is
// measured, excludes applied, so it shows what the backup would read; an
// error measuring it is one the backup would meet too, and is returned.
// A size the backup is given (--expected-size) is shown instead, and the
// tree is not walked, as the backup does not walk it either.
// p, when set (sluice run), adds the options each stage would run with.
// sourcePath is the source as given, which the text names when the source
// has no {source} name (a /dev/fd/N).
func printDryRun(ctx context.Context, e *env, asJSON bool, b *pipeline.Backup, p *pipeline.PipelineConfig, sourcePath string) error {
	ev, err := planDryRun(ctx, b, p)
	if err != nil {
		// Measuring meets what the backup would: say how to go on.
		err = fmt.Errorf("%s: %w", dryRunLabel(b.Pipeline), err)
		if p != nil {
			return runSourceHint(err)
		}
		return backupSourceHint(err)
	}
	if asJSON {
		writeJSONEvent(e.stderr, ev)
	} else {
		ev.printText(e.stderr, sourcePath)
	}
	switch n := len(ev.Unavailable); {
	case n == len(ev.Targets):
		return fmt.Errorf("%s: no target can be opened", dryRunLabel(b.Pipeline))
	case n > 0:
		return &exitError{code: exitPartial, err: fmt.Errorf("%s: %d of %d targets cannot be opened: %w", dryRunLabel(b.Pipeline), n, len(ev.Targets), pipeline.ErrPartial)}
	}
	return nil
}

func dryRunLabel(pipelineName string) string {
	if pipelineName != "" {
		return "dry run " + pipelineName
	}
	return "dry run"
}

// planDryRun describes what b would store, under the name a backup
// started now would use, found by reading the targets.
func planDryRun(ctx context.Context, b *pipeline.Backup, p *pipeline.PipelineConfig) (dryRunEvent, error) {
	if err := b.Check(); err != nil {
		return dryRunEvent{}, err
	}
	object, err := b.PlanName(ctx)
	if err != nil {
		return dryRunEvent{}, err
	}
	ev := dryRunEvent{
		eventHeader: header("dry_run"), Pipeline: b.Pipeline,
		Object: object, Stages: chainNames(b.Source.Archive, b.Stages),
		Source: b.Source.Name, Targets: targetNames(b.Targets),
		BWLimit: b.Bandwidth.Total, BWLimitTarget: b.Bandwidth.PerTarget, UploadMemory: cmp.Or(b.UploadMemory, pipeline.DefaultUploadMemory),
	}
	for _, t := range b.Targets {
		if t.Unavailable != nil {
			ev.Unavailable = append(ev.Unavailable, targetEvent{Target: t.URL, Error: t.Unavailable.Error()})
		}
	}
	switch {
	case b.Source.Size >= 0:
		ev.SourceSize = &b.Source.Size
	case b.ExpectedSize >= 0:
		// As in the backup, a size given replaces the walk.
		ev.ExpectedSize = &b.ExpectedSize
	default:
		size, measured, err := b.Source.Measure(ctx)
		if err != nil {
			return ev, err
		}
		if measured {
			ev.Files, ev.Entries, ev.ExpectedSize = &size.Files, &size.Entries, &size.Archive
		}
	}
	if p != nil {
		for _, st := range p.Stages {
			if opts := st.Options.Display(); len(opts) > 0 {
				if ev.Options == nil {
					ev.Options = map[string]map[string]string{}
				}
				ev.Options[st.Spec.Name] = opts
			}
		}
	}
	return ev, nil
}

// printText writes the dry run's human lines. The source is named by its
// {source} name, or by sourcePath when it has none.
func (ev dryRunEvent) printText(w io.Writer, sourcePath string) {
	fmt.Fprintf(w, "%s: would store %s (%s)\n", dryRunLabel(ev.Pipeline), ev.Object, strings.Join(ev.Stages, " → "))
	source := ev.Source
	if source == "" {
		source = sourcePath
	}
	switch {
	case ev.Files != nil:
		fmt.Fprintf(w, "  source: %d files, %d entries in all, %s as tar\n", *ev.Files, *ev.Entries, fmtBytes(*ev.ExpectedSize))
	case ev.SourceSize != nil:
		fmt.Fprintf(w, "  source: %s\n", fmtBytes(*ev.SourceSize))
	case ev.ExpectedSize != nil:
		fmt.Fprintf(w, "  source: %s, expected %s\n", source, fmtBytes(*ev.ExpectedSize))
	default:
		fmt.Fprintf(w, "  source: %s, size unknown\n", source)
	}
	for _, t := range ev.Targets {
		fmt.Fprintf(w, "  to %s\n", t)
	}
	for _, t := range ev.Unavailable {
		fmt.Fprintf(w, "  cannot open %s: %s\n", t.Target, t.Error)
	}
	if bw := ev.BWLimit; bw > 0 {
		fmt.Fprintf(w, "  upload limit %s/s for all targets together\n", fmtBytes(bw))
	}
	if bw := ev.BWLimitTarget; bw > 0 {
		fmt.Fprintf(w, "  upload limit %s/s per target\n", fmtBytes(bw))
	}
	if m := ev.UploadMemory; m > 0 {
		fmt.Fprintf(w, "  upload memory %s, shared by the targets\n", fmtBytes(m))
	}
	for _, name := range slices.Sorted(maps.Keys(ev.Options)) {
		opts := ev.Options[name]
		keys := slices.Sorted(maps.Keys(opts))
		parts := make([]string, len(keys))
		for i, k := range keys {
			parts[i] = k + "=" + opts[k]
		}
		fmt.Fprintf(w, "  stage %s: %s\n", name, strings.Join(parts, " "))
	}
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

// targetNames are the targets' display URLs.
func targetNames(targets []*pipeline.Target) []string {
	names := make([]string, len(targets))
	for i, t := range targets {
		names[i] = t.URL
	}
	return names
}
