package main

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
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
// source at path the folders of the file:// targets (their URLs) inside
// it, with their paths relative to it. Without them a backup would archive
// its own output, which it is writing as it reads the tree (a file that
// grows fails the backup), and every earlier backup. A target is inside
// the source when its path, links resolved, is below the source's, or when
// one of its folders is the source folder itself reached another way (a
// bind mount). A source that is not a directory gets none. A target that
// is the source folder itself cannot be left out of it, and is an error.
func targetExcludes(path string, urls []string) ([]string, error) {
	root, err := filepath.Abs(path)
	if err != nil {
		return nil, nil
	}
	rootInfo, err := os.Stat(root)
	if err != nil || !rootInfo.IsDir() {
		return nil, nil
	}
	if r, err := filepath.EvalSymlinks(root); err == nil {
		root = r
	}
	var out []string
	for _, raw := range urls {
		u, err := url.Parse(raw)
		if err != nil || u.Scheme != "file" {
			continue
		}
		dir := backends.RealFolder(filepath.Clean(filepath.FromSlash(u.Path)))
		rel, err := filepath.Rel(root, dir)
		if err != nil || rel == ".." || strings.HasPrefix(rel, ".."+string(filepath.Separator)) {
			if rel, err = sameFolderBelow(rootInfo, dir); err != nil {
				continue
			}
		}
		if rel == "." {
			return nil, fmt.Errorf("target %s is the source folder %s itself: the backup would archive its own output; store into another folder (one inside the source is left out of the archive)", raw, path)
		}
		out = append(out, "/"+matchEscape(filepath.ToSlash(rel))+"/")
	}
	return out, nil
}

// pipelineExcludes returns [targetExcludes] for each of p's sources, or
// the error of the first source that is one of p's targets.
func pipelineExcludes(p *pipeline.PipelineConfig) ([][]string, error) {
	urls := make([]string, len(p.Targets))
	for i, t := range p.Targets {
		urls[i] = t.URL
	}
	out := make([][]string, len(p.Sources))
	for i, path := range p.Sources {
		more, err := targetExcludes(path, urls)
		if err != nil {
			return nil, fmt.Errorf("pipelines.%s: %w", p.Name, err)
		}
		out[i] = more
	}
	return out, nil
}

// sameFolderBelow returns the path of dir relative to the first of dir
// and its existing parents that is the folder root describes (the same
// device and inode, as through a bind mount), or an error if none is.
func sameFolderBelow(root os.FileInfo, dir string) (string, error) {
	for d := dir; ; {
		if fi, err := os.Stat(d); err == nil && os.SameFile(root, fi) {
			return filepath.Rel(d, dir)
		}
		parent := filepath.Dir(d)
		if parent == d {
			return "", fs.ErrNotExist
		}
		d = parent
	}
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
