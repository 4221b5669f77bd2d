package backends

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"

	"github.com/sluice-backup/sluice/backends/backendtest"
	"github.com/sluice-backup/sluice/backends/s3test"
	"github.com/sluice-backup/sluice/pipeline"
)

// opener returns a backendtest open function for the target rawURL(t)
// names.
func opener(reg *pipeline.Registry, rawURL func(t *testing.T) string) func(t *testing.T) *pipeline.Target {
	return func(t *testing.T) *pipeline.Target {
		t.Helper()
		tg, err := OpenTarget(t.Context(), reg, rawURL(t), nil)
		if err != nil {
			t.Fatal(err)
		}
		if tg.Create != nil {
			// A location that does not exist yet has no bucket until a
			// backup creates it, before its first request.
			if tg.Bucket != nil {
				t.Fatal("a target with Create already has a bucket")
			}
			if err := tg.Create(t.Context()); err != nil {
				t.Fatal(err)
			}
		}
		return tg
	}
}

func uniqueName() string {
	var b [6]byte
	_, _ = rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

func TestConformanceFile(t *testing.T) {
	backendtest.RunSkipping(t, opener(newRegistry(), func(t *testing.T) string {
		return "file://" + t.TempDir() + "/not/yet/there"
	}), backendtest.Skips{
		Metadata: "file:// writes no .attrs sidecar (fileblob would MD5 every byte for it); stages come from the manifest",
	})
}

func TestConformanceMem(t *testing.T) {
	backendtest.Run(t, opener(newRegistry(), func(t *testing.T) string {
		return "mem://conformance-" + uniqueName() + "/some/prefix"
	}))
}

// s3PartSize makes the suite's large writes span several parts.
const s3PartSize = "5242880"

func TestConformanceGoFakeS3(t *testing.T) {
	endpoint := s3test.StartGoFakeS3(t)
	s3test.CreateBucket(t, endpoint, "conformance")
	backendtest.RunSkipping(t, opener(newRegistry(), func(t *testing.T) string {
		return "s3://conformance/" + uniqueName() + "?part_size=" + s3PartSize
	}), backendtest.Skips{
		// gofakes3 honours If-None-Match on PutObject, but not on
		// CompleteMultipartUpload. The moto run covers it.
		IfNotExistLarge: "gofakes3 ignores If-None-Match on CompleteMultipartUpload",
		// It answers ListMultipartUploads with 404 NoSuchUpload in a
		// bucket that never had an upload.
		AbortedUploads: "gofakes3 cannot list multipart uploads in every bucket",
	})
}

// TestS3Moto runs the suite and the S3-specific checks against moto, the
// closest to S3 that runs locally.
func TestS3Moto(t *testing.T) {
	endpoint := s3test.StartMoto(t)
	s3test.CreateBucket(t, endpoint, "conformance")
	reg := newRegistry()
	t.Run("Conformance", func(t *testing.T) {
		backendtest.Run(t, opener(reg, func(t *testing.T) string {
			return "s3://conformance/" + uniqueName() + "?part_size=" + s3PartSize
		}))
	})
	t.Run("MissingBucket", func(t *testing.T) { testMissingBucket(t, reg) })
	t.Run("Multipart", func(t *testing.T) { testMultipart(t, reg) })
	t.Run("EndpointOption", func(t *testing.T) {
		s3test.Env(t, "") // only the option names the endpoint now
		tg, err := OpenTarget(t.Context(), reg, "s3://conformance/p?endpoint="+endpoint, nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tg.Close()
		if err := tg.Bucket.WriteAll(t.Context(), tg.Key("x"), []byte("x"), nil); err != nil {
			t.Fatal(err)
		}
	})
}

func TestS3GoFakeS3(t *testing.T) {
	endpoint := s3test.StartGoFakeS3(t)
	s3test.CreateBucket(t, endpoint, "conformance")
	reg := newRegistry()
	t.Run("MissingBucket", func(t *testing.T) { testMissingBucket(t, reg) })
	t.Run("Defaults", func(t *testing.T) {
		tg, err := OpenTarget(t.Context(), reg, "conformance/p", nil)
		if err != nil {
			t.Fatal(err)
		}
		defer tg.Close()
		var c *s3.Client
		if !tg.Bucket.As(&c) {
			t.Fatal("bucket does not expose *s3.Client")
		}
		o := c.Options()
		if o.Region != "us-east-1" || !o.UsePathStyle {
			t.Errorf("region %q, path style %v; want us-east-1 and path style for a 127.0.0.1 endpoint", o.Region, o.UsePathStyle)
		}
		if o.RequestChecksumCalculation != aws.RequestChecksumCalculationWhenRequired ||
			o.ResponseChecksumValidation != aws.ResponseChecksumValidationWhenRequired {
			t.Errorf("checksums %v/%v, want when_required for both", o.RequestChecksumCalculation, o.ResponseChecksumValidation)
		}
	})
}

// testMissingBucket: a bucket that does not exist fails at open, naming
// the bucket, rather than after a long upload.
func testMissingBucket(t *testing.T, reg *pipeline.Registry) {
	testMissingBucketURL(t, reg, "s3://no-such-bucket/p")
}

// testMissingBucketURL opens rawURL, whose bucket is no-such-bucket, and
// checks the error, which calls it a bucket, or a container on Azure.
func testMissingBucketURL(t *testing.T, reg *pipeline.Registry, rawURL string) {
	t.Helper()
	_, err := OpenTarget(t.Context(), reg, rawURL, nil)
	if err == nil {
		t.Fatalf("OpenTarget(%s) of a missing bucket succeeded", rawURL)
	}
	kind := "bucket"
	if strings.HasPrefix(rawURL, "azblob:") {
		kind = "container"
	}
	if !errors.Is(err, ErrNoBucket) || !strings.Contains(err.Error(), kind+` "no-such-bucket" does not exist`) {
		t.Errorf("error %q: want ErrNoBucket naming the bucket", err)
	}
	if !strings.Contains(err.Error(), rawURL) {
		t.Errorf("error %q does not name the URL", err)
	}
}

// testMultipart checks that Prepare's part size reaches the upload: 12 MiB
// at 5 MiB parts is three parts, where gocloud's defaults would send one
// request.
func testMultipart(t *testing.T, reg *pipeline.Registry) {
	tg, err := OpenTarget(t.Context(), reg, "s3://conformance/multipart?part_size="+s3PartSize, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	wo := &blob.WriterOptions{}
	if _, err := tg.Prepare(wo, pipeline.Write{Size: 12 << 20}); err != nil {
		t.Fatal(err)
	}
	if err := tg.Bucket.WriteAll(t.Context(), tg.Key("obj"), make([]byte, 12<<20), wo); err != nil {
		t.Fatal(err)
	}
	attrs, err := tg.Bucket.Attributes(t.Context(), tg.Key("obj"))
	if err != nil {
		t.Fatal(err)
	}
	// S3 gives a multipart object the ETag "<md5 of part md5s>-<parts>".
	if !strings.HasSuffix(strings.Trim(attrs.ETag, `"`), "-3") {
		t.Errorf("ETag %s: want a 3-part multipart upload", attrs.ETag)
	}
}
