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
	// Prepare, if set, adjusts writer options for one object write, as
	// described by w, and returns the largest object the write can then
	// take (0 for no limit). Backends use it for part sizes, upload
	// concurrency and provider-specific settings. A backend that buffers
	// uploads in memory keeps that buffering within w.Memory where it can,
	// and says in its documentation what it does when it cannot.
	Prepare func(wo *blob.WriterOptions, w Write) (limit int64, err error)
}

// A Write describes one object write to [Target.Prepare].
type Write struct {
	// Size is about the object's stored size in bytes, or -1 when unknown
	// (a stream without an expected size).
	Size int64
	// Memory is this write's share, in bytes, of the backup's upload
	// memory budget (see [Backup.UploadMemory]): the budget divided by the
	// number of targets written at once. Zero means no budget was set,
	// and the backend applies its own default for a single write.
	Memory int64
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
