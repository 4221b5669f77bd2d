// Package s3test starts S3 servers for tests: gofakes3 in process, and
// moto_server as a child process. Tests of the backends package and
// end-to-end CLI tests share it.
//
// Every helper isolates the AWS environment first (see [Env]), so a
// developer's own credentials, profiles and endpoints never reach a test.
package s3test

import (
	"context"
	"net/http"
	"net/http/httptest"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/credentials"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/johannesboyne/gofakes3"
	"github.com/johannesboyne/gofakes3/backend/s3mem"

	"github.com/sluice-backup/sluice/backends/internal/proctest"
)

// Dummy credentials the fake servers accept.
const (
	AccessKeyID     = "sluice-test"
	SecretAccessKey = "sluice-test-secret"
	Region          = "us-east-1"
)

// Env points the AWS SDK's default chain at endpoint with dummy
// credentials, for the rest of the test: AWS_ENDPOINT_URL_S3 (unless
// endpoint is ""), AWS_ACCESS_KEY_ID, AWS_SECRET_ACCESS_KEY, and empty
// shared config and credentials files. It clears AWS_REGION, AWS_PROFILE
// and the other variables that would make the result depend on the
// machine. Child processes inherit the environment. Like t.Setenv, it
// cannot be used in parallel tests.
func Env(t testing.TB, endpoint string) {
	t.Helper()
	empty := filepath.Join(t.TempDir(), "aws-empty")
	if err := os.WriteFile(empty, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	for k, v := range map[string]string{
		"AWS_ACCESS_KEY_ID":                AccessKeyID,
		"AWS_SECRET_ACCESS_KEY":            SecretAccessKey,
		"AWS_SESSION_TOKEN":                "",
		"AWS_CONFIG_FILE":                  empty,
		"AWS_SHARED_CREDENTIALS_FILE":      empty,
		"AWS_PROFILE":                      "",
		"AWS_DEFAULT_PROFILE":              "",
		"AWS_REGION":                       "",
		"AWS_DEFAULT_REGION":               "",
		"AWS_ENDPOINT_URL":                 "",
		"AWS_ENDPOINT_URL_S3":              endpoint,
		"AWS_EC2_METADATA_DISABLED":        "true",
		"AWS_REQUEST_CHECKSUM_CALCULATION": "",
		"AWS_RESPONSE_CHECKSUM_VALIDATION": "",
	} {
		t.Setenv(k, v)
	}
}

// StartGoFakeS3 serves an in-memory gofakes3 on 127.0.0.1 until the test
// ends, calls [Env] with it, and returns its endpoint URL. gofakes3 lacks
// some S3 features (see the backends tests); [StartMoto] is closer to S3.
func StartGoFakeS3(t testing.TB) string {
	t.Helper()
	faker := gofakes3.New(s3mem.New(), gofakes3.WithLogger(gofakes3.DiscardLog()))
	srv := httptest.NewServer(faker.Server())
	t.Cleanup(srv.Close)
	Env(t, srv.URL)
	return srv.URL
}

// StartMoto starts moto_server on a free 127.0.0.1 port, waits until it
// answers, calls [Env] with it and returns its endpoint URL. The server is
// killed when the test ends. Without moto_server on PATH the test is
// skipped, or fails when CI=true, so CI cannot silently lose the coverage.
func StartMoto(t testing.TB) string {
	t.Helper()
	bin, err := exec.LookPath("moto_server")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("moto_server not on PATH (pip install 'moto[server]'): %v", err)
		}
		t.Skip("moto_server not on PATH; install it with pip install 'moto[server]'")
	}
	port := proctest.Start(t, "moto_server", func(port int) []string {
		return []string{bin, "-H", "127.0.0.1", "-p", strconv.Itoa(port)}
	}, func(port int) bool {
		resp, err := http.Get("http://127.0.0.1:" + strconv.Itoa(port) + "/moto-api/")
		if err != nil {
			return false
		}
		resp.Body.Close()
		return true
	})
	endpoint := "http://127.0.0.1:" + strconv.Itoa(port)
	Env(t, endpoint)
	return endpoint
}

// Client returns an S3 client for endpoint with the dummy credentials and
// path-style addressing.
func Client(endpoint string) *s3.Client {
	return s3.New(s3.Options{
		Region:       Region,
		BaseEndpoint: aws.String(endpoint),
		UsePathStyle: true,
		Credentials:  credentials.NewStaticCredentialsProvider(AccessKeyID, SecretAccessKey, ""),
		// Match what sluice sends, which S3-compatible stores accept.
		RequestChecksumCalculation: aws.RequestChecksumCalculationWhenRequired,
		ResponseChecksumValidation: aws.ResponseChecksumValidationWhenRequired,
	})
}

// CreateBucket creates bucket name at endpoint.
func CreateBucket(t testing.TB, endpoint, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := Client(endpoint).CreateBucket(ctx, &s3.CreateBucketInput{Bucket: aws.String(name)})
	if err != nil {
		t.Fatalf("create bucket %q: %v", name, err)
	}
}
