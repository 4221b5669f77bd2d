package pipeline

import (
	"context"
	"net/url"
	"strings"

	"gocloud.dev/blob"
)

// A Target is an open place objects are stored: a bucket and a key prefix
// inside it. Backends build targets from URLs; the run loop only sees this.
type Target struct {
	// URL is the target's URL as sluice prints it: scheme, bucket and
	// prefix, then the query parameters needed to reach the target (the
	// backend options marked [OptionSpec.Locates] that were given, in the
	// URL or beside it in a config, and a backend's pass-through
	// parameters), sorted by name, e.g.
	// "s3://backups/photos?endpoint=http://127.0.0.1:9000&region=eu-west-1".
	// It holds no credentials, no secret query values, no write-only
	// settings and no trailing slash after the prefix; given back to
	// sluice, it opens the same place.
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
	// Create, if set, makes the target's location exist and sets Bucket,
	// which is nil until then: a file:// folder that did not exist when
	// the target was opened, so that opening (and a dry run) creates
	// nothing. A backup calls it before its first request; if it fails,
	// the target is unavailable.
	Create func(ctx context.Context) error
	// Unavailable, when set, is why the target could not be opened (see
	// [UnavailableTarget]); Bucket is then nil.
	Unavailable error
	// WriteNew, if set, writes a small object at key only if there is
	// none, atomically even against other processes, and otherwise fails
	// with an error wrapping [ErrExists]. A backup creates its name claims
	// with it; without it, with the bucket's conditional write
	// (IfNotExist), which is atomic on cloud stores but not in gocloud's
	// fileblob (a check, then a rename).
	WriteNew func(ctx context.Context, key string, body []byte) error
	// Occupied, if set, replaces Bucket.Exists when a backup looks for a
	// free object name: it reports whether anything at key would keep an
	// object from being stored there, also what is no object (a folder
	// of that name in a file:// target, which Exists does not see).
	Occupied func(ctx context.Context, key string) (bool, error)
	// CheckKey, if set, refuses keys the backend cannot store an object
	// under, whatever is there (a file:// target keeps names ending in
	// ".attrs" for gocloud's metadata sidecars). [Backup.Check] applies
	// it to the backup's object before anything is read or written.
	CheckKey func(key string) error
	// Durable, if set, makes one object write (a data object or its
	// manifest) survive a crash of the machine. It is called with the
	// write's options before the writer opens (a backend reaches its
	// driver's file through BeforeWrite); the returned [Durability]'s
	// Flush is called after the last byte is written and before the
	// writer is closed, its Commit after the writer closed without error.
	// A backup reports an object stored only once both returned nil; if
	// either fails, the target holds nothing. file:// targets set it;
	// cloud stores have made an object durable when its upload completes.
	Durable func(wo *blob.WriterOptions) Durability
}

// Durability makes one object write durable; see [Target.Durable].
type Durability interface {
	// Written is told of each n bytes the write takes, in order, once
	// they are written, so that it may start putting them on disk early
	// and leave Flush less to wait for. It must not block for long.
	Written(n int)
	// Flush makes the bytes written so far durable, before they are
	// committed under the object's name.
	Flush() error
	// Commit makes the committed object's name durable.
	Commit() error
}

// UnavailableTarget is a target that could not be opened, because of err:
// a missing bucket, a folder that cannot be created, an unreachable
// store. A [Backup] reports it as failed with err, before reading
// anything, and writes the other targets (unless [Backup.AllOrNothing]),
// so one bad target among several costs that target, not the backup.
func UnavailableTarget(url string, err error) *Target {
	return &Target{URL: url, Unavailable: err}
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
	// Kind is what the write stores.
	Kind WriteKind
}

// WriteKind says what an object write stores, for backends whose object
// settings do not suit every object alike (an archival storage class
// would make a manifest unreadable; a retention lock would keep a claim
// from being removed).
type WriteKind int

const (
	// WriteData is a backup's data object.
	WriteData WriteKind = iota
	// WriteManifest is an object's manifest: small, read back by list,
	// verify and prune, deleted by prune with its object.
	WriteManifest
	// WriteClaim is a name claim (see [ClaimSuffix]): small, deleted
	// when the backup ends.
	WriteClaim
)

// ObjectURL returns the URL of the object stored under name (relative to
// the prefix), in the form restore and verify accept: the target's URL
// with name appended to its path and the target's query kept, so the
// object is reached as the target was. Each path segment is escaped, so
// names with "%", "?" or "#" still round-trip.
func (t *Target) ObjectURL(name string) string {
	segs := strings.Split(name, "/")
	for i, s := range segs {
		segs[i] = url.PathEscape(s)
	}
	// The path of a target URL is escaped, so its first "?" starts the
	// query.
	base, query, hasQuery := strings.Cut(t.URL, "?")
	out := strings.TrimSuffix(base, "/") + "/" + strings.Join(segs, "/")
	if hasQuery {
		out += "?" + query
	}
	return out
}

// Key returns the full bucket key of name.
func (t *Target) Key(name string) string { return t.Prefix + name }

// Close closes the bucket, if the target has one.
func (t *Target) Close() error {
	if t.Bucket == nil {
		return nil
	}
	return t.Bucket.Close()
}
