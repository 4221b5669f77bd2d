package pipeline

import (
	"strings"
	"time"
)

// RetentionGroups returns, for each of entries (all of one pipeline, with
// readable manifests), the key of the group retention applies to: backups
// in one group compete for the same hourly, daily, … slots, backups in
// different groups never do. The keys are opaque; only their equality
// means something.
//
// A pipeline with several sources stores one object per source per run,
// all at the same time, so a single group would keep one source's backup
// of each period and remove the others'. The group is therefore the
// source: [Manifest.Source].
//
// Manifests written before sluice recorded the source have none. Their
// group is derived from the object name with the backup's time removed
// (the {time} and {date} it renders, taken from the manifest's creation
// time), its stem: "photos-20261129T042500Z.tar.zst.age" and
// "photos-20261130T042500Z.tar.zst.age" share the stem
// "photos-{time}.tar.zst.age". A pipeline with several sources must have
// {source} in its name template, so the stems of different sources
// differ. When a stem is also the stem of backups that do record their
// source, and of one source only, those older backups join that source's
// group, so they age out with its new backups; otherwise the stem is a
// group of its own. Every way this can go wrong splits a source into
// several groups (a changed template or host name, a time the name does
// not show, a -2 suffix), which keeps more, never less: each group's
// newest backup is always kept. One case cannot be told apart: a
// single-source pipeline whose template lacks {source} and whose source
// path was changed; its old and new backups are one group, as they were
// before sources were recorded.
func RetentionGroups(entries []Entry) []string {
	stems := make([]string, len(entries))
	sources := map[string]map[string]bool{} // stem → recorded sources with it
	for i, e := range entries {
		stems[i] = nameStem(e.Name, e.Manifest.Created)
		if src := e.Manifest.Source; src != "" {
			if sources[stems[i]] == nil {
				sources[stems[i]] = map[string]bool{}
			}
			sources[stems[i]][src] = true
		}
	}
	out := make([]string, len(entries))
	for i, e := range entries {
		switch src := e.Manifest.Source; {
		case src != "":
			out[i] = "source " + src
		case len(sources[stems[i]]) == 1:
			for s := range sources[stems[i]] {
				out[i] = "source " + s
			}
		default:
			out[i] = "stem " + stems[i]
		}
	}
	return out
}

// nameStem replaces in an object name the {time} and {date} renderings of
// the time it was created at, as the name template did.
func nameStem(name string, created time.Time) string {
	c := created.UTC()
	name = strings.ReplaceAll(name, c.Format(TimeFormat), "{time}")
	return strings.ReplaceAll(name, c.Format("2006-01-02"), "{date}")
}
