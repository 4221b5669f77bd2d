package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"log/slog"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"github.com/spf13/cobra"
	"github.com/spf13/pflag"

	"github.com/sluice-backup/sluice/backends"
	"github.com/sluice-backup/sluice/pipeline"
)

type runFlags struct {
	dryRun                 bool
	json                   bool
	progress               string
	options                []string
	bwlimit, bwlimitTarget string
	limits                 pipeline.Bandwidth // the two above, parsed
	workers                int
	uploadMemory           string
	uploadBudget           int64 // uploadMemory parsed; 0 when not given

	fs *pflag.FlagSet // the flags above, to tell typed values from the environment's
}

func newRunCmd(e *env, g *globalFlags) *cobra.Command {
	f := &runFlags{}
	cmd := &cobra.Command{
		Use:   "run [PIPELINE...]",
		Short: "Run declared pipelines (all when none is named)",
		Long: `Run the named pipelines of the config file, or all of them in name order.

Each pipeline builds its stages first (reading key files and variables), so
a missing key stops that pipeline before anything is read or written. A
failing pipeline does not stop the others. stdout has one line per stored
object, its URL; the summary per pipeline and target goes to stderr.

Exit status: 0 when every pipeline stored on every target; 3 when some
pipelines or targets failed while something was stored; 1 when nothing was
stored; 2 for config errors (and when every pipeline failed on its config,
such as a missing key file).

` + configHelp,
		Example: `  sluice run                       # every pipeline
  sluice run photos db             # just these
  sluice run db -o zstd.level=19   # a stage option for this run only`,
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPipelines(cmd.Context(), e, g, f, args)
		},
	}
	fs := cmd.Flags()
	f.fs = fs
	fs.BoolVar(&f.dryRun, "dry-run", false, "show what each pipeline would store, store nothing (still builds stages and opens targets)")
	fs.BoolVar(&f.json, "json", false, "write JSON events to stderr instead of the human summary")
	fs.StringVar(&f.progress, "progress", "auto", "progress display on stderr: auto (on a terminal), always or never")
	fs.StringArrayVarP(&f.options, "option", "o", nil, "stage option as STAGE.OPTION=VALUE for every selected pipeline using that stage (repeatable); wins over file and environment")
	fs.StringVar(&f.bwlimit, "bwlimit", "", "cap on the upload rate to all targets of each pipeline together, e.g. 10MiB (per second); wins over the bwlimit key, 0 lifts it")
	fs.StringVar(&f.bwlimitTarget, "bwlimit-target", "", "cap on the upload rate to each target, e.g. 4MiB (per second); wins over the bwlimit_target key, 0 lifts it")
	fs.IntVar(&f.workers, "workers", 0, "zstd compression workers for every selected pipeline that compresses with zstd, as -o zstd.concurrency=N (0: as configured)")
	fs.StringVar(&f.uploadMemory, "upload-memory", "", "memory all uploads of a pipeline's backup may buffer, e.g. 96MiB; wins over the upload_memory key")
	return cmd
}

// pipelineOutcome is how one pipeline's run went.
type pipelineOutcome struct {
	name      string
	stored    int  // objects stored (counting each target); in a dry run, targets that open
	failed    int  // failed target writes, sources and targets that did not open
	configErr bool // stopped before any I/O by its config (stages did not build)
	err       error
}

func runPipelines(ctx context.Context, e *env, g *globalFlags, f *runFlags, args []string) error {
	log, err := g.logger(e.stderr, f.json)
	if err != nil {
		return err
	}
	ctx = backends.WithLogger(ctx, log)
	if err := checkProgressMode(f.progress); err != nil {
		return err
	}
	if f.limits.Total, err = parseRate("--bwlimit", f.bwlimit); err != nil {
		return err
	}
	if f.limits.PerTarget, err = parseRate("--bwlimit-target", f.bwlimitTarget); err != nil {
		return err
	}
	if f.workers < 0 {
		return usageErrorf("--workers %d: must not be negative", f.workers)
	}
	merged, err := f.stageOptions(e.reg())
	if err != nil {
		return err
	}
	if f.uploadBudget, err = parseUploadMemory(f.uploadMemory); err != nil {
		return err
	}
	// Names are case-insensitive; one named twice runs once.
	var names []string
	for _, a := range args {
		if n := strings.ToLower(a); !slices.Contains(names, n) {
			names = append(names, n)
		}
	}
	cfg, _, err := loadConfig(e, g, func(raw map[string]any, origins map[string]string) error {
		return applyOptionFlags(raw, origins, names, merged)
	})
	if err != nil {
		return err
	}
	if len(names) == 0 {
		names = cfg.Names()
	}
	for _, n := range names {
		if _, ok := cfg.Pipelines[n]; !ok {
			return usageErrorf("run: no pipeline %q (declared: %s)", n, strings.Join(cfg.Names(), ", "))
		}
	}
	warnLooseConfigKeys(e, cfg, names, log, f.json)
	var outcomes []pipelineOutcome
	for _, n := range names {
		if ctx.Err() != nil {
			break
		}
		o := runOnePipeline(ctx, e, g, log, f, cfg.Pipelines[n])
		outcomes = append(outcomes, o)
		if o.err != nil {
			if f.json {
				writeJSONEvent(e.stderr, event{Event: "pipeline_failed", Time: time.Now().UTC(), Pipeline: n, Error: o.err.Error()})
			} else {
				fmt.Fprintf(e.stderr, "run %s: FAILED: %v\n", n, o.err)
			}
		}
	}
	if err := ctx.Err(); err != nil {
		return fmt.Errorf("run: interrupted after %d of %d pipelines: %w", len(outcomes), len(names), err)
	}
	return runExit(outcomes)
}

// stageOptions merges run's -o and --workers, typed and from the
// environment, as backup does (see mergeSettings).
func (f *runFlags) stageOptions(reg *pipeline.Registry) ([]mergedOption, error) {
	k := &keyFlags{options: f.options, fs: f.fs}
	if f.workers > 0 {
		k.extra = append(k.extra, k.setting("workers", "zstd", "concurrency", strconv.Itoa(f.workers)))
	}
	settings, err := k.settings()
	if err != nil {
		return nil, err
	}
	return mergeSettings(reg, settings)
}

// applyOptionFlags applies the merged -o and --workers options to the raw
// config of each selected pipeline (all when names is empty) that uses
// the stage, replacing the file's value of that option. Relative *_file
// paths are taken relative to the working directory. An option typed for
// a stage no selected pipeline uses is a usage error; one from the
// environment is left unused, since the variable may be exported for
// every run.
func applyOptionFlags(raw map[string]any, origins map[string]string, names []string, merged []mergedOption) error {
	if len(merged) == 0 {
		return nil
	}
	pm, _ := raw["pipelines"].(map[string]any)
	if len(names) == 0 {
		for n := range pm {
			names = append(names, n)
		}
		slices.Sort(names)
	}
	for _, m := range merged {
		val := m.value
		switch v := val.(type) {
		case string:
			if strings.HasSuffix(m.key, "_file") {
				val = absPath(v)
			}
		case []string:
			list := make([]any, len(v))
			for i, e := range v {
				if strings.HasSuffix(m.key, "_file") {
					e = absPath(e)
				}
				list[i] = e
			}
			val = list
		}
		origin := cmp.Or(m.env, m.name)
		applied := false
		for _, n := range names {
			if _, ok := pm[n]; !ok {
				continue // reported as an unknown pipeline later
			}
			path, err := pipeline.SetStageOption(raw, "pipelines."+n, m.stage, m.key, val)
			if err != nil {
				continue
			}
			origins[path] = origin
			applied = true
		}
		if !applied && m.env == "" {
			return usageErrorf("%s: no selected pipeline uses stage %q", origin, m.stage)
		}
	}
	return nil
}

func absPath(p string) string {
	if abs, err := filepath.Abs(pipeline.ResolvePath(p, "", "")); err == nil {
		return abs
	}
	return p
}

// runOnePipeline builds and runs one pipeline: one backup per source.
func runOnePipeline(ctx context.Context, e *env, g *globalFlags, log *slog.Logger, f *runFlags, p *pipeline.PipelineConfig) pipelineOutcome {
	out := pipelineOutcome{name: p.Name}
	chain, err := p.BuildStages()
	if err != nil {
		out.err, out.configErr = err, true
		return out
	}
	targets, err := openBackupTargets(ctx, e.reg(), p.Targets)
	if err != nil {
		out.err, out.configErr = err, exitCode(err) == exitUsage
		out.failed = len(p.Targets)
		return out
	}
	defer closeTargets(targets)
	// Every source is checked before the first is backed up: a target
	// that is a source fails the pipeline with nothing stored.
	excludes, err := pipelineExcludes(p)
	if err != nil {
		out.err, out.configErr = err, true
		return out
	}
	now := time.Now()
	var errs []error
	for i, path := range p.Sources {
		more := excludes[i]
		if len(more) > 0 {
			log.Info("leaving target folders inside the source out of the archive", "pipeline", p.Name, "exclude", more)
		}
		src, err := p.SourceExcluding(path, more)
		if err == nil {
			err = checkSourceReadable(path)
		}
		if err != nil {
			out.failed++
			errs = append(errs, err)
			continue
		}
		name, err := pipeline.ExpandName(p.NameTemplate, pipeline.NameVars{Pipeline: p.Name, Source: src.Name, Host: pipeline.ShortHost(), Time: now})
		if err != nil {
			out.failed++
			errs = append(errs, err)
			continue
		}
		b := &pipeline.Backup{
			Source: src, Stages: chain, Targets: targets, Name: name, Pipeline: p.Name,
			ExpectedSize: -1, Log: log, Now: now,
			AllOrNothing:       p.AllOrNothing != nil && *p.AllOrNothing,
			AllowChangingFiles: p.AllowChangingFiles != nil && *p.AllowChangingFiles,
			StallTimeout:       defaultStallTimeout,
		}
		if p.StallTimeout != nil {
			b.StallTimeout = *p.StallTimeout
		}
		if p.UploadMemory != nil {
			b.UploadMemory = *p.UploadMemory
		}
		if f.uploadBudget > 0 {
			b.UploadMemory = f.uploadBudget
		}
		b.Bandwidth = pipelineBandwidth(p, f)
		if f.dryRun {
			err := printDryRun(ctx, e, f.json, b, p, path)
			if errors.Is(err, pipeline.ErrPartial) {
				// Some targets open: as in a real run, the pipeline had
				// failures but did not fail, and the dry run exits 3.
				for _, t := range targets {
					if t.Unavailable != nil {
						out.failed++
					} else {
						out.stored++
					}
				}
			} else if err != nil {
				out.failed++
				errs = append(errs, err)
			}
			continue
		}
		res, err := storeBackup(ctx, e, g, f.json, f.progress, b)
		if res != nil {
			ok := len(res.Targets) - res.Failed()
			out.stored += ok
			out.failed += res.Failed()
			if !f.json {
				for _, t := range res.Targets {
					if t.Err != nil {
						fmt.Fprintf(e.stderr, "  FAILED %s: %v\n", t.Target, t.Err)
					} else {
						fmt.Fprintf(e.stderr, "  ok     %s\n", t.URL)
					}
				}
			}
		} else if err != nil {
			out.failed++
		}
		err = runSourceHint(err)
		if err != nil && !errors.Is(err, pipeline.ErrPartial) {
			errs = append(errs, err)
		}
	}
	if len(errs) > 0 {
		out.err = errors.Join(errs...)
	}
	return out
}

// runExit turns the outcomes into the exit status documented on run.
func runExit(outcomes []pipelineOutcome) error {
	var stored, failed, configFailed, okPipes int
	for _, o := range outcomes {
		stored += o.stored
		if o.err != nil || o.failed > 0 {
			failed++
			if o.configErr {
				configFailed++
			}
		} else {
			okPipes++
		}
	}
	switch {
	case failed == 0:
		return nil
	case stored > 0 || okPipes > 0:
		return &exitError{code: exitPartial, err: fmt.Errorf("run: %d of %d pipelines had failures", failed, len(outcomes))}
	case configFailed == failed:
		return usageErrorf("run: every pipeline failed on its config")
	}
	return fmt.Errorf("run: every pipeline failed")
}

// usageArgs makes an argument-count error a usage error (exit 2).
func usageArgs(check cobra.PositionalArgs) cobra.PositionalArgs {
	return func(cmd *cobra.Command, args []string) error {
		if err := check(cmd, args); err != nil {
			return usageErrorf("%v (see %s --help)", err, cmd.CommandPath())
		}
		return nil
	}
}

// pipelineBandwidth is a pipeline's upload limits: its bwlimit and
// bwlimit_target keys, each replaced by the run flag when that is given;
// a flag of 0 (or off) lifts the key's limit.
func pipelineBandwidth(p *pipeline.PipelineConfig, f *runFlags) pipeline.Bandwidth {
	var bw pipeline.Bandwidth
	if p.BWLimit != nil {
		bw.Total = *p.BWLimit
	}
	if p.BWLimitTarget != nil {
		bw.PerTarget = *p.BWLimitTarget
	}
	if f.bwlimit != "" {
		bw.Total = f.limits.Total
	}
	if f.bwlimitTarget != "" {
		bw.PerTarget = f.limits.PerTarget
	}
	return bw
}
