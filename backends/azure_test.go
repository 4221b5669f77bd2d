package backends

import (
	"encoding/base64"
	"errors"
	"fmt"
	"net"
	"net/url"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/Azure/azure-sdk-for-go/sdk/azcore"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob"
	"github.com/Azure/azure-sdk-for-go/sdk/storage/azblob/sas"
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

// TestAzureErrorsInOneLine: an error Azure answers with is told in one
// line naming the status, Azure's error code and message and the request,
// instead of the SDK's twenty-line dump of the response; the SDK's error
// stays reachable with errors.As, and a SAS token in the request's query
// never appears.
func TestAzureErrorsInOneLine(t *testing.T) {
	azuretest.StartAzurite(t, "refusals")
	const sig = "c2VjcmV0LXNhcy1zaWduYXR1cmU"
	for name, env := range map[string]map[string]string{
		"wrong key": {"AZURE_STORAGE_KEY": base64.StdEncoding.EncodeToString([]byte("not the account key"))},
		"bad SAS":   {"AZURE_STORAGE_KEY": "", "AZURE_STORAGE_SAS_TOKEN": "sv=2020-08-04&ss=b&srt=sco&sp=rl&se=2099-01-01T00:00:00Z&sig=" + sig},
	} {
		t.Run(name, func(t *testing.T) {
			for k, v := range env {
				t.Setenv(k, v)
			}
			tg, err := OpenTarget(t.Context(), newRegistry(), "azblob://refusals/p", nil)
			if err != nil {
				t.Fatal(err)
			}
			defer tg.Close()
			_, listErr := tg.Bucket.List(&blob.ListOptions{Prefix: "p/"}).Next(t.Context())
			_, attrErr := tg.Bucket.Attributes(t.Context(), "p/x")
			for op, err := range map[string]error{"list": listErr, "attributes": attrErr} {
				if err == nil {
					t.Fatalf("%s: no error with %s", op, name)
				}
				msg := err.Error()
				if strings.Contains(msg, "\n") || !strings.Contains(msg, "Azure answered 403") ||
					!strings.Contains(msg, "/devstoreaccount1/refusals") || strings.Count(msg, "blob (") != 1 {
					t.Errorf("%s: error not told in one line naming status and request:\n%s", op, msg)
				}
				if strings.Contains(msg, sig) {
					t.Errorf("%s: error shows the SAS signature: %s", op, msg)
				}
				var resp *azcore.ResponseError
				if !errors.As(err, &resp) || resp.StatusCode != 403 {
					t.Errorf("%s: the SDK's error is not reachable: %#v", op, err)
				}
			}
		})
	}
}

// TestAzureConnectionErrorsHideSAS: an error without an answer from Azure
// (a refused connection, a reset mid-upload) quotes the request's URL,
// whose query carries the SAS token; it is told with the signature
// redacted and without the wrapping gocloud adds (the bucket sluice reads
// through wraps it again), and the error underneath stays reachable.
func TestAzureConnectionErrorsHideSAS(t *testing.T) {
	const sig = "c2VjcmV0LXNhcy1zaWduYXR1cmU"
	dial := &net.OpError{Op: "dial", Net: "tcp", Err: syscall.ECONNREFUSED}
	req := &url.Error{Op: "Put", URL: "http://127.0.0.1:1/devstoreaccount1/c/p/x?blockid=QUE&comp=block&se=2099-01-01&sig=" + sig + "&sp=rw", Err: dial}
	err := tellAzureError(fmt.Errorf("blob (key %q) (code=Unknown): %w", "p/x", req))
	msg := err.Error()
	if strings.Contains(msg, sig) || !strings.Contains(msg, "sig=REDACTED") || !strings.Contains(msg, "connection refused") || strings.Contains(msg, "blob (") {
		t.Errorf("error not redacted: %s", msg)
	}
	var ue *url.Error
	if !errors.Is(err, syscall.ECONNREFUSED) || !errors.As(err, &ue) {
		t.Errorf("the error underneath is lost: %#v", err)
	}
	if again := tellAzureError(err); again != err {
		t.Errorf("told twice: %v", again)
	}
	if plain := errors.New("no URL here"); tellAzureError(plain) != plain {
		t.Error("an error without a URL was wrapped")
	}
}

// TestAzureOptionsBesideURL: azblob options given beside the URL (a
// config's target entry) reach the store the AZURE_STORAGE_* variables
// no longer name, as they do in the URL's query, and the printed URL
// carries them alike; a bad protocol is refused before anything opens.
func TestAzureOptionsBesideURL(t *testing.T) {
	serviceURL := azuretest.StartAzurite(t, "opts")
	domain := strings.TrimSuffix(strings.TrimPrefix(serviceURL, "http://"), "/"+azuretest.Account)
	// AZURE_STORAGE_ACCOUNT stays: with AZURE_STORAGE_KEY it is the
	// shared key credential.
	for _, v := range []string{"AZURE_STORAGE_IS_LOCAL_EMULATOR", "AZURE_STORAGE_DOMAIN", "AZURE_STORAGE_PROTOCOL"} {
		t.Setenv(v, "")
	}
	reg := newRegistry()
	want := "azblob://opts/p?domain=" + domain + "&localemu=true&protocol=http&storage_account=" + azuretest.Account
	for _, tc := range []struct {
		raw   string
		extra map[string]any
	}{
		{"azblob://opts/p?domain=" + domain + "&protocol=http&localemu=true&storage_account=" + azuretest.Account, nil},
		{"azblob://opts/p", map[string]any{"domain": domain, "protocol": "http", "localemu": true, "storage_account": azuretest.Account}},
	} {
		tg, err := OpenTarget(t.Context(), reg, tc.raw, tc.extra)
		if err != nil {
			t.Fatalf("%s %v: %v", tc.raw, tc.extra, err)
		}
		if tg.URL != want {
			t.Errorf("%s %v: URL %q, want %q", tc.raw, tc.extra, tg.URL, want)
		}
		if err := tg.Bucket.WriteAll(t.Context(), tg.Prefix+"x", []byte("x"), nil); err != nil {
			t.Errorf("%s %v: write: %v", tc.raw, tc.extra, err)
		}
		tg.Close()
	}
	_, err := OpenTarget(t.Context(), reg, "azblob://opts/p", map[string]any{"domain": domain, "protocol": "ftp", "storage_account": azuretest.Account})
	if !errors.Is(err, ErrInvalidTarget) || !strings.Contains(err.Error(), `protocol: want http or https, got "ftp"`) {
		t.Errorf("protocol ftp: %v, want ErrInvalidTarget", err)
	}
}

// TestAzureUnreachableHidesSAS: a store that does not answer fails the
// target at open, saying it cannot be reached, without the SAS token the
// request carried.
func TestAzureUnreachableHidesSAS(t *testing.T) {
	azuretest.StartAzurite(t, "unused")
	const sig = "c2VjcmV0LXNhcy1zaWduYXR1cmU"
	t.Setenv("AZURE_STORAGE_KEY", "")
	t.Setenv("AZURE_STORAGE_SAS_TOKEN", "sv=2020-08-04&ss=b&srt=sco&sp=rl&se=2099-01-01T00:00:00Z&sig="+sig)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	dead := ln.Addr().String()
	ln.Close()
	_, err = OpenTarget(t.Context(), newRegistry(), "azblob://c/p", map[string]any{"domain": dead, "protocol": "http", "localemu": true})
	if err == nil || strings.Contains(err.Error(), sig) || !strings.Contains(err.Error(), `cannot reach container "c"`) {
		t.Errorf("open of an unreachable store: %v; want it said, without the SAS signature", err)
	}
	// A token ending in a newline (a secret made from a file) makes a
	// service URL that does not parse; the SDK's error quotes it.
	t.Setenv("AZURE_STORAGE_SAS_TOKEN", "sv=2020-08-04&sp=rl&se=2099-01-01T00:00:00Z&sig="+sig+"\n")
	_, err = OpenTarget(t.Context(), newRegistry(), "azblob://c/p", nil)
	if err == nil || strings.Contains(err.Error(), sig) {
		t.Errorf("open with a SAS token ending in a newline: %v; want an error without the signature", err)
	}
}

// TestAzureSASConnectionString: the connection string the Azure portal
// gives for a SAS ("BlobEndpoint=…;SharedAccessSignature=…") names no
// AccountName; it works alone, the account taken from the endpoint.
func TestAzureSASConnectionString(t *testing.T) {
	serviceURL := azuretest.StartAzurite(t, "sas")
	cred, err := azblob.NewSharedKeyCredential(azuretest.Account, azuretest.Key)
	if err != nil {
		t.Fatal(err)
	}
	perms := sas.AccountPermissions{Read: true, Write: true, Delete: true, List: true, Add: true, Create: true}
	types := sas.AccountResourceTypes{Service: true, Container: true, Object: true}
	q, err := sas.AccountSignatureValues{
		Protocol: sas.ProtocolHTTPSandHTTP, ExpiryTime: time.Now().Add(time.Hour),
		Permissions: perms.String(), ResourceTypes: types.String(),
	}.SignWithSharedKey(cred)
	if err != nil {
		t.Fatal(err)
	}
	for _, v := range []string{"AZURE_STORAGE_ACCOUNT", "AZURE_STORAGE_KEY"} {
		t.Setenv(v, "")
	}
	t.Setenv("AZURE_STORAGE_CONNECTION_STRING", "BlobEndpoint="+serviceURL+";SharedAccessSignature="+q.Encode())
	tg, err := OpenTarget(t.Context(), newRegistry(), "azblob://sas/p", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	if err := tg.Bucket.WriteAll(t.Context(), "p/x", []byte("through the SAS"), nil); err != nil {
		t.Fatal(err)
	}
	if got, err := tg.Bucket.ReadAll(t.Context(), "p/x"); err != nil || string(got) != "through the SAS" {
		t.Fatalf("read back %q, %v", got, err)
	}
	for endpoint, want := range map[string]string{
		"https://acct.blob.core.windows.net/":     "acct",
		"http://127.0.0.1:10000/devstoreaccount1": "devstoreaccount1",
		"not a url": "",
	} {
		t.Setenv("AZURE_STORAGE_CONNECTION_STRING", "BlobEndpoint="+endpoint+";SharedAccessSignature=sv=x")
		if got := connectionStringAccount(); got != want {
			t.Errorf("account of %s: %q, want %q", endpoint, got, want)
		}
	}
}
