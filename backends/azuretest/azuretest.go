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
	"net"
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
	var port int
	for attempt := 1; ; attempt++ {
		var ok bool
		if port, ok = start(t, bin, attempt == 3); ok {
			break
		}
	}
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

// start runs Azurite on a free port and waits until it accepts
// connections. It reports false when Azurite exited first (the port was
// taken meanwhile), which fails the test when last is set.
func start(t testing.TB, bin string, last bool) (int, bool) {
	t.Helper()
	port := proctest.FreePort(t)
	var logs proctest.SyncBuffer
	cmd := exec.Command(bin, "--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(port),
		"--location", t.TempDir(), "--silent", "--skipApiVersionCheck", "--loose")
	cmd.Stdout, cmd.Stderr = &logs, &logs
	if err := cmd.Start(); err != nil {
		t.Fatalf("start azurite: %v", err)
	}
	exited := make(chan error, 1)
	go func() { exited <- cmd.Wait() }()
	deadline := time.Now().Add(60 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", "127.0.0.1:"+strconv.Itoa(port), time.Second)
		if err == nil {
			c.Close()
			break
		}
		select {
		case err := <-exited:
			if last {
				t.Fatalf("azurite exited: %v\n%s", err, logs.String())
			}
			return 0, false
		case <-time.After(100 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			_ = cmd.Process.Kill()
			<-exited
			t.Fatalf("azurite did not listen on port %d within 60s\n%s", port, logs.String())
		}
	}
	t.Cleanup(func() {
		_ = cmd.Process.Kill()
		<-exited
	})
	return port, true
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
