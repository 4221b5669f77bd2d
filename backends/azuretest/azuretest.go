// Package azuretest starts Azurite, the Azure Storage emulator (npm
// package azurite), for tests: its blob service as a child process on a
// free 127.0.0.1 port, reached by gocloud's azureblob through the
// standard AZURE_STORAGE_* variables.
//
// The binary is found as $SLUICE_AZURITE, else azurite-blob on PATH, else
// .ci/node/node_modules/.bin/azurite-blob in the module root, where
// .ci/test-deps installs it (npm install --prefix .ci/node azurite).
package azuretest

import (
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"

	"github.com/sluice-backup/sluice/backends/internal/proctest"
)

// Azurite's well-known development account, documented by Microsoft; it
// is not a secret.
const (
	Account = "devstoreaccount1"
	Key     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// Binary returns the azurite-blob executable, or "" when there is none.
func Binary() string {
	if p := os.Getenv("SLUICE_AZURITE"); p != "" {
		return p
	}
	if p, err := exec.LookPath("azurite-blob"); err == nil {
		return p
	}
	dir, err := os.Getwd()
	if err != nil {
		return ""
	}
	for {
		if _, err := os.Stat(filepath.Join(dir, "go.mod")); err == nil {
			p := filepath.Join(dir, ".ci", "node", "node_modules", ".bin", "azurite-blob")
			if _, err := os.Stat(p); err == nil {
				return p
			}
			return ""
		}
		parent := filepath.Dir(dir)
		if parent == dir {
			return ""
		}
		dir = parent
	}
}

// StartAzurite runs Azurite's blob service on a free 127.0.0.1 port with
// a temporary data folder until the test ends, creates containers, and
// sets AZURE_STORAGE_IS_LOCAL_EMULATOR, AZURE_STORAGE_DOMAIN,
// AZURE_STORAGE_PROTOCOL, AZURE_STORAGE_ACCOUNT and AZURE_STORAGE_KEY for
// the rest of the test (clearing the other AZURE_STORAGE_* variables).
// It returns the service URL. Without Azurite the test is skipped, or
// fails when CI=true. Like t.Setenv, it cannot be used in parallel tests.
func StartAzurite(t testing.TB, containers ...string) string {
	t.Helper()
	bin := Binary()
	if bin == "" {
		if os.Getenv("CI") == "true" {
			t.Fatal("azurite not found: run .ci/test-deps (npm install --prefix .ci/node azurite)")
		}
		t.Skip("azurite not installed; run .ci/test-deps")
	}
	location := t.TempDir()
	port := proctest.Start(t, "azurite", func(port int) []string {
		return []string{bin, "--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(port),
			"--location", location, "--silent", "--skipApiVersionCheck", "--loose"}
	}, proctest.Listening)
	domain := "127.0.0.1:" + strconv.Itoa(port)
	for k, v := range map[string]string{
		"AZURE_STORAGE_IS_LOCAL_EMULATOR":    "true",
		"AZURE_STORAGE_DOMAIN":               domain,
		"AZURE_STORAGE_PROTOCOL":             "http",
		"AZURE_STORAGE_ACCOUNT":              Account,
		"AZURE_STORAGE_KEY":                  Key,
		"AZURE_STORAGE_SAS_TOKEN":            "",
		"AZURE_STORAGE_CONNECTION_STRING":    "",
		"AZURE_STORAGEBLOB_CONNECTIONSTRING": "",
		"AZURE_STORAGE_IS_CDN":               "",
	} {
		t.Setenv(k, v)
	}
	serviceURL := "http://" + domain + "/" + Account
	for _, c := range containers {
		CreateContainer(t, serviceURL, c)
	}
	return serviceURL
}

// Client returns a client for Azurite's development account.
func Client(t testing.TB, serviceURL string) *azblob.Client {
	t.Helper()
	cred, err := azblob.NewSharedKeyCredential(Account, Key)
	if err != nil {
		t.Fatal(err)
	}
	c, err := azblob.NewClientWithSharedKeyCredential(serviceURL+"/", cred, nil)
	if err != nil {
		t.Fatal(err)
	}
	return c
}

// CreateContainer creates container name.
func CreateContainer(t testing.TB, serviceURL, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	if _, err := Client(t, serviceURL).CreateContainer(ctx, name, nil); err != nil {
		t.Fatalf("create container %q: %v", name, err)
	}
}
