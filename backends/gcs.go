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
	"golang.org/x/oauth2/google"
	"google.golang.org/api/option"

	"github.com/sluice-backup/sluice/pipeline"
)

// gcsSpec opens Google Cloud Storage targets. It builds gocloud's URL
// opener itself rather than using gocloud's default one, which prints a
// warning to stdout when no credentials exist: sluice's stdout carries
// only object URLs. Its options ([gcsOptions]) are the query parameters
// gcsblob's opener takes for the JSON API; gRPC's grpc and zonal are
// refused ([checkGocloud]): this build has no gRPC, and gcsblob's gRPC
// client ignores STORAGE_EMULATOR_HOST.
//
// Credentials are Application Default Credentials
// (GOOGLE_APPLICATION_CREDENTIALS, gcloud's application-default login,
// the metadata server), for universe_domain when it is set, which also
// chooses the endpoint (storage.UNIVERSE_DOMAIN). With
// STORAGE_EMULATOR_HOST set, or anonymous=true or access_id=-, the client
// is unauthenticated; the emulator's endpoint then wins over the universe.
var gcsSpec = pipeline.BackendSpec{
	Scheme:  "gs",
	Help:    "Google Cloud Storage: gs://bucket/prefix (Application Default Credentials; STORAGE_EMULATOR_HOST for an emulator)",
	Options: gcsOptions,
	Check:   checkGocloud,
	Open:    openGCS,
}

// gcsOptions are the gs backend's options. access_id and private_key_path
// serve gocloud's signed URLs, which sluice never makes; access_id=- and
// anonymous=true choose an unauthenticated client. private_key_path names
// a file holding a key, so it is a secret reference: it is never part of
// a printed target URL.
var gcsOptions = []pipeline.OptionSpec{
	{Name: "anonymous", Locates: true, Type: pipeline.Bool, Help: "use an unauthenticated client, for public buckets (default: Application Default Credentials)"},
	{Name: "access_id", Locates: true, Help: "service account e-mail gocloud signs URLs as (sluice signs none; an e-mail is left out of printed URLs); - means an unauthenticated client, as anonymous=true"},
	{Name: "private_key_path", Secret: true, Help: "file holding the service account's private key, for gocloud's signed URLs (sluice signs none); read when the target opens"},
	{Name: "universe_domain", Locates: true, Help: "universe domain of the Google Cloud the bucket is in (default: googleapis.com)"},
}

func openGCS(ctx context.Context, u *url.URL, opts pipeline.Options) (*pipeline.Target, error) {
	openURL, t, err := gocloudTarget(u, gcsOptions, opts)
	if err != nil {
		return nil, err
	}
	ou, err := url.Parse(openURL)
	if err != nil {
		return nil, err
	}
	opener := &gcsblob.URLOpener{}
	emulator := os.Getenv("STORAGE_EMULATOR_HOST") != ""
	universe := opts.String("universe_domain")
	if universe != "" && !emulator {
		// gcsblob's URLOpener leaves universe_domain to gocloud's default
		// opener, which sluice does not use.
		opener.Options.ClientOptions = []option.ClientOption{option.WithUniverseDomain(universe)}
	}
	switch {
	case emulator, opts.Bool("anonymous"), opts.String("access_id") == "-":
		// gcsblob talks to the emulator without authentication and
		// ignores this client; anonymous URLs replace it too.
		opener.Client = gcp.NewAnonymousHTTPClient(gcp.DefaultTransport())
	default:
		creds, err := gcp.DefaultCredentialsWithParams(ctx, google.CredentialsParams{UniverseDomain: universe})
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
	if err := checkExists(ctx, t.Bucket, "bucket", ou.Host); err != nil {
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
