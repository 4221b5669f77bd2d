// Package backends opens sluice targets from URLs. It registers the s3, gs,
// azblob, file and mem backends with [pipeline.Default] in init; [Register]
// adds them to any other registry.
//
// # URLs
//
//	s3://bucket/prefix            Amazon S3 and S3-compatible stores
//	bucket/prefix                 the same: a URL without "://" means S3
//	gs://bucket/prefix            Google Cloud Storage
//	azblob://container/prefix     Azure Blob Storage
//	file:///abs/path              a local folder, created when missing
//	mem://name/prefix             process memory; mem:// means mem://default
//
// A file target writes each object to "<name>.<hex>.tmp" beside it and
// renames it into place when complete; only a killed process leaves such a
// file behind. It writes no metadata sidecar: stages come from the
// object's manifest (see [openFile]).
//
// mem:// buckets live as long as the process. Every target opened on the
// same name shares its objects, and closing one leaves them in place.
//
// The URL path after the bucket is the key prefix: "s3://b/photos" stores
// object "x" under key "photos/x". Query parameters a backend declares in its
// [pipeline.BackendSpec.Options] are sluice's own (see `sluice plugins`),
// and may be given beside the URL in a config's target entry instead;
// every backend rejects any others. The gs and azblob options are the
// query parameters of gocloud's URL openers
// (https://gocloud.dev/howto/blob/), which get them from either place.
//
// # S3
//
// The client comes from the AWS default chain (environment, shared config
// and profiles, AWS_ENDPOINT_URL_S3), so S3-compatible stores work. With no
// region configured anywhere, sluice uses us-east-1 and follows the
// bucket's own region when S3 names it. An endpoint whose host is an IP
// address or localhost gets path-style addressing. Request checksums are
// sent and response checksums checked only when S3 requires them, unless
// the AWS config says otherwise: many S3-compatible stores reject the
// SDK's default CRC checksums. Opening a target checks that the bucket
// exists (a denied check is let through), so a typo fails at once rather
// than after an upload.
//
// An object larger than one part is uploaded in parts, whose size and
// concurrency Target.Prepare chooses from the object's expected size and
// the target's share of the backup's upload memory budget (see
// pipeline.Write and the part_size and concurrency options): an upload
// buffers about part_size × (concurrency + 2) bytes, and sluice keeps
// that within the share unless S3's limits forbid it (parts of at least
// 5 MiB, at most 10,000 of them), running one part at a time then. A
// failed or cancelled upload is aborted, so no parts are left behind,
// even when its context is already cancelled.
//
// Per-object settings apply to every object a target stores, through
// gocloud's BeforeWrite hook on the upload (single request and multipart
// alike): storage_class, sse (AES256 or aws:kms) with sse_kms_key_id,
// object_lock_mode (GOVERNANCE or COMPLIANCE) with object_lock_days, whose
// retain-until date is computed when each upload starts, and tags
// (key=value, comma-separated in a URL:
// s3://b/p?tags=env%3Dprod,team%3Dops). Values are checked when the target
// opens. Object Lock needs a bucket created with Object Lock enabled;
// uploads that set it carry a CRC32 checksum, which S3 requires there.
//
// # Google Cloud Storage
//
// gs targets use Application Default Credentials; with none, opening a
// target fails with a clear error (gocloud's own opener would print a
// warning to stdout, which is reserved for object URLs). gocloud's grpc
// and zonal parameters are refused: sluice uses the JSON API. With
// STORAGE_EMULATOR_HOST set (an emulator such as fake-gcs-server), or
// anonymous=true in the URL, the client is unauthenticated. An upload
// buffers one resumable-upload chunk, sized to the target's share of the
// upload memory budget (see [gcsChunk]).
//
// # Azure Blob Storage
//
// azblob targets read the AZURE_STORAGE_* variables when each target
// opens (see openAzure). An upload's block size and blocks in flight
// follow the object's size and the target's share of the upload memory
// budget, by the rules S3 parts follow, within Azure's limits
// (azureBlocks).
//
// # Contracts
//
//   - A [pipeline.Target]'s URL is the form sluice prints,
//     scheme://bucket/prefix without credentials or a trailing slash, with
//     the query parameters needed to reach the target: the options a
//     backend marks [pipeline.OptionSpec.Locates] (S3's endpoint, region,
//     profile and use_path_style; every gs option but private_key_path;
//     every azblob option), from the URL or the config alike, sorted by
//     name, without the ones whose name or value [Redact] would hide
//     (such as domain=u:pw@host), which the user adds again. Write-only
//     settings such as part_size or storage_class are left out. Its Prefix is ""
//     or ends in "/". [pipeline.Target.ObjectURL] gives a URL
//     [OpenObject] resolves to the same store, bucket and key.
//   - Errors name the URL only in the form [Redact] returns, and never carry
//     a credential.
//   - Credentials never come from the URL: each cloud's standard chain
//     applies (for S3 the AWS chain: environment, shared config and
//     profiles, AWS_ENDPOINT_URL_S3, instance roles).
package backends

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net/url"
	"path"
	"path/filepath"
	"regexp"
	"slices"
	"strings"

	"github.com/sluice-backup/sluice/pipeline"
)

func init() { Register(pipeline.Default) }

// Register adds the s3, gs, azblob, file and mem backends to reg. It panics
// if reg already has one of those schemes.
func Register(reg *pipeline.Registry) {
	reg.RegisterBackend(s3Spec)
	reg.RegisterBackend(gcsSpec)
	reg.RegisterBackend(azblobSpec)
	reg.RegisterBackend(fileSpec)
	reg.RegisterBackend(memSpec)
}

// ErrNoBucket is wrapped by errors about a bucket that does not exist.
var ErrNoBucket = errors.New("bucket does not exist")

// noBucketError reads `bucket "x" does not exist` (or `container "x"`, as
// Azure calls its buckets) and matches [ErrNoBucket].
type noBucketError struct{ kind, bucket string }

func (e *noBucketError) Error() string {
	kind := e.kind
	if kind == "" {
		kind = "bucket"
	}
	return fmt.Sprintf("%s %q does not exist", kind, e.bucket)
}
func (e *noBucketError) Unwrap() error { return ErrNoBucket }

// ErrInvalidTarget is wrapped by the errors of [OpenTarget], [OpenObject]
// and [CheckTarget] that are about the URL itself or its options: its
// form, an unknown scheme, an unknown option or a bad value. The user
// must change the command or the config. Their other errors come from the
// store or the environment — a missing bucket, a folder that cannot be
// created, refused credentials, an unreachable endpoint — and may pass
// on another try.
var ErrInvalidTarget = errors.New("invalid target")

// invalidTarget marks err as [ErrInvalidTarget] without changing its
// message.
type invalidTarget struct{ err error }

func (e invalidTarget) Error() string   { return e.err.Error() }
func (e invalidTarget) Unwrap() []error { return []error{e.err, ErrInvalidTarget} }

// OpenTarget opens the target rawURL names (see the package doc for the
// forms) to write backups to; a file:// folder that does not exist is
// created by the backup ([pipeline.Target.Create]). Query parameters the
// backend declares as options are removed from the URL and parsed
// together with extra, which holds the same options from a config file's
// target entry; an option given in both places is an error. The remaining
// query parameters go to the backend. Errors name the URL (redacted);
// those about the URL or options wrap [ErrInvalidTarget].
func OpenTarget(ctx context.Context, reg *pipeline.Registry, rawURL string, extra map[string]any) (*pipeline.Target, error) {
	return open(ctx, reg, rawURL, extra, false)
}

// OpenExisting opens the target rawURL names as [OpenTarget] does, to
// read it (list, verify, prune): it creates nothing, and a file:// folder
// that does not exist is an error wrapping fs.ErrNotExist.
func OpenExisting(ctx context.Context, reg *pipeline.Registry, rawURL string, extra map[string]any) (*pipeline.Target, error) {
	return open(ctx, reg, rawURL, extra, true)
}

func open(ctx context.Context, reg *pipeline.Registry, rawURL string, extra map[string]any, existing bool) (*pipeline.Target, error) {
	t, err := openTarget(ctx, reg, rawURL, extra, existing)
	if err != nil {
		return nil, fmt.Errorf("open target %s: %w", Redact(rawURL), scrub(err, rawURL, extra))
	}
	return t, nil
}

// CheckTarget checks what [OpenTarget] would check before opening rawURL
// with extra — the URL's form, its scheme, every option — without any
// I/O. Its errors name the URL (redacted) and wrap [ErrInvalidTarget].
func CheckTarget(reg *pipeline.Registry, rawURL string, extra map[string]any) error {
	if _, _, _, err := checkTarget(reg, rawURL, extra); err != nil {
		return fmt.Errorf("target %s: %w", Redact(rawURL), scrub(err, rawURL, extra))
	}
	return nil
}

// TargetPlace checks rawURL with extra as [CheckTarget] does and returns
// the place the target stores to: two targets with the same place are one
// target given twice, whatever else tells them apart. A place is the
// scheme, the bucket (container) and the key prefix — a bare
// bucket/prefix is S3's, a trailing "/" does not count — and the
// settings that choose the store the bucket is in ([placeParams]), from
// the URL or extra alike, compared without case or a trailing "/" and,
// for booleans, by value. Settings that only say how to reach the store
// (region, profile, use_path_style, protocol, credentials) or how to
// write (part_size) do not count. A file:// folder is named by its real
// path: symlinks are resolved, those of its nearest existing ancestor for
// a folder not made yet; that is all the I/O TargetPlace does. The place
// is a key to compare, not a URL to print: it may hold a credential.
func TargetPlace(reg *pipeline.Registry, rawURL string, extra map[string]any) (string, error) {
	_, u, opts, err := checkTarget(reg, rawURL, extra)
	if err != nil {
		return "", fmt.Errorf("target %s: %w", Redact(rawURL), scrub(err, rawURL, extra))
	}
	scheme := strings.ToLower(u.Scheme)
	if scheme == "file" {
		return "file://" + filepath.ToSlash(RealFolder(filepath.Clean(filepath.FromSlash(u.Path)))), nil
	}
	bucket := u.Host
	if scheme == "mem" && bucket == "" {
		bucket = defaultMemName
	}
	prefix, err := cleanPrefix(u.Path)
	if err != nil { // checkTarget has refused such a path
		return "", fmt.Errorf("target %s: %w", Redact(rawURL), invalidTarget{err})
	}
	shown := opts.Display() // booleans as true or false
	place := url.Values{}
	for _, name := range placeParams[scheme] {
		if v, ok := shown[name]; ok {
			place.Set(name, strings.ToLower(strings.TrimRight(v, "/")))
		}
	}
	key := displayURL(scheme, bucket, prefix)
	if len(place) > 0 {
		key += "?" + place.Encode()
	}
	return key, nil
}

// placeParams lists, per scheme, the options and query parameters that
// choose the store a target's bucket is in, for [TargetPlace]: an
// S3-compatible store's endpoint, a GCS universe, an Azure account and
// the domain it is reached on, in an emulator's form or a CDN's. Two
// targets that differ in one of them may be two stores holding buckets of
// one name.
var placeParams = map[string][]string{
	"s3":     {"endpoint"},
	"gs":     {"universe_domain"},
	"azblob": {"storage_account", "domain", "localemu", "cdn"},
}

// RealFolder returns dir with its symlinks resolved; for a folder that
// does not exist, those of its nearest existing ancestor, followed by the
// rest of its path (filepath.EvalSymlinks fails for a path that does not
// exist).
func RealFolder(dir string) string {
	rest := ""
	for {
		if real, err := filepath.EvalSymlinks(dir); err == nil {
			return filepath.Join(real, rest)
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return filepath.Join(dir, rest)
		}
		rest = filepath.Join(filepath.Base(dir), rest)
		dir = parent
	}
}

func openTarget(ctx context.Context, reg *pipeline.Registry, rawURL string, extra map[string]any, existing bool) (*pipeline.Target, error) {
	spec, u, opts, err := checkTarget(reg, rawURL, extra)
	if err != nil {
		return nil, err
	}
	if existing && spec.OpenExisting != nil {
		return spec.OpenExisting(ctx, u, opts)
	}
	return spec.Open(ctx, u, opts)
}

// checkTarget parses rawURL and its options and runs the backend's
// Check. Every error it returns wraps [ErrInvalidTarget].
func checkTarget(reg *pipeline.Registry, rawURL string, extra map[string]any) (pipeline.BackendSpec, *url.URL, pipeline.Options, error) {
	fail := func(err error) (pipeline.BackendSpec, *url.URL, pipeline.Options, error) {
		return pipeline.BackendSpec{}, nil, pipeline.Options{}, invalidTarget{err}
	}
	u, err := parseURL(rawURL)
	if err != nil {
		return fail(err)
	}
	spec, err := reg.Backend(u.Scheme)
	if err != nil {
		return fail(err)
	}
	raw, err := takeOptions(u, spec.Options, extra)
	if err != nil {
		return fail(err)
	}
	opts, err := pipeline.ParseOptions(spec.Options, raw)
	if err != nil {
		return fail(err)
	}
	if spec.Check != nil {
		if err := spec.Check(u, opts); err != nil {
			return fail(err)
		}
	}
	return spec, u, opts, nil
}

// OpenObject opens the target holding the object rawURL names and returns it
// with the object's name relative to the target's prefix: for
// s3://bucket/path/to/obj.tar.zst the target is s3://bucket/path/to and the
// name obj.tar.zst. The object need not exist; its folder, for file://,
// must ([OpenExisting]). Errors are as for [OpenTarget].
func OpenObject(ctx context.Context, reg *pipeline.Registry, rawURL string) (*pipeline.Target, string, error) {
	u, err := parseURL(rawURL)
	if err != nil {
		return nil, "", fmt.Errorf("open object %s: %w", Redact(rawURL), invalidTarget{scrub(err, rawURL)})
	}
	dir, name := path.Split(u.Path)
	if name == "" || name == "." || name == ".." {
		// What is wrong with the URL as a target (file://rel, a
		// relative path) is said first: it is the mistake to fix.
		if _, _, _, err := checkTarget(reg, rawURL, nil); err != nil {
			return nil, "", fmt.Errorf("open object %s: %w", Redact(rawURL), scrub(err, rawURL))
		}
		return nil, "", fmt.Errorf("open object %s: %w", Redact(rawURL), invalidTarget{errors.New(`the URL names no object (it must not end in "/")`)})
	}
	u.Path, u.RawPath = dir, ""
	t, err := openTarget(ctx, reg, u.String(), nil, true)
	if err != nil {
		return nil, "", fmt.Errorf("open object %s: %w", Redact(rawURL), scrub(err, rawURL))
	}
	return t, name, nil
}

// schemeRE matches a URL scheme followed by ":" but not "//", as in
// "file:relative/path". S3 bucket names cannot contain ":", so such input
// is never a bare bucket.
var schemeRE = regexp.MustCompile(`^[a-zA-Z][a-zA-Z0-9+.-]*:`)

// parseURL parses a target or object URL, treating one without "://" as S3.
func parseURL(rawURL string) (*url.URL, error) {
	if rawURL == "" {
		return nil, errors.New("empty URL")
	}
	if !strings.Contains(rawURL, "://") && !schemeRE.MatchString(rawURL) {
		if strings.HasPrefix(rawURL, "/") || strings.HasPrefix(rawURL, ".") || strings.HasPrefix(rawURL, "~") {
			return nil, errors.New("no scheme; a bare bucket/prefix means S3, a local folder is file:///abs/path")
		}
		rawURL = "s3://" + rawURL
	}
	u, err := url.Parse(rawURL)
	if err != nil {
		// url.Error repeats the whole URL; keep only the reason.
		var ue *url.Error
		if errors.As(err, &ue) {
			err = ue.Err
		}
		return nil, fmt.Errorf("parse URL: %w", err)
	}
	if u.Opaque != "" || (u.Host == "" && u.Path != "" && !strings.HasPrefix(u.Path, "/")) {
		if u.Scheme == "file" {
			return nil, errors.New("file URLs need an absolute path: use file:///abs/path (three slashes)")
		}
		return nil, fmt.Errorf("parse URL: want %s://..., not %s:...", u.Scheme, u.Scheme)
	}
	if u.Fragment != "" || strings.HasSuffix(rawURL, "#") {
		return nil, errors.New("parse URL: unexpected \"#\"; write it as %23 in names")
	}
	return u, nil
}

// takeOptions moves the query parameters u's backend declares out of its
// query and merges them with extra.
func takeOptions(u *url.URL, specs []pipeline.OptionSpec, extra map[string]any) (map[string]any, error) {
	raw := make(map[string]any, len(extra))
	for k, v := range extra {
		raw[k] = v
	}
	q := u.Query()
	for _, s := range specs {
		vals, ok := q[s.Name]
		if !ok {
			continue
		}
		if len(vals) > 1 {
			return nil, fmt.Errorf("option %s given %d times in the URL", s.Name, len(vals))
		}
		if _, dup := extra[s.Name]; dup {
			return nil, fmt.Errorf("option %s given both in the URL and in the target's settings", s.Name)
		}
		raw[s.Name] = vals[0]
		q.Del(s.Name)
	}
	u.RawQuery = q.Encode()
	return raw, nil
}

// rejectQuery fails when u has query parameters left: the backend builds its
// client itself, so nothing would read them and a typo would pass silently.
func rejectQuery(u *url.URL, specs []pipeline.OptionSpec) error {
	if u.RawQuery == "" {
		return nil
	}
	keys := slices.Sorted(func(yield func(string) bool) {
		for k := range u.Query() {
			if !yield(k) {
				return
			}
		}
	})
	known := make([]string, len(specs))
	for i, s := range specs {
		known[i] = s.Name
	}
	return unknownQueryError(keys, known)
}

// unknownQueryError is the error for the query parameters keys, which a
// target does not take; known are those it does.
func unknownQueryError(keys, known []string) error {
	if len(known) == 0 {
		known = []string{"none"}
	}
	noun := "query parameter"
	if len(keys) > 1 {
		noun += "s"
	}
	return fmt.Errorf("%s %s: %w (known: %s)", noun, strings.Join(keys, ", "), pipeline.ErrUnknownOption, strings.Join(known, ", "))
}

// splitBucket returns the bucket (the URL host) and key prefix (the path,
// "" or ending in "/") of a bucket-style URL such as s3://bucket/prefix.
func splitBucket(u *url.URL) (bucket, prefix string, err error) {
	if u.User != nil {
		return "", "", errors.New("credentials in the URL are not supported; use the provider's credential chain")
	}
	if u.Host == "" {
		return "", "", fmt.Errorf("missing bucket name: want %s://bucket/prefix", u.Scheme)
	}
	if strings.ContainsAny(u.Host, ":[]") {
		return "", "", fmt.Errorf("bad bucket name %q", u.Host)
	}
	prefix, err = cleanPrefix(u.Path)
	return u.Host, prefix, err
}

// cleanPrefix turns a URL path into a key prefix: "/photos/" and "/photos"
// become "photos/", "" and "/" become "".
func cleanPrefix(p string) (string, error) {
	p = strings.Trim(p, "/")
	if p == "" {
		return "", nil
	}
	for _, seg := range strings.Split(p, "/") {
		switch seg {
		case ".", "..":
			return "", fmt.Errorf("prefix %q: %q is not allowed as a path segment", p, seg)
		case "":
			return "", fmt.Errorf("prefix %q: empty path segment", p)
		}
	}
	return p + "/", nil
}

// displayURL is scheme://bucket/prefix without a trailing slash.
func displayURL(scheme, bucket, prefix string) string {
	u := url.URL{Scheme: scheme, Host: bucket, Path: "/" + strings.TrimSuffix(prefix, "/")}
	if prefix == "" {
		u.Path = ""
	}
	return u.String()
}

// targetURL is a target's printed URL ([pipeline.Target.URL]): its
// [displayURL], then query, which holds what is needed to reach the
// target, encoded by [encodeQuery]. A parameter that [Redact] would hide,
// by its name ([secretParam]) or by its value ([secretValue]), is left
// out whole: a printed URL never carries a credential, and one with
// REDACTED in it would reach nothing.
func targetURL(scheme, bucket, prefix string, query url.Values) string {
	shown := url.Values{}
	for k, vs := range query {
		if !secretParam(k) && !slices.ContainsFunc(vs, secretValue) {
			shown[k] = vs
		}
	}
	s := displayURL(scheme, bucket, prefix)
	if q := encodeQuery(shown); q != "" {
		s += "?" + q
	}
	return s
}

// locatingQuery returns the options among specs that locate a target
// ([pipeline.OptionSpec.Locates]) and are set in opts, from the URL or
// from a config's target entry alike, as query values in the form a URL
// gives them. Secret options are left out, and [targetURL] leaves out
// what [Redact] would hide.
func locatingQuery(specs []pipeline.OptionSpec, opts pipeline.Options) url.Values {
	shown := opts.Display()
	q := url.Values{}
	for _, s := range specs {
		if v, ok := shown[s.Name]; ok && s.Locates && !s.Secret {
			q.Set(s.Name, v)
		}
	}
	return q
}

// encodeQuery encodes q sorted by key, as [url.Values.Encode] does, but
// leaves ":" and "/" unescaped (a query may hold both), so that an
// endpoint reads as it was written: endpoint=http://127.0.0.1:9000.
func encodeQuery(q url.Values) string {
	var b strings.Builder
	for _, k := range slices.Sorted(maps.Keys(q)) {
		for _, v := range q[k] {
			if b.Len() > 0 {
				b.WriteByte('&')
			}
			b.WriteString(readableEscape(k))
			b.WriteByte('=')
			b.WriteString(readableEscape(v))
		}
	}
	return b.String()
}

// readableEscape is [url.QueryEscape] with ":" and "/" left as they are.
// QueryEscape writes a literal "%" as "%25", so no "%3A" or "%2F" it
// returns can stand for anything but ":" or "/".
func readableEscape(s string) string {
	return strings.NewReplacer("%3A", ":", "%2F", "/").Replace(url.QueryEscape(s))
}
