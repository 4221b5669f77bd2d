package main

import (
	"bytes"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
)

// TestSDKMessagesStayInTheLog runs sluice as a child process with no AWS
// credentials and an EC2 metadata service that refuses tokens, so the
// SDK warns that it is "falling back to IMDSv1". Left to the SDK that
// line went straight to the process's stderr; it must go to sluice's log
// at debug level instead: absent at the default level, stderr only JSON
// lines with --json, and present, as a JSON record, at --log-level debug.
func TestSDKMessagesStayInTheLog(t *testing.T) {
	var tokens atomic.Int64
	imds := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.Method == http.MethodPut {
			tokens.Add(1)
			w.WriteHeader(http.StatusForbidden)
			return
		}
		http.NotFound(w, r)
	}))
	defer imds.Close()
	_, rec := keypair(t)
	none := filepath.Join(t.TempDir(), "none")
	env := []string{"PATH=" + os.Getenv("PATH"), "HOME=" + t.TempDir(),
		"AWS_EC2_METADATA_SERVICE_ENDPOINT=" + imds.URL, "AWS_REGION=us-east-1",
		"AWS_CONFIG_FILE=" + none, "AWS_SHARED_CREDENTIALS_FILE=" + none,
		// No store needs to answer: the credentials fail first.
		"AWS_ENDPOINT_URL_S3=http://127.0.0.1:9"}
	run := func(args ...string) string {
		t.Helper()
		cmd := exec.Command(binary(t), append([]string{"backup", "-", "--to", "s3://no-credentials/x", "-r", rec}, args...)...)
		cmd.Env, cmd.Stdin = env, strings.NewReader("data")
		var stderr bytes.Buffer
		cmd.Stderr = &stderr
		if err := cmd.Run(); err == nil {
			t.Fatalf("%v: a backup without credentials succeeded", args)
		}
		return stderr.String()
	}
	if stderr := run(); strings.Contains(stderr, "IMDSv1") || strings.Contains(stderr, "SDK ") {
		t.Errorf("the SDK's warning reached stderr at the default level:\n%s", stderr)
	}
	jsonEvents(t, run("--json")) // fails on any line that is not JSON
	found := false
	for _, ev := range jsonEvents(t, run("--json", "--log-level", "debug")) {
		if msg, _ := ev["msg"].(string); strings.Contains(msg, "IMDSv1") && ev["from"] == "aws-sdk" {
			found = true
		}
	}
	if !found || tokens.Load() == 0 {
		t.Errorf("no debug record of the SDK's IMDSv1 warning (%d token requests)", tokens.Load())
	}
}
