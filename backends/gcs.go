package backends

import (
	"context"
	"fmt"
	"net/url"
	"os"

	"gocloud.dev/blob/gcsblob"
	"gocloud.dev/gcp"

	"github.com/sluice-backup/sluice/pipeline"
)

// gcsSpec opens Google Cloud Storage targets. It builds gocloud's URL
// opener itself rather than using gocloud's default one, which prints a
// warning to stdout when no credentials exist: sluice's stdout carries
// only object URLs. Query parameters still reach gcsblob's opener
// (anonymous, access_id, private_key_path, universe_domain, ...).
//
// Credentials are Application Default Credentials
// (GOOGLE_APPLICATION_CREDENTIALS, gcloud's application-default login,
// the metadata server). With STORAGE_EMULATOR_HOST set, or anonymous=true
// in the URL, the client is unauthenticated.
var gcsSpec = pipeline.BackendSpec{
	Scheme: "gs",
	Help:   "Google Cloud Storage: gs://bucket/prefix (Application Default Credentials; STORAGE_EMULATOR_HOST for an emulator)",
	Open:   openGCS,
}

func openGCS(ctx context.Context, u *url.URL, _ pipeline.Options) (*pipeline.Target, error) {
	openURL, t, err := gocloudTarget(u)
	if err != nil {
		return nil, err
	}
	ou, err := url.Parse(openURL)
	if err != nil {
		return nil, err
	}
	opener := &gcsblob.URLOpener{}
	q := ou.Query()
	switch {
	case os.Getenv("STORAGE_EMULATOR_HOST") != "", q.Get("anonymous") == "true", q.Get("access_id") == "-":
		// gcsblob talks to the emulator without authentication and
		// ignores this client; anonymous URLs replace it too.
		opener.Client = gcp.NewAnonymousHTTPClient(gcp.DefaultTransport())
	default:
		creds, err := gcp.DefaultCredentials(ctx)
		if err != nil {
			return nil, fmt.Errorf("no Google Cloud credentials (set GOOGLE_APPLICATION_CREDENTIALS, run `gcloud auth application-default login`, or add anonymous=true for a public bucket): %w", err)
		}
		if opener.Client, err = gcp.NewHTTPClient(gcp.DefaultTransport(), gcp.CredentialsTokenSource(creds)); err != nil {
			return nil, err
		}
		opener.TokenSource = gcp.CredentialsTokenSource(creds)
	}
	if t.Bucket, err = opener.OpenBucketURL(ctx, ou); err != nil {
		return nil, err
	}
	return t, nil
}
