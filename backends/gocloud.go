package backends

import (
	"context"
	"errors"
	"fmt"
	"maps"
	"net"
	"net/url"
	"slices"
	"strconv"

	"gocloud.dev/blob"
	"gocloud.dev/blob/azureblob"

	"github.com/sluice-backup/sluice/pipeline"
)

// gocloudSpec is a backend opened by gocloud's default URL opener for
// scheme, which also brings that cloud's standard credential chain. Query
// parameters pass through to the opener, which rejects unknown ones.
func gocloudSpec(scheme, help string) pipeline.BackendSpec {
	return pipeline.BackendSpec{
		Scheme: scheme,
		Help:   help,
		Check:  checkGocloud,
		Open: func(ctx context.Context, u *url.URL, _ pipeline.Options) (*pipeline.Target, error) {
			openURL, t, err := gocloudTarget(u)
			if err != nil {
				return nil, err
			}
			if scheme == "azblob" {
				if t.Bucket, err = openAzure(ctx, openURL); err != nil {
					return nil, err
				}
				if err := checkExists(ctx, t.Bucket, u.Host); err != nil {
					t.Bucket.Close()
					return nil, err
				}
				t.Bucket = wrapUploadBucket(t.Bucket)
				t.Prepare = prepareAzure
				return t, nil
			}
			if t.Bucket, err = blob.OpenBucket(ctx, openURL); err != nil {
				return nil, err
			}
			return t, nil
		},
	}
}

// checkExists fails with a [noBucketError] when the bucket (container)
// name b was opened on does not exist, found by listing one key, and with
// the error when the store cannot be reached at all (no answer: a refused
// connection, a name that does not resolve). Other errors, such as a
// principal allowed to write but not to list (a write-only SAS token), are
// left to the requests that need the permission: opening stays as lenient
// as gocloud's own.
func checkExists(ctx context.Context, b *blob.Bucket, name string) error {
	ok, err := b.IsAccessible(ctx)
	var netErr net.Error
	switch {
	case err == nil && !ok:
		return &noBucketError{bucket: name}
	case errors.As(err, &netErr):
		return fmt.Errorf("cannot reach bucket %q: %w", name, err)
	}
	return nil
}

// azureConcurrency is the most blocks in flight per Azure upload: the
// SDK's default, which gocloud keeps.
const azureConcurrency = 5

// prepareAzure implements [pipeline.Target.Prepare] for Azure: the
// block size and the blocks in flight follow the object's size and the
// write's memory share, as [partRules.plan] does for S3 parts
// (azureBlocks). Without it each upload would buffer the SDK's 5 blocks
// of 8 MiB, 40 MiB a target.
func prepareAzure(wo *blob.WriterOptions, w pipeline.Write) (int64, error) {
	p, err := azureBlocks.plan(w.Size, 0, azureConcurrency, w.Memory)
	if err != nil {
		return 0, err
	}
	wo.BufferSize = int(p.part)
	wo.MaxConcurrency = p.concurrency
	return p.limit, nil
}

// checkGocloud implements [pipeline.BackendSpec.Check] for the backends
// gocloud's openers open: the bucket, the prefix and the query parameters
// the scheme's opener takes ([gocloudQuery]), so a typo fails before any
// target is opened, as it does for S3.
func checkGocloud(u *url.URL, _ pipeline.Options) error {
	if _, _, err := gocloudTarget(u); err != nil {
		return err
	}
	return checkGocloudQuery(u)
}

// queryKind is what a gocloud opener's query parameter holds.
type queryKind int

const (
	queryString queryKind = iota
	queryBool             // strconv.ParseBool's spellings
)

// gocloudQuery lists, per scheme, the query parameters gocloud v0.47's
// opener for it takes; it refuses any other.
var gocloudQuery = map[string]map[string]queryKind{
	"gs": {
		"access_id": queryString, "private_key_path": queryString, "anonymous": queryBool,
		"universe_domain": queryString, "grpc": queryBool, "zonal": queryBool,
	},
	"azblob": {
		"domain": queryString, "protocol": queryString, "cdn": queryBool,
		"localemu": queryBool, "storage_account": queryString,
	},
}

// checkGocloudQuery checks u's query parameters against [gocloudQuery]:
// known names, one value each, booleans that parse.
func checkGocloudQuery(u *url.URL) error {
	known, ok := gocloudQuery[u.Scheme]
	if !ok || u.RawQuery == "" {
		return nil
	}
	q := u.Query()
	var unknown []string
	for _, k := range slices.Sorted(maps.Keys(q)) {
		kind, ok := known[k]
		switch {
		case !ok:
			unknown = append(unknown, k)
		case len(q[k]) > 1:
			return fmt.Errorf("query parameter %s: given %d times", k, len(q[k]))
		case kind == queryBool:
			if _, err := strconv.ParseBool(q.Get(k)); err != nil {
				return fmt.Errorf("query parameter %s: want true or false, got %q", k, q.Get(k))
			}
		}
	}
	if len(unknown) == 0 {
		return nil
	}
	return unknownQueryError(unknown, slices.Sorted(maps.Keys(known)))
}

// gocloudTarget splits u into the URL the gocloud opener gets (scheme,
// bucket and pass-through query, no path) and the target without its
// bucket. Every pass-through parameter configures how the bucket is
// reached, so the target's URL keeps them all but those carrying a
// credential ([targetURL]).
func gocloudTarget(u *url.URL) (openURL string, t *pipeline.Target, err error) {
	bucket, prefix, err := splitBucket(u)
	if err != nil {
		return "", nil, err
	}
	if u.Query().Has("prefix") {
		// gocloud would prefix keys itself, on top of the URL path.
		return "", nil, errors.New("query parameter prefix: put the prefix in the URL path")
	}
	o := url.URL{Scheme: u.Scheme, Host: bucket, RawQuery: u.RawQuery}
	return o.String(), &pipeline.Target{URL: targetURL(u.Scheme, bucket, prefix, u.Query()), Prefix: prefix}, nil
}

// openAzure opens an azblob:// URL with the standard AZURE_STORAGE_*
// variables and credential chain read now. gocloud's default opener reads
// them once per process and keeps them, so a process that opens targets
// of two storage accounts (or two emulators) would reach the first one
// twice.
func openAzure(ctx context.Context, rawURL string) (*blob.Bucket, error) {
	u, err := url.Parse(rawURL)
	if err != nil {
		return nil, err
	}
	opts := azureblob.NewDefaultServiceURLOptions()
	if opts.AccountName == "" && u.Query().Get("storage_account") == "" {
		// gocloud would say "Options.AccountName is required".
		return nil, errors.New("no Azure storage account: set AZURE_STORAGE_ACCOUNT (with AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN or the Azure credential chain) or AZURE_STORAGE_CONNECTION_STRING, or add storage_account=NAME to the URL")
	}
	opener := &azureblob.URLOpener{
		MakeClient:        azureblob.NewDefaultClient,
		ServiceURLOptions: *opts,
	}
	return opener.OpenBucketURL(ctx, u)
}
