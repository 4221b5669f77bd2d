package main

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
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
	// unavailable are the pipeline's targets that could not be opened,
	// each with its error in Unavailable.
	unavailable []*pipeline.Target
}

func (s *scope) Close() { closeTargets(s.targets) }

// openScope resolves arg: a URL is one target; anything else names a
// pipeline of the config file, whose targets are opened (those that fail
// are in unavailable). takesURL says whether the command takes a target
// URL, which the error for an unknown pipeline then suggests.
func openScope(ctx context.Context, e *env, g *globalFlags, arg string, takesURL bool) (*scope, error) {
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
		hint := ""
		if takesURL {
			hint = "; for a target, give its URL (s3://bucket/prefix)"
		}
		return nil, usageErrorf("no pipeline %q in %s (declared: %s)%s", arg, path, strings.Join(cfg.Names(), ", "), hint)
	}
	s := &scope{pipeline: name, cfg: p}
	s.targets, s.unavailable = openConfigTargets(ctx, e.reg(), p)
	return s, nil
}

type listFlags struct{ json bool }

// listEntry is one line of `sluice list --json`.
type listEntry struct {
	Time     time.Time `json:"time"`
	Size     int64     `json:"size"`
	Stages   []string  `json:"stages"`
	URL      string    `json:"url"`
	Missing  bool      `json:"missing,omitempty"` // only the manifest is left: the object is gone
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
prints a JSON array instead. A backup whose object is gone but whose
manifest is left is listed with "(object missing)" ("missing": true).
Backups whose manifest lies here but records another prefix (written to
s3://bkt/photos, listed as s3://bkt) are left out, and stderr says where
to list them.

A backup whose manifest cannot be read (damaged, or not a sluice
manifest) is named on stderr and left out; the others are still listed
and the exit status is 1. A target that cannot be opened or listed is
named on stderr; the exit status is then 3 when other targets were
listed, 1 when none was. An object's URL (the one backup printed) is not
a target: list fails and names the target URL to give instead.`,
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
	s, err := openScope(ctx, e, g, arg, true)
	if err != nil {
		if isURLArg(arg) && isFileObject(arg) {
			// "is not a folder" would not say which URL to give.
			return objectNotFolderError(arg)
		}
		return err
	}
	defer s.Close()
	var unreadable, failed []error // manifests, targets
	for _, t := range s.unavailable {
		failed = append(failed, t.Unavailable)
	}
	var all []pipeline.Entry
	var elsewhere elsewhereCount
	var objects []string // targets whose URL names an object
	for _, t := range s.targets {
		l, err := pipeline.ListBackups(ctx, t, s.pipeline)
		if err != nil {
			failed = append(failed, err)
			continue
		}
		elsewhere.add(l)
		if l.PrefixIsObject {
			objects = append(objects, t.URL)
		}
		for _, en := range l.Entries {
			// A backup whose manifest cannot be read has no time, size or
			// stages to show; it is named in the error instead, and the
			// others are listed.
			if en.ManifestErr != nil {
				unreadable = append(unreadable, fmt.Errorf("%s: not listed: %w", en.URL(), en.ManifestErr))
				continue
			}
			all = append(all, en)
		}
	}
	pipeline.SortEntries(all)
	if len(all)+len(unreadable)+len(failed)+elsewhere.n == 0 && len(objects) > 0 {
		// The URL a backup printed, given to list: "no backups found"
		// would tell the user that nothing is stored.
		var errs []error
		for _, u := range objects {
			errs = append(errs, objectNotFolderError(u))
		}
		return errors.Join(errs...)
	}
	if f.json {
		out := make([]listEntry, 0, len(all))
		for _, en := range all {
			m := en.Manifest
			out = append(out, listEntry{Time: m.Created, Size: m.Size, Stages: m.Stages, URL: en.URL(), Missing: en.Missing,
				Target: en.Target.URL, Pipeline: m.Pipeline, Source: m.Source, SHA256: m.SHA256, BytesIn: m.BytesIn})
		}
		enc := json.NewEncoder(e.stdout)
		enc.SetIndent("", "  ")
		if err := enc.Encode(out); err != nil {
			return err
		}
	} else {
		if len(all) == 0 && len(unreadable)+len(failed) == 0 && elsewhere.n == 0 {
			fmt.Fprintln(e.stderr, "list: no backups found")
		}
		for _, en := range all {
			m := en.Manifest
			line := fmt.Sprintf("%s  %10s  %-14s  %s", m.Created.UTC().Format(time.RFC3339), fmtBytes(m.Size), strings.Join(m.Stages, ","), en.URL())
			if en.Missing {
				line += "  (object missing)"
			}
			fmt.Fprintln(e.stdout, line)
		}
	}
	if note := elsewhere.note(len(all) == 0); note != "" {
		fmt.Fprintf(e.stderr, "list: %s\n", note)
	}
	if err := errors.Join(append(unreadable, failed...)...); err != nil {
		return partialTargets(fmt.Errorf("list: %w", err), len(unreadable) == 0 && len(failed) < len(s.targets)+len(s.unavailable))
	}
	return nil
}

// objectNotFolderError is list's error for the URL u of an object (as a
// backup prints it): it names the target URL to give instead.
func objectNotFolderError(u string) error {
	return fmt.Errorf("list %s: that is an object, not a folder of backups; list takes the target URL (%s) or a pipeline name", backends.Redact(u), backends.Redact(parentURL(u)))
}

// isFileObject reports whether rawURL is a file:// URL naming a file
// that is not a folder.
func isFileObject(rawURL string) bool {
	u, err := url.Parse(rawURL)
	if err != nil || !strings.EqualFold(u.Scheme, "file") || u.Host != "" {
		return false
	}
	fi, err := os.Stat(filepath.FromSlash(u.Path))
	return err == nil && !fi.IsDir()
}

// parentURL returns the URL of the folder holding the object that u
// names: u less its last path element, with its query kept.
func parentURL(u string) string {
	path, query, hasQuery := strings.Cut(u, "?")
	if i := strings.LastIndex(path, "/"); i > strings.Index(path, "://")+2 {
		path = path[:i]
	}
	if hasQuery {
		return path + "?" + query
	}
	return path
}

// partialTargets returns err with exit status 3 when partial is true —
// some targets failed while the others succeeded — and as it is (exit 1)
// otherwise.
func partialTargets(err error, partial bool) error {
	if partial {
		return &exitError{code: exitPartial, err: err}
	}
	return err
}

// reportTargetFailed reports a target that list, verify or prune could
// not read (not opened, or not listed): a "target_failed" event with
// asJSON, otherwise a FAILED line on stderr.
func reportTargetFailed(e *env, asJSON bool, pipelineName, target string, err error) {
	if asJSON {
		writeJSONEvent(e.stderr, event{Event: "target_failed", Time: time.Now().UTC(), Pipeline: pipelineName, Target: target, Error: err.Error()})
		return
	}
	fmt.Fprintf(e.stderr, "FAILED target %s: %v\n", target, err)
}

// elsewhereCount adds up [pipeline.Listing.Elsewhere] over targets.
type elsewhereCount struct {
	n    int
	urls []string
}

func (c *elsewhereCount) add(l *pipeline.Listing) {
	c.n += l.Elsewhere
	for _, u := range l.ElsewhereURLs {
		if !slices.Contains(c.urls, u) {
			c.urls = append(c.urls, u)
		}
	}
}

// note says how many backups were left out because they were written
// under another prefix, and where to list them; "" when none were. With
// none, it starts by saying that nothing else was found.
func (c *elsewhereCount) note(none bool) string {
	if c.n == 0 {
		return ""
	}
	urls := c.urls
	more := ""
	if len(urls) > 3 {
		urls, more = urls[:3], ", …"
	}
	what := fmt.Sprintf("%d backups stored under other prefixes were", c.n)
	if c.n == 1 {
		what = "1 backup stored under another prefix was"
	}
	if none {
		what = "no backups found here; " + what
	}
	return fmt.Sprintf("%s left out; list %s%s", what, strings.Join(urls, ", "), more)
}
