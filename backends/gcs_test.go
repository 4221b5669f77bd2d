package backends

import (
	"bytes"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"testing"

	"github.com/sluice-backup/sluice/backends/backendtest"
	"github.com/sluice-backup/sluice/backends/gcstest"
)

func TestConformanceFakeGCS(t *testing.T) {
	gcstest.StartFakeGCS(t, "conformance")
	backendtest.Run(t, opener(newRegistry(), func(t *testing.T) string {
		return "gs://conformance/" + uniqueName()
	}))
	testMissingBucketURL(t, newRegistry(), "gs://no-such-bucket/p")
}

// TestGCSNoCredentials checks that a missing credential is a clear error,
// and that nothing reaches stdout: gocloud's default gs opener prints a
// warning there, which would break sluice's stdout contract. It runs in
// a child process so the test can watch the real stdout.
func TestGCSNoCredentials(t *testing.T) {
	if os.Getenv("SLUICE_GCS_CHILD") == "1" {
		_, err := OpenTarget(t.Context(), newRegistry(), "gs://some-bucket/p", nil)
		if err == nil || !strings.Contains(err.Error(), "no Google Cloud credentials") {
			os.Stderr.WriteString("unexpected: " + errString(err) + "\n")
			os.Exit(7)
		}
		return
	}
	if runtime.GOOS == "windows" {
		t.Skip("uses HOME to hide gcloud credentials")
	}
	home := t.TempDir()
	cmd := exec.Command(os.Args[0], "-test.run=^TestGCSNoCredentials$", "-test.v=false")
	cmd.Env = append(os.Environ(), "SLUICE_GCS_CHILD=1", "HOME="+home, "CLOUDSDK_CONFIG="+filepath.Join(home, "gcloud"),
		"GOOGLE_APPLICATION_CREDENTIALS=", "STORAGE_EMULATOR_HOST=")
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, &stderr
	err := cmd.Run()
	if err != nil {
		t.Fatalf("child: %v\nstdout: %s\nstderr: %s", err, stdout.String(), stderr.String())
	}
	if got := strings.TrimSpace(stdout.String()); got != "PASS" {
		t.Fatalf("stdout should hold only the test verdict, got %q", got)
	}
}

func errString(err error) string {
	if err == nil {
		return "<nil>"
	}
	return err.Error()
}
