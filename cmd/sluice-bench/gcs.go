package main

import (
	"fmt"
	"net/url"
	"path/filepath"

	"github.com/fsouza/fake-gcs-server/fakestorage"
)

// fakeGCS is fake-gcs-server served in this process on 127.0.0.1, for
// measuring sluice against GCS targets without a Google account. Objects
// live on disk under the work directory rather than in the bench's
// memory; a resumable upload still collects in memory until it finishes.
type fakeGCS struct {
	srv *fakestorage.Server
}

// startFakeGCS serves fake-gcs-server with its objects under dir and
// points STORAGE_EMULATOR_HOST of this process (which the sluice children
// inherit) at it.
func startFakeGCS(dir string) (store, error) {
	srv, err := fakestorage.NewServerWithOptions(fakestorage.Options{
		Scheme:      "http",
		Host:        "127.0.0.1",
		PublicHost:  "127.0.0.1",
		StorageRoot: filepath.Join(dir, "fake-gcs"),
	})
	if err != nil {
		return nil, fmt.Errorf("start fake-gcs-server: %w", err)
	}
	u, err := url.Parse(srv.URL())
	if err != nil {
		srv.Stop()
		return nil, err
	}
	setenv(map[string]string{
		"STORAGE_EMULATOR_HOST":          u.Host,
		"GOOGLE_APPLICATION_CREDENTIALS": "",
	})
	return &fakeGCS{srv: srv}, nil
}

func (f *fakeGCS) target(name string) (string, error) {
	f.srv.CreateBucketWithOpts(fakestorage.CreateBucketOpts{Name: name})
	return "gs://" + name + "/bench", nil
}

// reset deletes every bucket and object.
func (f *fakeGCS) reset() error {
	if err := f.srv.Backend().DeleteAllFiles(); err != nil {
		return fmt.Errorf("fake-gcs-server: delete all: %w", err)
	}
	return nil
}

func (f *fakeGCS) stop() { f.srv.Stop() }
