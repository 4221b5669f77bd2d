package backends

import (
	"context"
	"fmt"
	"net/url"
	"os"

	"cloud.google.com/go/storage"
	"gocloud.dev/blob"
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
	Check:  checkGocloud,
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
	var client *storage.Client
	if t.Bucket.As(&client) {
		client.SetRetry(storage.WithMaxAttempts(gcsAttempts))
	}
	if err := checkExists(ctx, t.Bucket, ou.Host); err != nil {
		t.Bucket.Close()
		return nil, err
	}
	t.Prepare = prepareGCS
	return t, nil
}

// gcsAttempts is how many times a GCS request is tried before its error is
// returned. The client's default is to retry a transient error (a refused
// connection, a 503) until the context ends, which for a backup with no
// deadline means forever: an unreachable endpoint hung the run. Five
// attempts wait about 15 s between them with the client's backoff.
const gcsAttempts = 5

// GCS resumable upload chunks: the client's default size, the smallest
// sluice picks, and the multiple the API requires.
const (
	gcsMaxChunk   = 16 * mib
	gcsMinChunk   = 1 * mib
	gcsChunkAlign = 256 << 10
)

// prepareGCS implements [pipeline.Target.Prepare] for GCS. The client
// buffers one chunk of a resumable upload; see [gcsChunk]. GCS limits an
// object's size, not its chunks, so there is no limit to return.
func prepareGCS(wo *blob.WriterOptions, w pipeline.Write) (int64, error) {
	wo.BufferSize = int(gcsChunk(w.Size, w.Memory))
	return 0, nil
}

// gcsChunk is the chunk for an object of about size bytes (-1 when
// unknown) that may buffer memory bytes (0: the default budget): the
// memory share in 256 KiB steps, from 1 MiB up to the client's default
// 16 MiB, and no more than a known size needs.
func gcsChunk(size, memory int64) int64 {
	if memory <= 0 {
		memory = pipeline.DefaultUploadMemory
	}
	chunk := min(max(memory/gcsChunkAlign*gcsChunkAlign, gcsMinChunk), gcsMaxChunk)
	if size >= 0 {
		chunk = min(chunk, max((size+gcsChunkAlign-1)/gcsChunkAlign*gcsChunkAlign, gcsChunkAlign))
	}
	return chunk
}
