package main

import (
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"

	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
)

// Azurite's well-known development account, documented by Microsoft; it
// is not a secret. (backends/azuretest has the same constants, but
// importing it would link package testing into the bench.)
const (
	azuriteAccount = "devstoreaccount1"
	azuriteKey     = "Eby8vdM02xNOcqFlqUwJPLlmEtlCDXJ1OUzFT50uSRZ6IFsuFq2UVErCz4I6tq/K1SZFPTOtr/KBHBeksoGMGw=="
)

// azurite is Azurite's blob service as a child process on 127.0.0.1, for
// measuring sluice against Azure targets without an Azure account.
type azurite struct {
	*child
	client     *azblob.Client
	containers []string // created since the last reset
}

// startAzurite starts azurite-blob on a free port with its data under
// dir, waits until it listens and points the AZURE_STORAGE_* environment
// of this process (which the sluice children inherit) at it.
func startAzurite(dir string) (store, error) {
	bin, err := azuriteBinary()
	if err != nil {
		return nil, err
	}
	location := filepath.Join(dir, "azurite")
	if err := os.MkdirAll(location, 0o700); err != nil {
		return nil, err
	}
	c, err := startChild(dir, "azurite", func(port int) []string {
		return []string{bin, "--blobHost", "127.0.0.1", "--blobPort", strconv.Itoa(port),
			"--location", location, "--silent", "--skipApiVersionCheck", "--loose"}
	}, listening)
	if err != nil {
		return nil, err
	}
	domain := "127.0.0.1:" + strconv.Itoa(c.port)
	cred, err := azblob.NewSharedKeyCredential(azuriteAccount, azuriteKey)
	if err != nil {
		c.stop()
		return nil, err
	}
	client, err := azblob.NewClientWithSharedKeyCredential("http://"+domain+"/"+azuriteAccount+"/", cred, nil)
	if err != nil {
		c.stop()
		return nil, err
	}
	setenv(map[string]string{
		"AZURE_STORAGE_IS_LOCAL_EMULATOR":    "true",
		"AZURE_STORAGE_DOMAIN":               domain,
		"AZURE_STORAGE_PROTOCOL":             "http",
		"AZURE_STORAGE_ACCOUNT":              azuriteAccount,
		"AZURE_STORAGE_KEY":                  azuriteKey,
		"AZURE_STORAGE_SAS_TOKEN":            "",
		"AZURE_STORAGE_CONNECTION_STRING":    "",
		"AZURE_STORAGEBLOB_CONNECTIONSTRING": "",
		"AZURE_STORAGE_IS_CDN":               "",
	})
	return &azurite{child: c, client: client}, nil
}

// azuriteBinary finds azurite-blob in .ci/node/node_modules/.bin of the
// module the bench runs in (where .ci/test-deps installs it), else on
// PATH.
func azuriteBinary() (string, error) {
	out, err := exec.Command("go", "env", "GOMOD").Output()
	if err == nil && len(out) > 1 {
		p := filepath.Join(filepath.Dir(string(out[:len(out)-1])), ".ci", "node", "node_modules", ".bin", "azurite-blob")
		if _, err := os.Stat(p); err == nil {
			return p, nil
		}
	}
	if p, err := exec.LookPath("azurite-blob"); err == nil {
		return p, nil
	}
	return "", errors.New("azurite-blob not found in .ci/node/node_modules/.bin or on PATH: run .ci/test-deps (npm install --prefix .ci/node azurite)")
}

func (a *azurite) target(name string) (string, error) {
	if _, err := a.client.CreateContainer(context.Background(), name, nil); err != nil {
		return "", fmt.Errorf("azurite: create container %q: %w", name, err)
	}
	a.containers = append(a.containers, name)
	return "azblob://" + name + "/bench", nil
}

// reset deletes the containers made since the last reset. Azurite
// frees their blocks' disk space in its next garbage collection (every
// 10 minutes).
func (a *azurite) reset() error {
	var errs []error
	for _, name := range a.containers {
		if _, err := a.client.DeleteContainer(context.Background(), name, nil); err != nil {
			errs = append(errs, fmt.Errorf("azurite: delete container %q: %w", name, err))
		}
	}
	a.containers = nil
	return errors.Join(errs...)
}
