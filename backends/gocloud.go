package backends

import (
	"context"
	"errors"
	"net/url"

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
// name b was opened on does not exist, found by listing one key. Other
// errors, such as a principal allowed to write but not to list, are left
// to the requests that need the permission: opening stays as lenient as
// gocloud's own.
func checkExists(ctx context.Context, b *blob.Bucket, name string) error {
	if ok, err := b.IsAccessible(ctx); err == nil && !ok {
		return &noBucketError{bucket: name}
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
// gocloud's openers open: the bucket and prefix. The openers check their
// own query parameters when they open.
func checkGocloud(u *url.URL, _ pipeline.Options) error {
	_, _, err := gocloudTarget(u)
	return err
}

// gocloudTarget splits u into the URL the gocloud opener gets (scheme,
// bucket and pass-through query, no path) and the target without its
// bucket.
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
	return o.String(), &pipeline.Target{URL: displayURL(u.Scheme, bucket, prefix), Prefix: prefix}, nil
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
