package backends

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"os"
	"strings"

	"gocloud.dev/blob"
	"gocloud.dev/blob/azureblob"
	"gocloud.dev/gcerrors"

	"github.com/sluice-backup/sluice/pipeline"
)

// azblobOptions are the azblob backend's options: the query parameters
// gocloud's azureblob opener takes, each overriding its AZURE_STORAGE_*
// variable. All of them choose the store the container is in, or how to
// reach it.
var azblobOptions = []pipeline.OptionSpec{
	{Name: "storage_account", Locates: true, Help: "storage account name (default: AZURE_STORAGE_ACCOUNT, or the connection string's)"},
	{Name: "domain", Locates: true, Help: "domain of the blob service (default: AZURE_STORAGE_DOMAIN, else blob.core.windows.net); host:port for an emulator"},
	{Name: "protocol", Locates: true, Help: "https or http (default: AZURE_STORAGE_PROTOCOL, else https)"},
	{Name: "localemu", Locates: true, Type: pipeline.Bool, Help: "the domain is a local emulator (Azurite), which takes the account in the path (default: AZURE_STORAGE_IS_LOCAL_EMULATOR; implied by a domain starting with 127.0.0.1 or localhost)"},
	{Name: "cdn", Locates: true, Type: pipeline.Bool, Help: "the domain is a CDN in front of the account, which takes no account name in the host (default: AZURE_STORAGE_IS_CDN)"},
}

// azblobSpec opens Azure Blob Storage targets ([openAzure]).
var azblobSpec = pipeline.BackendSpec{
	Scheme:  "azblob",
	Help:    "Azure Blob Storage: azblob://container/prefix (AZURE_STORAGE_ACCOUNT and the Azure credential chain)",
	Options: azblobOptions,
	Check:   checkGocloud,
	Open: func(ctx context.Context, u *url.URL, opts pipeline.Options) (*pipeline.Target, error) {
		openURL, t, err := gocloudTarget(u, azblobOptions, opts)
		if err != nil {
			return nil, err
		}
		if t.Bucket, err = openAzure(ctx, openURL); err != nil {
			return nil, err
		}
		// Checked through the wrapper, whose errors hide the SAS token.
		t.Bucket = wrapUploadBucket(t.Bucket)
		if err := checkExists(ctx, t.Bucket, "container", u.Host); err != nil {
			t.Bucket.Close()
			return nil, err
		}
		t.Prepare = prepareAzure
		return t, nil
	},
}

// checkExists fails with a [noBucketError] when the bucket (or Azure
// container: kind says which) name b was opened on does not exist, found
// by listing one key, and with the error when the store cannot be reached
// at all (no answer: a refused connection, a name that does not resolve,
// which gocloud's azureblob codes NotFound as it codes a missing
// container, so a mistyped account or a DNS outage would read as a
// missing container). Other errors, such as a principal allowed to write
// but not to list (a write-only SAS token), are left to the requests that
// need the permission: opening stays as lenient as gocloud's own.
func checkExists(ctx context.Context, b *blob.Bucket, kind, name string) error {
	_, _, err := b.ListPage(ctx, blob.FirstPageToken, 1, nil)
	var netErr net.Error
	switch {
	case err == nil:
	case errors.As(err, &netErr):
		return fmt.Errorf("cannot reach %s %q: %w", kind, name, err)
	case gcerrors.Code(err) == gcerrors.NotFound:
		return &noBucketError{kind: kind, bucket: name}
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

// checkGocloud implements [pipeline.BackendSpec.Check] for the gs and
// azblob backends: the bucket, the prefix and the options, which come
// from the URL's query or from a config's target entry alike, so a typo
// or a bad value fails before any target is opened, as it does for S3.
// The query holds only what is not an option by now
// ([pipeline.BackendSpec.Options] are taken out of it), which is refused.
func checkGocloud(u *url.URL, opts pipeline.Options) error {
	if _, _, err := splitBucket(u); err != nil {
		return err
	}
	if u.Query().Has("prefix") {
		// gocloud's openers would prefix keys themselves, on top of the
		// URL path.
		return errors.New("query parameter prefix: put the prefix in the URL path")
	}
	switch u.Scheme {
	case "gs":
		q := u.Query()
		for _, k := range []string{"grpc", "zonal"} {
			if q.Has(k) {
				return fmt.Errorf("query parameter %s: not supported: sluice reaches Google Cloud Storage through its JSON API, not gRPC", k)
			}
		}
		return rejectQuery(u, gcsOptions)
	case "azblob":
		if p := opts.String("protocol"); p != "" && p != "http" && p != "https" {
			return fmt.Errorf("protocol: want http or https, got %q", p)
		}
		return rejectQuery(u, azblobOptions)
	}
	return rejectQuery(u, nil)
}

// gocloudTarget returns the URL gocloud's opener gets for u (scheme,
// bucket and the options set in opts, from the URL or a config's target
// entry alike, as query parameters; no path) and the target without its
// bucket. Its printed URL keeps the options that locate the target
// ([locatingQuery]) but those carrying a credential ([targetURL]).
func gocloudTarget(u *url.URL, specs []pipeline.OptionSpec, opts pipeline.Options) (openURL string, t *pipeline.Target, err error) {
	bucket, prefix, err := splitBucket(u)
	if err != nil {
		return "", nil, err
	}
	q := url.Values{}
	for k, v := range opts.Display() {
		q.Set(k, v)
	}
	o := url.URL{Scheme: u.Scheme, Host: bucket, RawQuery: q.Encode()}
	return o.String(), &pipeline.Target{URL: targetURL(u.Scheme, bucket, prefix, locatingQuery(specs, opts)), Prefix: prefix}, nil
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
	if opts.AccountName == "" {
		opts.AccountName = connectionStringAccount()
	}
	if opts.AccountName == "" && u.Query().Get("storage_account") == "" {
		// gocloud would say "Options.AccountName is required".
		return nil, errors.New("no Azure storage account: set AZURE_STORAGE_ACCOUNT (with AZURE_STORAGE_KEY, AZURE_STORAGE_SAS_TOKEN or the Azure credential chain) or AZURE_STORAGE_CONNECTION_STRING (with AccountName or BlobEndpoint), or give the storage_account option")
	}
	opener := &azureblob.URLOpener{
		MakeClient:        azureblob.NewDefaultClient,
		ServiceURLOptions: *opts,
	}
	// The SDK's errors here quote the service URL it built, SAS token
	// and all (one that ends in a newline cannot be parsed).
	b, err := opener.OpenBucketURL(ctx, u)
	return b, tellAzureError(err)
}

// connectionStringAccount returns the account a connection string's
// BlobEndpoint names when the string has no AccountName, as the
// "BlobEndpoint=…;SharedAccessSignature=…" form the Azure portal gives
// for a SAS has not, or "". gocloud insists on an account name, which it
// takes from AccountName alone, although a client built from a
// connection string does not use it.
func connectionStringAccount() string {
	cs := os.Getenv("AZURE_STORAGE_CONNECTION_STRING")
	if cs == "" {
		cs = os.Getenv("AZURE_STORAGEBLOB_CONNECTIONSTRING")
	}
	for part := range strings.SplitSeq(cs, ";") {
		key, value, _ := strings.Cut(strings.TrimSpace(part), "=")
		if !strings.EqualFold(key, "BlobEndpoint") {
			continue
		}
		u, err := url.Parse(value)
		if err != nil || u.Host == "" {
			return ""
		}
		// An emulator's endpoint names the account in its path
		// (http://127.0.0.1:10000/devstoreaccount1); Azure's in its host
		// (https://acct.blob.core.windows.net).
		if first, _, _ := strings.Cut(strings.Trim(u.Path, "/"), "/"); first != "" {
			return first
		}
		account, _, _ := strings.Cut(u.Hostname(), ".")
		return account
	}
	return ""
}
