package pipeline

import (
	"net/url"
	"strings"

	"gocloud.dev/blob"
)

// A Target is an open place objects are stored: a bucket and a key prefix
// inside it. Backends build targets from URLs; the run loop only sees this.
type Target struct {
	// URL is the target's display URL (scheme, bucket and prefix, without
	// query parameters or credentials), e.g. "s3://backups/photos".
	URL string
	// Bucket is the open bucket. The Target owns it.
	Bucket *blob.Bucket
	// Prefix is prepended to object names: "" or a path ending in "/".
	Prefix string
	// Prepare, if set, adjusts writer options for an object whose stored
	// size is about size bytes (-1 when unknown) and returns the largest
	// object the write can then take (0 for no limit). Backends use it for
	// part sizes and provider-specific settings.
	Prepare func(wo *blob.WriterOptions, size int64) (limit int64, err error)
}

// ObjectURL returns the URL of the object stored under name (relative to
// the prefix), in the form restore accepts. Each path segment is escaped,
// so names with "%", "?" or "#" still round-trip.
func (t *Target) ObjectURL(name string) string {
	segs := strings.Split(name, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	return strings.TrimSuffix(t.URL, "/") + "/" + strings.Join(segs, "/")
}

// Key returns the full bucket key of name.
func (t *Target) Key(name string) string { return t.Prefix + name }

// Close closes the bucket.
func (t *Target) Close() error { return t.Bucket.Close() }
