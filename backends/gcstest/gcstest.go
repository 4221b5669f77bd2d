// Package gcstest serves a Google Cloud Storage emulator for tests:
// fake-gcs-server (github.com/fsouza/fake-gcs-server) in process on
// 127.0.0.1, reached by gcsblob through STORAGE_EMULATOR_HOST.
package gcstest

import (
	"net/url"
	"testing"

	"github.com/fsouza/fake-gcs-server/fakestorage"
)

// StartFakeGCS serves an in-memory fake-gcs-server on a free 127.0.0.1
// port until the test ends, creates buckets, and points
// STORAGE_EMULATOR_HOST at it for the rest of the test (child processes
// inherit it). It clears GOOGLE_APPLICATION_CREDENTIALS so a developer's
// own credentials never reach a test. Like t.Setenv, it cannot be used in
// parallel tests.
func StartFakeGCS(t testing.TB, buckets ...string) *fakestorage.Server {
	t.Helper()
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		Scheme: "http",
		Host:   "127.0.0.1",
		// Object downloads go to http://HOST:PORT/bucket/key; the server
		// answers them only for this host name (any port).
		PublicHost: "127.0.0.1",
	})
	if err != nil {
		t.Fatalf("start fake-gcs-server: %v", err)
	}
	t.Cleanup(srv.Stop)
	u, err := url.Parse(srv.URL())
	if err != nil {
		t.Fatal(err)
	}
	t.Setenv("STORAGE_EMULATOR_HOST", u.Host)
	t.Setenv("GOOGLE_APPLICATION_CREDENTIALS", "")
	for _, b := range buckets {
		srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: b})
	}
	return srv
}
