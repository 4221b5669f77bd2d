package main

import (
	"context"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-backup/sluice/pipeline"
)

type pruneFlags struct {
	dryRun bool
	json   bool
}

func newPruneCmd(e *env, g *globalFlags) *cobra.Command {
	f := &pruneFlags{}
	cmd := &cobra.Command{
		Use:   "prune PIPELINE [--dry-run]",
		Short: "Apply the pipeline's retention on every target",
		Long: `Apply PIPELINE's retention policy to its backups on each of its targets,
with the semantics of restic's forget: keep_last, keep_hourly, keep_daily,
keep_weekly, keep_monthly, keep_yearly (buckets in UTC) and keep_within
(relative to the newest backup); a backup any policy keeps is kept, and the
newest backup is always kept.

Only objects with a sluice manifest naming PIPELINE are considered; nothing
else is ever touched. A backup is removed object first, then its manifest.
An object that cannot be deleted (S3 Object Lock, permissions) is reported
and the rest goes on; the exit status is then 1.

Retention applies to each source of the pipeline separately (a pipeline
with sources: [a, b] keeps the newest backups of a and of b), by the source
each manifest records. For older manifests that record none, the source is
told by the object name without its time; see README.md, "run, list,
verify, prune".

A backup whose manifest cannot be read (damaged, or not a sluice manifest)
is never removed: it is reported as SKIPPED, the others are judged without
it, and the exit status is 1.

A backup whose object is missing (only its manifest is left) takes no
stored backup's place: the stored backups are judged among themselves.
Its manifest is kept, and reported with "object missing", while the
policy applied to all backups keeps it, and removed after that.

A target that cannot be opened or listed is reported as FAILED (--json: a
target_failed event with "target"); the exit status is then 3 when the
other targets were pruned without failures, 1 when no target could be
read.

--dry-run lists what would be removed and removes nothing.`,
		Example: `  sluice prune photos --dry-run
  sluice prune photos`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runPrune(cmd.Context(), e, g, f, args[0])
		},
	}
	cmd.Flags().BoolVar(&f.dryRun, "dry-run", false, "show what would be removed, remove nothing")
	cmd.Flags().BoolVar(&f.json, "json", false, "write one JSON event per backup to stderr")
	return cmd
}

func runPrune(ctx context.Context, e *env, g *globalFlags, f *pruneFlags, arg string) error {
	ctx, err := withLogger(ctx, e, g, f.json)
	if err != nil {
		return err
	}
	if isURLArg(arg) {
		return usageErrorf("prune: give a pipeline name; retention is declared per pipeline")
	}
	s, err := openScope(ctx, e, g, arg, false)
	if err != nil {
		return err
	}
	defer s.Close()
	if s.cfg.Retention == nil || s.cfg.Retention.IsZero() {
		return usageErrorf("prune %s: the pipeline has no retention policy; nothing would be removed (set retention: {keep_last: N, ...})", s.pipeline)
	}
	failed, targetsFailed := 0, 0
	failTarget := func(url string, err error) {
		targetsFailed++
		reportTargetFailed(e, f.json, s.pipeline, url, err)
	}
	for _, t := range s.unavailable {
		failTarget(t.URL, t.Unavailable)
	}
	verb := "remove"
	if f.dryRun {
		verb = "would remove"
	}
	for _, t := range s.targets {
		items, err := pipeline.Prune(ctx, t, s.pipeline, *s.cfg.Retention, f.dryRun)
		if err != nil && items == nil {
			failTarget(t.URL, err)
			continue
		}
		kept, removed, bad, skipped := 0, 0, 0, 0
		for _, it := range items {
			action := "keep"
			switch {
			case it.Skipped():
				skipped++
				action = "SKIPPED"
			case it.Keep:
				kept++
			case it.Err != nil:
				bad++
				action = "FAILED"
			default:
				removed++
				action = verb
			}
			if f.json {
				ev := event{Event: "prune", Time: time.Now().UTC(), Pipeline: s.pipeline, Object: it.URL(), Reasons: it.Reasons, Missing: it.Missing}
				ev.Event = "prune_" + strings.ReplaceAll(strings.ToLower(action), " ", "_")
				if it.Err != nil {
					ev.Error = it.Err.Error()
				}
				if it.Skipped() {
					ev.Reasons, ev.Error = nil, it.ManifestErr.Error()
				}
				writeJSONEvent(e.stderr, ev)
				continue
			}
			if it.Skipped() {
				fmt.Fprintf(e.stderr, "%-12s %-20s  %s: left alone, its manifest cannot be read: %v\n", action, "-", it.URL(), it.ManifestErr)
				continue
			}
			line := fmt.Sprintf("%-12s %s  %s", action, it.Created().UTC().Format(time.RFC3339), it.URL())
			var notes []string
			if it.Keep {
				notes = append(notes, it.Reasons...)
			}
			if it.Missing {
				notes = append(notes, "object missing, only its manifest is left")
			}
			if len(notes) > 0 {
				line += "  (" + strings.Join(notes, ", ") + ")"
			}
			if it.Err != nil {
				line += ": " + it.Err.Error()
			}
			fmt.Fprintln(e.stderr, line)
		}
		failed += bad + skipped
		if !f.json {
			if f.dryRun {
				fmt.Fprintf(e.stderr, "prune %s on %s: %d kept, %d to remove (dry run: nothing removed)", s.pipeline, t.URL, kept, removed)
			} else {
				fmt.Fprintf(e.stderr, "prune %s on %s: %d kept, %d removed", s.pipeline, t.URL, kept, removed)
			}
			if bad > 0 {
				fmt.Fprintf(e.stderr, ", %d could not be removed", bad)
			}
			if skipped > 0 {
				fmt.Fprintf(e.stderr, ", %d skipped (manifest unreadable)", skipped)
			}
			fmt.Fprintln(e.stderr)
		}
	}
	var problems []string
	if failed > 0 {
		problems = append(problems, fmt.Sprintf("%d failures", failed))
	}
	if targetsFailed > 0 {
		problems = append(problems, fmt.Sprintf("%d of %d targets could not be read", targetsFailed, len(s.targets)+len(s.unavailable)))
	}
	if len(problems) == 0 {
		return nil
	}
	err = fmt.Errorf("prune %s: %s", s.pipeline, strings.Join(problems, "; "))
	return partialTargets(err, failed == 0 && targetsFailed < len(s.targets)+len(s.unavailable))
}
