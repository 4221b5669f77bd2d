package backends

import (
	"bytes"
	"errors"
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

// TestGCSOptionsBesideURL: gs options given beside the URL (a config's
// target entry) open the target as they do in the URL's query, and the
// printed URL carries them alike; one given in both places, an unknown
// one and a bad value are refused before anything opens.
func TestGCSOptionsBesideURL(t *testing.T) {
	gcstest.StartFakeGCS(t, "opts")
	reg := newRegistry()
	for _, tc := range []struct {
		raw   string
		extra map[string]any
	}{
		{"gs://opts/p?anonymous=true&access_id=-", nil},
		{"gs://opts/p", map[string]any{"anonymous": true, "access_id": "-"}},
		{"gs://opts/p?access_id=-", map[string]any{"anonymous": "true"}},
	} {
		tg, err := OpenTarget(t.Context(), reg, tc.raw, tc.extra)
		if err != nil {
			t.Fatalf("%s %v: %v", tc.raw, tc.extra, err)
		}
		if want := "gs://opts/p?access_id=-&anonymous=true"; tg.URL != want {
			t.Errorf("%s %v: URL %q, want %q", tc.raw, tc.extra, tg.URL, want)
		}
		if err := tg.Bucket.WriteAll(t.Context(), tg.Prefix+"x", []byte("x"), nil); err != nil {
			t.Errorf("%s %v: write: %v", tc.raw, tc.extra, err)
		}
		tg.Close()
	}
	for _, tc := range []struct {
		raw   string
		extra map[string]any
		want  string
	}{
		{"gs://opts/p?anonymous=true", map[string]any{"anonymous": true}, "option anonymous given both in the URL and in the target's settings"},
		{"gs://opts/p", map[string]any{"anonymus": true}, "anonymus: unknown option (known: anonymous, access_id, private_key_path, universe_domain)"},
		{"gs://opts/p?anonymus=true", nil, "query parameter anonymus: unknown option (known: anonymous, access_id, private_key_path, universe_domain)"},
		{"gs://opts/p", map[string]any{"anonymous": "maybe"}, `anonymous: want true or false, got "maybe"`},
	} {
		_, err := OpenTarget(t.Context(), reg, tc.raw, tc.extra)
		if !errors.Is(err, ErrInvalidTarget) || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%s %v: %v, want ErrInvalidTarget saying %q", tc.raw, tc.extra, err, tc.want)
		}
	}
}

// TestGCSGRPCRefused: grpc and zonal, which would make gocloud dial
// Google's gRPC endpoint whatever STORAGE_EMULATOR_HOST says, are refused
// as invalid targets before anything opens, saying why.
func TestGCSGRPCRefused(t *testing.T) {
	t.Setenv("STORAGE_EMULATOR_HOST", "127.0.0.1:1")
	reg := newRegistry()
	for _, raw := range []string{"gs://b/p?grpc=true", "gs://b/p?zonal=true", "gs://b/p?grpc=false", "gs://b/p?anonymous=true&zonal=1"} {
		if err := CheckTarget(reg, raw, nil); !errors.Is(err, ErrInvalidTarget) || !strings.Contains(err.Error(), "through its JSON API, not gRPC") {
			t.Errorf("CheckTarget(%s) = %v, want ErrInvalidTarget naming the JSON API", raw, err)
		}
		if _, err := OpenTarget(t.Context(), reg, raw, nil); !errors.Is(err, ErrInvalidTarget) {
			t.Errorf("OpenTarget(%s) = %v, want ErrInvalidTarget", raw, err)
		}
	}
}

// TestGCSUniverseDomain: universe_domain, in the URL or beside it,
// chooses the endpoint the client reaches (storage.UNIVERSE_DOMAIN),
// rather than being accepted and left unused. The .invalid domain never
// resolves, so opening fails at once naming the host it tried.
func TestGCSUniverseDomain(t *testing.T) {
	t.Setenv("STORAGE_EMULATOR_HOST", "")
	reg := newRegistry()
	for _, tc := range []struct {
		raw   string
		extra map[string]any
	}{
		{"gs://b/p?anonymous=true&universe_domain=sluice-test.invalid", nil},
		{"gs://b/p", map[string]any{"anonymous": true, "universe_domain": "sluice-test.invalid"}},
	} {
		_, err := OpenTarget(t.Context(), reg, tc.raw, tc.extra)
		if err == nil || !strings.Contains(err.Error(), "storage.sluice-test.invalid") {
			t.Errorf("%s %v: %v, want an error naming storage.sluice-test.invalid", tc.raw, tc.extra, err)
		}
	}
}
