package main

import (
	"fmt"
	"os"
	"path/filepath"
)

// store is where memory mode's targets live: a folder, or buckets on an
// emulator the bench serves for the length of the run.
type store interface {
	// target creates the bucket (container, folder) name and returns a
	// sluice target URL inside it.
	target(name string) (string, error)
	// reset deletes every bucket and object made since the last reset,
	// so long runs do not fill the emulator's memory or disk.
	reset() error
	// stop ends the emulator; the store is unusable afterwards.
	stop()
}

// openStore starts the store memory mode's -store names, keeping its
// logs and data under dir.
func openStore(name, dir string) (store, error) {
	switch name {
	case "file":
		return fileStore(filepath.Join(dir, "targets")), nil
	case "s3":
		return startMoto(dir)
	case "azure":
		return startAzurite(dir)
	case "gcs":
		return startFakeGCS(dir)
	}
	return nil, fmt.Errorf("-store %q: want file, s3, azure or gcs", name)
}

// bucketName names target i of a run over size bytes. It is valid as an
// S3 or GCS bucket and an Azure container name: 3-63 characters of
// lowercase letters, digits and single hyphens.
func bucketName(size int64, i int) string {
	return fmt.Sprintf("mem-%d-%d", size>>20, i)
}

// setenv sets this process's environment, which the sluice children
// inherit.
func setenv(vars map[string]string) {
	for k, v := range vars {
		os.Setenv(k, v)
	}
}

// fileStore keeps targets as folders under its path.
type fileStore string

func (f fileStore) target(name string) (string, error) {
	return "file://" + filepath.Join(string(f), name), nil
}

func (f fileStore) reset() error { return os.RemoveAll(string(f)) }

func (f fileStore) stop() {}
