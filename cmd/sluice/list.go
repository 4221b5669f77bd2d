package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/spf13/cobra"

	"github.com/sluice-backup/sluice/backends"
	"github.com/sluice-backup/sluice/pipeline"
)

// isURLArg tells a TARGET_URL or OBJECT_URL argument from a pipeline
// name: a URL, or a bare bucket/prefix, which means S3 as it does for
// backup's --to (a pipeline name holds no "/").
func isURLArg(s string) bool { return strings.Contains(s, "/") }

// scope is what list, verify and prune act on: the open targets of a
// pipeline (with its name as the catalog filter) or one target URL.
type scope struct {
	pipeline string // "" for a bare target: every sluice backup there
	cfg      *pipeline.PipelineConfig
	targets  []*pipeline.Target
	openErrs []error
}

func (s *scope) Close() { closeTargets(s.targets) }

// openScope resolves arg: a URL is one target; anything else names a
// pipeline of the config file, whose targets are opened (those that fail
// are in openErrs).
func openScope(ctx context.Context, e *env, g *globalFlags, arg string) (*scope, error) {
	if isURLArg(arg) {
		t, err := backends.OpenExisting(ctx, e.reg(), arg, nil)
		if err != nil {
			return nil, targetOpenError(err)
		}
		return &scope{targets: []*pipeline.Target{t}}, nil
	}
	cfg, path, err := loadConfig(e, g, nil)
	if err != nil {
		return nil, err
	}
	name := strings.ToLower(arg)
	p, ok := cfg.Pipelines[name]
	if !ok {
		return nil, usageErrorf("no pipeline %q in %s (declared: %s); for a target, give its URL (s3://bucket/prefix)", arg, path, strings.Join(cfg.Names(), ", "))
	}
	s := &scope{pipeline: name, cfg: p}
	s.targets, s.openErrs = openConfigTargets(ctx, e.reg(), p)
	return s, nil
}

type listFlags struct{ json bool }

// listEntry is one line of `sluice list --json`.
type listEntry struct {
	Time     time.Time `json:"time"`
	Size     int64     `json:"size"`
	Stages   []string  `json:"stages"`
	URL      string    `json:"url"`
	Target   string    `json:"target"`
	Pipeline string    `json:"pipeline,omitempty"`
	Source   string    `json:"source,omitempty"`
	SHA256   string    `json:"sha256"`
	BytesIn  int64     `json:"bytes_in"`
}

func newListCmd(e *env, g *globalFlags) *cobra.Command {
	f := &listFlags{}
	cmd := &cobra.Command{
		Use:   "list PIPELINE|TARGET_URL",
		Short: "List backups with time, size, stages and URL, newest first",
		Long: `List the backups of a pipeline on all its targets, or every sluice backup
at a target URL. Only objects sluice made are listed: those with a
NAME.sluice.json manifest beside them (for a pipeline, one naming it).

Each line: creation time (UTC), stored size, stages, object URL. --json
prints a JSON array instead.

A backup whose manifest cannot be read (damaged, or not a sluice
manifest) is named on stderr and left out; the others are still listed
and the exit status is 1, as when a target cannot be listed.`,
		Example: `  sluice list photos
  sluice list s3://my-backups/photos --json`,
		Args: usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runList(cmd.Context(), e, g, f, args[0])
		},
	}
	cmd.Flags().BoolVar(&f.json, "json", false, "print a JSON array on stdout")
	return cmd
}

func runList(ctx context.Context, e *env, g *globalFlags, f *listFlags, arg string) error {
	// list --json prints its array on stdout; stderr keeps text logs.
	ctx, err := withLogger(ctx, e, g, false)
	if err != nil {
		return err
	}
	s, err := openScope(ctx, e, g, arg)
	if err != nil {
		return err
	}
	defer s.Close()
	errs := s.openErrs
	var all []pipeline.Entry
	for _, t := range s.targets {
		entries, err := pipeline.Catalog(ctx, t, s.pipeline)
		if err != nil {
			errs = append(errs, err)
			continue
		}
		for _, en := range entries {
			// A backup whose manifest cannot be read has no time, size or
			// stages to show; it is named in the error instead, and the
			// others are listed.
			if en.ManifestErr != nil {
				errs = append(errs, fmt.Errorf("%s: not listed: %w", en.URL(), en.ManifestErr))
				continue
			}
			all = append(all, en)
		}
	}
	pipeline.SortEntries(all)
	if f.json {
		out := make([]listEntry, 0, len(all))
		for _, en := range all {
			m := en.Manifest
			out = append(out, listEntry{Time: m.Created, Size: m.Size, Stages: m.Stages, URL: en.URL(),
				Target: en.Target.URL, Pipeline: m.Pipeline, Source: m.Source, SHA256: m.SHA256, BytesIn: m.BytesIn})
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		if len(all) == 0 && len(errs) == 0 {
			fmt.Fprintln(e.stderr, "list: no backups found")
		}
		for _, en := range all {
			m := en.Manifest
			fmt.Fprintf(e.stdout, "%s  %10s  %-14s  %s\n", m.Created.UTC().Format(time.RFC3339), fmtBytes(m.Size), strings.Join(m.Stages, ","), en.URL())
		}
	}
	if len(errs) > 0 {
		return fmt.Errorf("list: %w", errors.Join(errs...))
	}
	return nil
}
