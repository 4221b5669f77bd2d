package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
	"sort"
	"strings"
	"sync"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// An Entry is one backup found on a target: an object with a sluice
// manifest beside it, or a manifest whose object is gone.
type Entry struct {
	Target   *Target
	Name     string    // object name relative to the target's prefix
	Manifest *Manifest // nil when ManifestErr is set
	// ManifestErr is set when the manifest beside the object could not be
	// read or is not one sluice can use: truncated or damaged JSON,
	// another format. Such a backup cannot be dated, checked or judged by
	// retention; it is listed only so it can be reported, and nothing
	// may remove it.
	ManifestErr error
	// Missing is set when the manifest is there but its object is not
	// (deleted by hand, lost): the backup is lost, and its manifest is
	// all that says it existed.
	Missing bool
}

// URL returns the object's URL.
func (e Entry) URL() string { return e.Target.ObjectURL(e.Name) }

// Created returns when the backup was made, from its manifest; the zero
// time when the manifest could not be read.
func (e Entry) Created() time.Time {
	if e.Manifest == nil {
		return time.Time{}
	}
	return e.Manifest.Created
}

// A Listing is what [ListBackups] found on a target.
type Listing struct {
	// Entries are the backups, sorted newest first, then by name.
	Entries []Entry
	// Elsewhere counts the backups (of the pipeline, when one was given)
	// whose manifest lies under the target's prefix but records the
	// object relative to another prefix: written to a target whose prefix
	// is longer (a backup to s3://bkt/photos seen from s3://bkt) or
	// shorter (a name template with a "/" seen from the folder it made).
	// They belong to that other target and are not entries here, so that
	// nothing acting on this target (prune) touches them.
	Elsewhere int
	// ElsewhereURLs are the URLs of the targets those backups were
	// written to, sorted, each once.
	ElsewhereURLs []string
	// PrefixIsObject reports that no backup was found (none here, none
	// elsewhere) and that the target's prefix, less its trailing slash,
	// is the key of an object: the target's URL names an object, such as
	// the URL a backup printed, rather than the folder that holds it.
	PrefixIsObject bool
}

// Catalog returns [ListBackups]'s entries.
func Catalog(ctx context.Context, t *Target, pipeline string) ([]Entry, error) {
	l, err := ListBackups(ctx, t, pipeline)
	if err != nil {
		return nil, err
	}
	return l.Entries, nil
}

// ListBackups lists the backups on t: objects under its prefix that have a
// sluice manifest beside them, and manifests whose object is missing
// ([Entry.Missing]), so a lost backup is reported rather than forgotten.
// When pipeline is not empty, only backups whose manifest names that
// pipeline are returned. Objects without a manifest — other tools' files,
// sluice objects whose manifest is gone — are never returned, so nothing
// acting on a listing touches them. A manifest that records another
// object name is not this target's: it was written under another prefix
// and is counted in [Listing.Elsewhere], or it was copied or renamed by
// hand and is ignored.
//
// A manifest that cannot be read or parsed does not stop the listing: its
// object is returned with [Entry.ManifestErr] set, after all the readable
// ones. Its manifest cannot say which pipeline it belongs to, so for a
// pipeline it is returned unless the object's own metadata, where the
// backend keeps it, names another pipeline or marks a backup made outside
// any pipeline. The error is non-nil only when listing the target fails
// or ctx ends.
func ListBackups(ctx context.Context, t *Target, pipeline string) (*Listing, error) {
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
	reads := readManifests(ctx, t, manifests)
	l := &Listing{}
	elsewhere := map[string]bool{}
	for i, mname := range manifests {
		name := strings.TrimSuffix(mname, ManifestSuffix)
		m, err := reads[i].m, reads[i].err
		if err != nil {
			if ctx.Err() != nil {
				return nil, fmt.Errorf("list %s: %w", t.URL, ctx.Err())
			}
			if pipeline == "" || mayBelongTo(ctx, t, name, pipeline) {
				l.Entries = append(l.Entries, Entry{Target: t, Name: name, ManifestErr: err, Missing: !keys[name]})
			}
			continue
		}
		if m == nil || (pipeline != "" && m.Pipeline != pipeline) {
			continue
		}
		if m.Object != name {
			if u, ok := writtenTo(t, name, m.Object); ok {
				l.Elsewhere++
				elsewhere[u] = true
			}
			continue
		}
		l.Entries = append(l.Entries, Entry{Target: t, Name: name, Manifest: m, Missing: !keys[name]})
	}
	SortEntries(l.Entries)
	for u := range elsewhere {
		l.ElsewhereURLs = append(l.ElsewhereURLs, u)
	}
	sort.Strings(l.ElsewhereURLs)
	if len(l.Entries) == 0 && l.Elsewhere == 0 && t.Prefix != "" {
		// Only a hint for the caller: a store that cannot answer leaves it
		// false, and the empty listing stands.
		isObj, err := t.Bucket.Exists(ctx, strings.TrimSuffix(t.Prefix, "/"))
		if ctx.Err() != nil {
			return nil, fmt.Errorf("list %s: %w", t.URL, ctx.Err())
		}
		l.PrefixIsObject = err == nil && isObj
	}
	return l, nil
}

// writtenTo returns the URL of the target a backup was written to whose
// manifest is at name's place on t but records its object as object: t
// with a longer prefix when name ends in "/"+object, a shorter one when
// object ends in "/"+name. The URL keeps t's query, which says how to
// reach the store. ok is false for any other name (a manifest copied or
// renamed by hand).
func writtenTo(t *Target, name, object string) (url string, ok bool) {
	if dir, found := strings.CutSuffix(name, "/"+object); found {
		return t.ObjectURL(dir), true
	}
	if dir, found := strings.CutSuffix(object, "/"+name); found {
		// The paths are compared without the query: t's path ends in
		// dir, escaped as ObjectURL escapes it. A target URL's path is
		// escaped, so its first "?" starts the query.
		base, query, hasQuery := strings.Cut(t.URL, "?")
		base = strings.TrimSuffix(base, "/")
		sub, _, _ := strings.Cut(t.ObjectURL(dir), "?")
		if u, found := strings.CutSuffix(base, strings.TrimPrefix(sub, base)); found && !strings.HasSuffix(u, "/") {
			if hasQuery {
				u += "?" + query
			}
			return u, true
		}
	}
	return "", false
}

// manifestReads bounds how many manifests a listing reads at once. Each
// is a request, which takes tens of milliseconds on a cloud store: read
// one after the other, the manifests of a year of hourly backups took
// minutes to list or prune.
const manifestReads = 16

// manifestRead is what [ReadManifest] returned for one manifest.
type manifestRead struct {
	m   *Manifest
	err error
}

// readManifests reads the manifests named (manifest names, relative to
// t's prefix), [manifestReads] at a time, and returns what each read
// returned, in the same order.
func readManifests(ctx context.Context, t *Target, names []string) []manifestRead {
	reads := make([]manifestRead, len(names))
	slots := make(chan struct{}, manifestReads)
	var wg sync.WaitGroup
	for i, mname := range names {
		slots <- struct{}{}
		wg.Go(func() {
			defer func() { <-slots }()
			m, err := ReadManifest(ctx, t, strings.TrimSuffix(mname, ManifestSuffix))
			reads[i] = manifestRead{m, err}
		})
	}
	wg.Wait()
	return reads
}

// mayBelongTo reports whether object name on t, whose manifest cannot be
// read, may be a backup of pipeline: false only when the metadata sluice
// set on the object says otherwise. Backends that keep no metadata
// (file://) and objects whose attributes cannot be read give true.
func mayBelongTo(ctx context.Context, t *Target, name, pipeline string) bool {
	attrs, err := t.Bucket.Attributes(ctx, t.Key(name))
	if err != nil || attrs.Metadata[MetaFormat] == "" {
		return true
	}
	return attrs.Metadata[MetaPipeline] == pipeline
}

// SortEntries sorts entries newest first, then by URL. Entries whose
// manifest could not be read have no time and come last.
func SortEntries(es []Entry) {
	sort.SliceStable(es, func(i, j int) bool {
		a, b := es[i].Created(), es[j].Created()
		if !a.Equal(b) {
			return a.After(b)
		}
		return es[i].URL() < es[j].URL()
	})
}

// Remove deletes a backup: the object first, then its manifest, so an
// interrupted removal leaves at worst a manifest without an object (which
// [ListBackups] reports as missing, and the next prune removes), never an
// object that looks foreign. An object or manifest already gone is not an
// error.
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

// Skipped reports whether prune left the backup alone without judging it,
// because its manifest could not be read ([Entry.ManifestErr]).
func (it PruneItem) Skipped() bool { return it.ManifestErr != nil }

// Prune applies r to the backups of pipeline on t and removes the ones it
// does not keep, unless dryRun. Retention applies to each source's
// backups separately (see [RetentionGroups]): the newest backup of every
// source is kept, and Within counts from it. Every backup is returned with
// its decision, in catalog order. A backup whose manifest cannot be read
// is never removed: it is returned with Keep set and [PruneItem.Skipped]
// true, and the others are judged without it.
//
// A backup whose object is missing ([Entry.Missing]) takes no place in
// retention, so a lost backup never costs a stored one its place: the
// stored backups are judged among themselves. Its manifest, the record of
// the loss, is kept as long as the policy applied to all backups, lost
// ones included, keeps it, and removed after that.
//
// A removal that fails (for example under S3 Object Lock) is recorded in
// its item and the others go on. The error is non-nil when listing
// failed, a manifest could not be read or a removal failed; the items are
// returned in the last two cases.
func Prune(ctx context.Context, t *Target, pipeline string, r Retention, dryRun bool) ([]PruneItem, error) {
	if pipeline == "" {
		return nil, errors.New("prune: a pipeline name is required")
	}
	entries, err := Catalog(ctx, t, pipeline)
	if err != nil {
		return nil, err
	}
	items := make([]PruneItem, len(entries))
	var readable []Entry
	var where []int
	skipped := 0
	for i, e := range entries {
		items[i].Entry = e
		if e.ManifestErr != nil {
			items[i].Decision = Decision{Keep: true, Reasons: []string{"manifest unreadable"}}
			skipped++
			continue
		}
		readable = append(readable, e)
		where = append(where, i)
	}
	groups := map[string][]int{} // retention group → indexes into entries
	for j, g := range RetentionGroups(readable) {
		groups[g] = append(groups[g], where[j])
	}
	for _, idx := range groups {
		var stored []int
		for _, i := range idx {
			if !entries[i].Missing {
				stored = append(stored, i)
			}
		}
		decide(items, stored, r, func(it *PruneItem) bool { return !it.Missing })
		decide(items, idx, r, func(it *PruneItem) bool { return it.Missing })
	}
	failed := 0
	for i := range items {
		if items[i].Keep || dryRun {
			continue
		}
		if err := Remove(ctx, items[i].Entry); err != nil {
			items[i].Err = err
			failed++
		}
	}
	var problems []string
	if skipped > 0 {
		problems = append(problems, fmt.Sprintf("%d backups skipped because their manifest could not be read", skipped))
	}
	if failed > 0 {
		problems = append(problems, fmt.Sprintf("%d of the backups to remove could not be removed", failed))
	}
	if len(problems) > 0 {
		return items, fmt.Errorf("prune %s: %s", t.URL, strings.Join(problems, "; "))
	}
	return items, nil
}

// decide applies r to the items at idx (in catalog order) and sets the
// decision of those among them for which set is true.
func decide(items []PruneItem, idx []int, r Retention, set func(*PruneItem) bool) {
	times := make([]time.Time, len(idx))
	for k, i := range idx {
		times[k] = items[i].Manifest.Created
	}
	for k, d := range r.Apply(times) {
		if it := &items[idx[k]]; set(it) {
			it.Decision = d
		}
	}
}
