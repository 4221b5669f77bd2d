package backends

import (
	"strings"
	"testing"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/sluice-backup/sluice/backends/azuretest"
	"github.com/sluice-backup/sluice/backends/backendtest"
)

func TestConformanceAzurite(t *testing.T) {
	azuretest.StartAzurite(t, "conformance")
	backendtest.Run(t, opener(newRegistry(), func(t *testing.T) string {
		return "azblob://conformance/" + uniqueName()
	}))
}

// TestAzureSmallWritesFailCleanly: a refused small write (a claim that
// exists) is an error, not the panic of gocloud's azureblob writer, which
// Bucket.WriteAll's ContentMD5 used to route it to; a container that does
// not exist fails at open.
func TestAzureSmallWritesFailCleanly(t *testing.T) {
	azuretest.StartAzurite(t, "small")
	reg := newRegistry()
	tg, err := OpenTarget(t.Context(), reg, "azblob://small/p", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	opts := &blob.WriterOptions{IfNotExist: true}
	if err := tg.Bucket.WriteAll(t.Context(), "p/x.sluice.claim", []byte("{}"), opts); err != nil {
		t.Fatal(err)
	}
	if err := tg.Bucket.WriteAll(t.Context(), "p/x.sluice.claim", []byte("{}"), opts); gcerrors.Code(err) != gcerrors.FailedPrecondition {
		t.Fatalf("second claim: %v, want FailedPrecondition", err)
	}
	testMissingBucketURL(t, reg, "azblob://no-such-bucket/p")
}

// TestAzureNoAccount: without an account anywhere, opening says which
// variables to set, rather than gocloud's "Options.AccountName is
// required".
func TestAzureNoAccount(t *testing.T) {
	for _, v := range []string{"AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_CONNECTION_STRING", "AZURE_STORAGEBLOB_CONNECTIONSTRING"} {
		t.Setenv(v, "")
	}
	_, err := OpenTarget(t.Context(), newRegistry(), "azblob://c/p", nil)
	if err == nil || !strings.Contains(err.Error(), "no Azure storage account: set AZURE_STORAGE_ACCOUNT") {
		t.Fatalf("got %v, want the variables to set", err)
	}
}
