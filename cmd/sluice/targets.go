package main

import (
	"context"
	"errors"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"strings"

	"github.com/sluice-backup/sluice/backends"
	"github.com/sluice-backup/sluice/pipeline"
)

// openBackupTargets opens the targets a backup writes to, in order. A
// target URL or option that is wrong ([backends.ErrInvalidTarget]), or a
// target given twice (the same [backends.TargetPlace], as config validate
// finds it), is the user's to fix: a usage error is returned before any
// target is opened. A target that cannot be opened otherwise — a missing
// bucket, an unreachable store, refused credentials — becomes a
// [pipeline.UnavailableTarget]: the backup reports it as failed and
// writes the others (exit 3), or, when none can be opened, reports each
// and fails before reading anything. The caller closes the targets
// returned.
func openBackupTargets(ctx context.Context, reg *pipeline.Registry, configs []pipeline.TargetConfig) ([]*pipeline.Target, error) {
	seen := map[string]string{} // place → the URL that gave it first
	for _, tc := range configs {
		place, err := backends.TargetPlace(reg, tc.URL, tc.Options)
		if err != nil {
			return nil, usageError(err)
		}
		shown := backends.Redact(tc.URL)
		if first, dup := seen[place]; dup {
			if first != shown {
				return nil, usageErrorf("target %s is given twice: it is the same place as %s", shown, first)
			}
			return nil, usageErrorf("target %s is given twice", shown)
		}
		seen[place] = shown
	}
	var targets []*pipeline.Target
	for _, tc := range configs {
		t, err := backends.OpenTarget(ctx, reg, tc.URL, tc.Options)
		switch {
		case errors.Is(err, backends.ErrInvalidTarget):
			closeTargets(targets)
			return nil, usageError(err)
		case err != nil:
			t = pipeline.UnavailableTarget(backends.Redact(tc.URL), err)
		}
		targets = append(targets, t)
	}
	return targets, nil
}

// targetOpenError classifies an error opening the target or object a
// command reads: a usage error when the URL or an option is wrong,
// otherwise a failure (the store could not be reached, the bucket is
// missing…).
func targetOpenError(err error) error {
	if errors.Is(err, backends.ErrInvalidTarget) {
		return usageError(err)
	}
	return err
}

// openConfigTargets opens a pipeline's targets with their options, to read
// them (list, verify, prune). Those that fail are returned apart, as
// unavailable targets with their error (see [pipeline.UnavailableTarget]),
// so the others can still be read.
func openConfigTargets(ctx context.Context, reg *pipeline.Registry, p *pipeline.PipelineConfig) (targets, unavailable []*pipeline.Target) {
	for _, tc := range p.Targets {
		t, err := backends.OpenExisting(ctx, reg, tc.URL, tc.Options)
		if err != nil {
			unavailable = append(unavailable, pipeline.UnavailableTarget(backends.Redact(tc.URL), err))
			continue
		}
		targets = append(targets, t)
	}
	return targets, unavailable
}

func closeTargets(ts []*pipeline.Target) {
	for _, t := range ts {
		t.Close()
	}
}

// targetExcludes returns exclude patterns that leave out of the directory
// source at path the folders of the file:// targets inside it, with their
// paths relative to it. Without them a backup would archive its own
// output, which it is writing as it reads the tree (a file that grows
// fails the backup), and every earlier backup. A source that is not a
// directory gets none. A target that is the source folder itself cannot be
// left out of it, and is an error.
func targetExcludes(path string, targets []*pipeline.Target) ([]string, error) {
	root, err := filepath.Abs(path)
	if err != nil {
		return nil, nil
	}
	if fi, err := os.Stat(root); err != nil || !fi.IsDir() {
		return nil, nil
	}
	if r, err := filepath.EvalSymlinks(root); err == nil {
		root = r
	}
	var out []string
	for _, t := range targets {
		u, err := url.Parse(t.URL)
		if err != nil || u.Scheme != "file" {
			continue
		}
		rel, err := filepath.Rel(root, backends.RealFolder(filepath.Clean(filepath.FromSlash(u.Path))))
		if rel == "." {
			return nil, fmt.Errorf("target %s is the source folder %s itself: the backup would archive its own output; store into another folder (one inside the source is left out of the archive)", t.URL, path)
		}
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			continue
		}
		out = append(out, "/"+matchEscape(filepath.ToSlash(rel))+"/")
	}
	return out, nil
}

// matchEscape escapes path.Match's special characters in a literal path.
func matchEscape(s string) string {
	var b strings.Builder
	for _, r := range s {
		if strings.ContainsRune(`*?[]\`, r) {
			b.WriteByte('\\')
		}
		b.WriteRune(r)
	}
	return b.String()
}
