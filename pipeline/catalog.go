package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// An Entry is one backup found on a target: an object with a sluice
// manifest beside it.
type Entry struct {
	Target   *Target
	Name     string // object name relative to the target's prefix
	Manifest *Manifest
}

// URL returns the object's URL.
func (e Entry) URL() string { return e.Target.ObjectURL(e.Name) }

// Created returns when the backup was made, from its manifest.
func (e Entry) Created() time.Time { return e.Manifest.Created }

// Catalog lists the backups on t: objects under its prefix that have a
// sluice manifest beside them. When pipeline is not empty, only backups
// whose manifest names that pipeline are returned. Objects without a
// manifest — other tools' files, sluice objects whose manifest is gone —
// are never returned, so nothing acting on a catalog touches them. A
// manifest whose object is missing is skipped as well. Entries are sorted
// newest first, then by name.
func Catalog(ctx context.Context, t *Target, pipeline string) ([]Entry, error) {
	keys := map[string]bool{}
	var manifests []string
	it := t.Bucket.List(&blob.ListOptions{Prefix: t.Prefix})
	for {
		obj, err := it.Next(ctx)
		if err == io.EOF {
			break
		}
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", t.URL, err)
		}
		if obj.IsDir {
			continue
		}
		name := strings.TrimPrefix(obj.Key, t.Prefix)
		keys[name] = true
		if IsManifestName(name) {
			manifests = append(manifests, name)
		}
	}
	var out []Entry
	for _, mname := range manifests {
		name := strings.TrimSuffix(mname, ManifestSuffix)
		if !keys[name] {
			continue
		}
		m, err := ReadManifest(ctx, t, name)
		if err != nil {
			return nil, fmt.Errorf("list %s: %w", t.URL, err)
		}
		if m == nil || m.Object != name {
			// A manifest for another name (copied or renamed by hand)
			// does not describe this object.
			continue
		}
		if pipeline != "" && m.Pipeline != pipeline {
			continue
		}
		out = append(out, Entry{Target: t, Name: name, Manifest: m})
	}
	SortEntries(out)
	return out, nil
}

// SortEntries sorts entries newest first, then by URL.
func SortEntries(es []Entry) {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i].Manifest.Created, es[j].Manifest.Created
		if !a.Equal(b) {
			return a.After(b)
		}
		return es[i].URL() < es[j].URL()
	})
}

// Remove deletes a backup: the object first, then its manifest, so an
// interrupted removal leaves at worst a manifest without an object (which
// [Catalog] ignores), never an object that looks foreign. An object or
// manifest already gone is not an error.
func Remove(ctx context.Context, e Entry) error {
	if err := e.Target.Bucket.Delete(ctx, e.Target.Key(e.Name)); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("remove %s: %w", e.URL(), err)
	}
	if err := e.Target.Bucket.Delete(ctx, e.Target.Key(e.Name+ManifestSuffix)); err != nil && gcerrors.Code(err) != gcerrors.NotFound {
		return fmt.Errorf("remove %s: object removed, but its manifest not: %w", e.URL(), err)
	}
	return nil
}

// A PruneItem is one backup with the retention decision on it.
type PruneItem struct {
	Entry
	Decision
	Err error // set when removing it failed
}

// Prune applies r to the backups of pipeline on t and removes the ones it
// does not keep, unless dryRun. Every backup is returned with its
// decision; a removal that fails (for example under S3 Object Lock) is
// recorded in its item and the others go on. The error is non-nil when
// listing failed or any removal failed.
func Prune(ctx context.Context, t *Target, pipeline string, r Retention, dryRun bool) ([]PruneItem, error) {
	if pipeline == "" {
		return nil, errors.New("prune: a pipeline name is required")
	}
	entries, err := Catalog(ctx, t, pipeline)
	if err != nil {
		return nil, err
	}
	times := make([]time.Time, len(entries))
	for i, e := range entries {
		times[i] = e.Manifest.Created
	}
	decisions := r.Apply(times)
	items := make([]PruneItem, len(entries))
	failed := 0
	for i, e := range entries {
		items[i] = PruneItem{Entry: e, Decision: decisions[i]}
		if decisions[i].Keep || dryRun {
			continue
		}
		if err := Remove(ctx, e); err != nil {
			items[i].Err = err
			failed++
		}
	}
	if failed > 0 {
		return items, fmt.Errorf("prune %s: %d of the backups to remove could not be removed", t.URL, failed)
	}
	return items, nil
}
