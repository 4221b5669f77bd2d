package backends

import (
	"errors"
	"net/http"
	"net/http/httptest"
	"regexp"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"

	"github.com/sluice-backup/sluice/backends/s3test"
	"github.com/sluice-backup/sluice/pipeline"
)

func s3Opts(t *testing.T, raw map[string]any) pipeline.Options {
	t.Helper()
	opts, err := pipeline.ParseOptions(s3Options, raw)
	if err != nil {
		t.Fatal(err)
	}
	return opts
}

func TestNewS3Client(t *testing.T) {
	tests := []struct {
		name       string
		env        string // AWS_ENDPOINT_URL_S3
		raw        map[string]any
		region     string
		follow     bool
		pathStyle  bool
		wantEndpnt string
	}{
		{name: "defaults", region: "us-east-1", follow: true},
		{name: "region option", raw: map[string]any{"region": "eu-west-1"}, region: "eu-west-1"},
		{name: "IP endpoint option", raw: map[string]any{"endpoint": "http://10.0.0.5:9000"}, region: "us-east-1", follow: true, pathStyle: true, wantEndpnt: "http://10.0.0.5:9000"},
		{name: "localhost endpoint option", raw: map[string]any{"endpoint": "http://localhost:9000"}, region: "us-east-1", follow: true, pathStyle: true, wantEndpnt: "http://localhost:9000"},
		{name: "IPv6 endpoint option", raw: map[string]any{"endpoint": "http://[::1]:9000"}, region: "us-east-1", follow: true, pathStyle: true, wantEndpnt: "http://[::1]:9000"},
		{name: "named endpoint option", raw: map[string]any{"endpoint": "https://s3.example.com"}, region: "us-east-1", follow: true, wantEndpnt: "https://s3.example.com"},
		{name: "endpoint from env", env: "http://127.0.0.1:9000", region: "us-east-1", follow: true, pathStyle: true, wantEndpnt: "http://127.0.0.1:9000"},
		{name: "option beats env", env: "http://127.0.0.1:9000", raw: map[string]any{"endpoint": "https://s3.example.com"}, region: "us-east-1", follow: true, wantEndpnt: "https://s3.example.com"},
		{name: "explicit path style off", raw: map[string]any{"endpoint": "http://127.0.0.1:9000", "use_path_style": false}, region: "us-east-1", follow: true, wantEndpnt: "http://127.0.0.1:9000"},
		{name: "explicit path style on", raw: map[string]any{"use_path_style": "true"}, region: "us-east-1", follow: true, pathStyle: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			s3test.Env(t, tt.env)
			c, follow, err := newS3Client(t.Context(), s3Opts(t, tt.raw))
			if err != nil {
				t.Fatal(err)
			}
			o := c.Options()
			if o.Region != tt.region || follow != tt.follow || o.UsePathStyle != tt.pathStyle || aws.ToString(o.BaseEndpoint) != tt.wantEndpnt {
				t.Errorf("got region %q follow %v path style %v endpoint %q; want %q %v %v %q",
					o.Region, follow, o.UsePathStyle, aws.ToString(o.BaseEndpoint), tt.region, tt.follow, tt.pathStyle, tt.wantEndpnt)
			}
		})
	}
}

func TestNewS3ClientConfig(t *testing.T) {
	s3test.Env(t, "")
	t.Setenv("AWS_REGION", "ap-south-1")
	t.Setenv("AWS_REQUEST_CHECKSUM_CALCULATION", "when_supported")
	c, follow, err := newS3Client(t.Context(), s3Opts(t, nil))
	if err != nil {
		t.Fatal(err)
	}
	o := c.Options()
	if o.Region != "ap-south-1" || follow {
		t.Errorf("region %q, follow %v: want the environment's region, not followed", o.Region, follow)
	}
	if o.RequestChecksumCalculation != aws.RequestChecksumCalculationWhenSupported ||
		o.ResponseChecksumValidation != aws.ResponseChecksumValidationWhenRequired {
		t.Errorf("checksums %v/%v: want the environment's request setting and when_required responses", o.RequestChecksumCalculation, o.ResponseChecksumValidation)
	}

	_, _, err = newS3Client(t.Context(), s3Opts(t, map[string]any{"profile": "no-such-profile"}))
	if err == nil || !strings.Contains(err.Error(), "no-such-profile") {
		t.Errorf("missing profile: %v", err)
	}
}

// regionServer fakes S3's answers to HeadBucket: "moved" lives in
// eu-west-1 and S3 redirects requests signed for another region,
// "elsewhere" answers from eu-central-1, "forbidden" denies, "gone" does
// not exist.
func regionServer(t *testing.T) string {
	credRE := regexp.MustCompile(`Credential=[^/]+/[^/]+/([^/]+)/`)
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		m := credRE.FindStringSubmatch(r.Header.Get("Authorization"))
		if len(m) < 2 {
			t.Errorf("unsigned request %s %s", r.Method, r.URL)
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		signed := m[1]
		switch strings.Trim(r.URL.Path, "/") {
		case "moved":
			w.Header().Set("X-Amz-Bucket-Region", "eu-west-1")
			if signed != "eu-west-1" {
				w.WriteHeader(http.StatusMovedPermanently)
			}
		case "elsewhere":
			w.Header().Set("X-Amz-Bucket-Region", "eu-central-1")
		case "forbidden":
			w.WriteHeader(http.StatusForbidden)
		default:
			w.WriteHeader(http.StatusNotFound)
		}
	}))
	t.Cleanup(srv.Close)
	return srv.URL
}

func TestCheckBucket(t *testing.T) {
	endpoint := regionServer(t)
	s3test.Env(t, endpoint)
	tests := []struct {
		bucket, region string // region option
		wantRegion     string
		err            string
	}{
		{bucket: "moved", wantRegion: "eu-west-1"},
		{bucket: "moved", region: "eu-west-1", wantRegion: "eu-west-1"},
		{bucket: "moved", region: "us-east-1", err: `bucket "moved" is in region eu-west-1, not us-east-1: set region=eu-west-1`},
		{bucket: "elsewhere", wantRegion: "eu-central-1"},
		{bucket: "elsewhere", region: "us-west-2", wantRegion: "us-west-2"},
		{bucket: "forbidden", wantRegion: "us-east-1"},
		{bucket: "gone", err: `bucket "gone" does not exist`},
	}
	for _, tt := range tests {
		t.Run(tt.bucket+"/"+tt.region, func(t *testing.T) {
			raw := map[string]any{}
			if tt.region != "" {
				raw["region"] = tt.region
			}
			c, follow, err := newS3Client(t.Context(), s3Opts(t, raw))
			if err != nil {
				t.Fatal(err)
			}
			c, err = checkBucket(t.Context(), c, tt.bucket, follow)
			if tt.err != "" {
				if err == nil || !strings.Contains(err.Error(), tt.err) {
					t.Fatalf("got %v, want an error containing %q", err, tt.err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if got := c.Options().Region; got != tt.wantRegion {
				t.Errorf("client region %q, want %q", got, tt.wantRegion)
			}
		})
	}
}

func TestCheckBucketUnreachable(t *testing.T) {
	srv := httptest.NewServer(http.NotFoundHandler())
	endpoint := srv.URL
	srv.Close() // nothing listens there now
	s3test.Env(t, endpoint)
	t.Setenv("AWS_MAX_ATTEMPTS", "1")
	_, err := OpenTarget(t.Context(), newRegistry(), "s3://bkt/p", nil)
	if err == nil || errors.Is(err, ErrNoBucket) || !strings.Contains(err.Error(), `check bucket "bkt"`) {
		t.Errorf("unreachable endpoint: got %v, want a failed bucket check", err)
	}
}
