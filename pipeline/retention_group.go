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
// of each period and remove the others'. Machines that run the same
// pipeline into one target prefix (a name template with {host}) are the
// same case: a single group would keep whichever machine ran last each
// day, and one machine's prune would remove the other's backups. The group
// is therefore the source and the host, as restic's forget groups by host
// and paths: [Manifest.Source] and [Manifest.Host].
//
// Manifests written before sluice recorded the source have none. Their
// source is found from the object name with the backup's time removed
// (the {time} and {date} it renders, taken from the manifest's creation
// time), its stem: "photos-20261129T042500Z.tar.zst.age" and
// "photos-20261130T042500Z.tar.zst.age" share the stem
// "photos-{time}.tar.zst.age". A pipeline with several sources must have
// {source} in its name template, so the stems of different sources
// differ. When a stem is also the stem of backups that do record their
// source, and of one source only, those older backups take that source,
// so they age out with its new backups; otherwise the stem stands for the
// source. A manifest without a host takes, likewise, the one host
// recorded by backups of its stem, else the one host recorded by backups
// of its source, else none. Every way this can go wrong splits a group
// (a changed template or host name, a time the name does not show, a -2
// suffix), which keeps more, never less: each group's newest backup is
// always kept. One case cannot be told apart: a single-source pipeline
// whose template lacks {source} and whose source path was changed; its
// old and new backups are one group, as they were before sources were
// recorded.
func RetentionGroups(entries []Entry) []string {
	stems := make([]string, len(entries))
	sourcesOfStem, hostsOfStem := valuesByKey{}, valuesByKey{}
	for i, e := range entries {
		stems[i] = nameStem(e.Name, e.Manifest.Created)
		sourcesOfStem.add(stems[i], e.Manifest.Source)
		hostsOfStem.add(stems[i], e.Manifest.Host)
	}
	sources := make([]string, len(entries))
	hostsOfSource := valuesByKey{}
	for i, e := range entries {
		switch src, only := e.Manifest.Source, sourcesOfStem.only(stems[i]); {
		case src != "":
			sources[i] = "source " + src
		case only != "":
			sources[i] = "source " + only
		default:
			sources[i] = "stem " + stems[i]
		}
		hostsOfSource.add(sources[i], e.Manifest.Host)
	}
	out := make([]string, len(entries))
	for i, e := range entries {
		host := e.Manifest.Host
		if host == "" {
			host = hostsOfStem.only(stems[i])
		}
		if host == "" {
			host = hostsOfSource.only(sources[i])
		}
		out[i] = sources[i] + "\x00host " + host
	}
	return out
}

// valuesByKey maps a key to the set of non-empty values seen with it.
type valuesByKey map[string]map[string]bool

// add records v for k; an empty v is not a value.
func (m valuesByKey) add(k, v string) {
	if v == "" {
		return
	}
	if m[k] == nil {
		m[k] = map[string]bool{}
	}
	m[k][v] = true
}

// only returns the value recorded for k when there is exactly one, else "".
func (m valuesByKey) only(k string) string {
	if len(m[k]) != 1 {
		return ""
	}
	for v := range m[k] {
		return v
	}
	return ""
}

// nameStem replaces in an object name the {time} and {date} renderings of
// the time it was created at, as the name template did.
func nameStem(name string, created time.Time) string {
	c := created.UTC()
	name = strings.ReplaceAll(name, c.Format(TimeFormat), "{time}")
	return strings.ReplaceAll(name, c.Format("2006-01-02"), "{date}")
}
