package backends

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/url"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/logging"
	"github.com/aws/smithy-go/middleware"
	"gocloud.dev/blob"
	"gocloud.dev/blob/s3blob"

	"github.com/sluice-backup/sluice/pipeline"
)

const (
	defaultRegion      = "us-east-1"
	defaultConcurrency = 2
	// abortTimeout bounds the cleanup of a failed multipart upload, which
	// runs even after the upload's context is cancelled.
	abortTimeout = 30 * time.Second
)

var s3Options = append([]pipeline.OptionSpec{
	{Name: "region", Locates: true, Help: "AWS region (default: the AWS config's, else us-east-1; with none configured, a bucket's own region is followed)"},
	{Name: "endpoint", Locates: true, Help: "endpoint URL of an S3-compatible store (default: AWS, or AWS_ENDPOINT_URL_S3); an IP address or localhost implies path-style addressing"},
	{Name: "profile", Locates: true, Help: "AWS shared-config profile (default: AWS_PROFILE, else default)"},
	{Name: "use_path_style", Locates: true, Type: pipeline.Bool, Help: "address buckets as endpoint/bucket rather than bucket.endpoint"},
	{Name: "part_size", Type: pipeline.Int, Help: "multipart part size in bytes, 5 MiB to 5 GiB (default: from the object's size and the target's share of --upload-memory, at least 5 MiB and up to 16 MiB for a stream of unknown size; the part size caps an object at 10,000 parts)"},
	{Name: "concurrency", Type: pipeline.Int, Default: "2", Help: "most parts in flight per upload; an upload buffers about part_size × (concurrency + 2) bytes, and sluice lowers concurrency (to no less than 1) to keep that within the target's share of --upload-memory"},
}, append(s3ObjectOptions, s3ResilienceOptions...)...)

var s3Spec = pipeline.BackendSpec{
	Scheme:  "s3",
	Help:    "Amazon S3 and S3-compatible stores: s3://bucket/prefix, or bucket/prefix (AWS credential chain)",
	Options: s3Options,
	Check:   checkS3,
	Open:    openS3,
}

// checkS3 implements [pipeline.BackendSpec.Check] for S3 URLs.
func checkS3(u *url.URL, opts pipeline.Options) error {
	_, _, _, err := s3Settings(u, opts)
	return err
}

// s3Settings reads the bucket, the key prefix and the upload and object
// settings from an S3 target's URL and options, checking each.
func s3Settings(u *url.URL, opts pipeline.Options) (bucket, prefix string, tune *s3Tuning, err error) {
	bucket, prefix, err = splitBucket(u)
	if err != nil {
		return "", "", nil, err
	}
	if err := rejectQuery(u, s3Options); err != nil {
		return "", "", nil, err
	}
	tune = &s3Tuning{
		partSize:    int64(opts.Int("part_size")),
		concurrency: opts.Int("concurrency"),
	}
	if tune.partSize != 0 {
		if _, err := planUpload(-1, tune.partSize, 1, 0); err != nil {
			return "", "", nil, err
		}
	}
	if tune.concurrency < 1 {
		return "", "", nil, fmt.Errorf("concurrency: must be at least 1, got %d", tune.concurrency)
	}
	if tune.object, err = parseS3ObjectSettings(opts); err != nil {
		return "", "", nil, err
	}
	if err := checkResilience(opts); err != nil {
		return "", "", nil, err
	}
	if endpoint := opts.String("endpoint"); endpoint != "" {
		if err := checkEndpoint(endpoint); err != nil {
			return "", "", nil, err
		}
	}
	return bucket, prefix, tune, nil
}

// openS3 opens an S3 bucket after checking that it exists; see the
// package doc for how the client is configured.
func openS3(ctx context.Context, u *url.URL, opts pipeline.Options) (*pipeline.Target, error) {
	bucket, prefix, tune, err := s3Settings(u, opts)
	if err != nil {
		return nil, err
	}
	client, followRegion, err := newS3Client(ctx, opts)
	if err != nil {
		return nil, err
	}
	if client, err = checkBucket(ctx, client, bucket, followRegion); err != nil {
		return nil, err
	}
	tune.client = client
	tune.checksum = client.Options().RequestChecksumCalculation
	b, err := s3blob.OpenBucket(ctx, client, bucket, &s3blob.Options{RequestChecksumCalculation: tune.checksum})
	if err != nil {
		return nil, err
	}
	return &pipeline.Target{
		URL:     targetURL("s3", bucket, prefix, locatingQuery(s3Options, opts)),
		Bucket:  b,
		Prefix:  prefix,
		Prepare: tune.prepare,
	}, nil
}

// newS3Client builds a client from the AWS default chain and sluice's
// options. followRegion reports that no region was configured anywhere, so
// the bucket's own region may replace the us-east-1 default.
func newS3Client(ctx context.Context, opts pipeline.Options) (client *s3.Client, followRegion bool, err error) {
	var load []func(*config.LoadOptions) error
	if r := opts.String("region"); r != "" {
		load = append(load, config.WithRegion(r))
	}
	if p := opts.String("profile"); p != "" {
		load = append(load, config.WithSharedConfigProfile(p))
	}
	endpoint := opts.String("endpoint")
	load = append(load, config.WithLogger(sdkLogger(loggerFrom(ctx))))
	cfg, err := config.LoadDefaultConfig(ctx, load...)
	if err != nil {
		return nil, false, fmt.Errorf("load AWS config: %w", err)
	}
	if cfg.Region == "" {
		cfg.Region, followRegion = defaultRegion, true
	}
	// Many S3-compatible stores reject the CRC checksums the SDK sends by
	// default, or return checksums of whole objects for ranged reads. A
	// setting in the environment or shared config still wins.
	req, resp := checksumsConfigured(cfg)
	if !req {
		cfg.RequestChecksumCalculation = aws.RequestChecksumCalculationWhenRequired
	}
	if !resp {
		cfg.ResponseChecksumValidation = aws.ResponseChecksumValidationWhenRequired
	}
	client = s3.NewFromConfig(cfg, func(o *s3.Options) {
		if endpoint != "" {
			o.BaseEndpoint = aws.String(endpoint)
		}
		// o.BaseEndpoint now also reflects AWS_ENDPOINT_URL(_S3) and the
		// shared config, so the automatic path style sees every source.
		switch {
		case opts.Has("use_path_style"):
			o.UsePathStyle = opts.Bool("use_path_style")
		case o.BaseEndpoint != nil && isLocalEndpoint(*o.BaseEndpoint):
			o.UsePathStyle = true
		}
		o.APIOptions = append(o.APIOptions, detachAbort)
		applyResilience(o, opts, loggerFrom(ctx))
	})
	return client, followRegion, nil
}

// sdkLogger routes the AWS SDK's own messages into log at debug level.
// Left to itself the SDK prints warnings such as "falling back to IMDSv1"
// (no credentials found before the EC2 metadata service) or "Response has
// no supported checksum" (S3-compatible stores) straight to stderr, which
// is noise for most runs, ignores --log-level and breaks --json's
// stderr of JSON lines. What they warn about that matters fails the
// request, and that error is reported.
func sdkLogger(log *slog.Logger) logging.Logger {
	return logging.LoggerFunc(func(c logging.Classification, format string, v ...any) {
		log.Debug(fmt.Sprintf(format, v...), "from", "aws-sdk", "sdk_level", string(c))
	})
}

// checksumsConfigured reports whether the environment or the shared
// config set the request checksum calculation and the response checksum
// validation; LoadDefaultConfig fills in defaults otherwise.
func checksumsConfigured(cfg aws.Config) (req, resp bool) {
	for _, src := range cfg.ConfigSources {
		switch c := src.(type) {
		case config.EnvConfig:
			req = req || c.RequestChecksumCalculation != aws.RequestChecksumCalculationUnset
			resp = resp || c.ResponseChecksumValidation != aws.ResponseChecksumValidationUnset
		case config.SharedConfig:
			req = req || c.RequestChecksumCalculation != aws.RequestChecksumCalculationUnset
			resp = resp || c.ResponseChecksumValidation != aws.ResponseChecksumValidationUnset
		}
	}
	return req, resp
}

// checkEndpoint validates the endpoint option without echoing it: it may
// hold credentials by mistake.
func checkEndpoint(endpoint string) error {
	e, err := url.Parse(endpoint)
	switch {
	case err != nil:
		return errors.New("endpoint: not a URL")
	case e.Scheme != "http" && e.Scheme != "https":
		return errors.New("endpoint: want an http:// or https:// URL")
	case e.Host == "":
		return errors.New("endpoint: missing host")
	case e.User != nil:
		return errors.New("endpoint: credentials in the URL are not supported; use the AWS credential chain")
	case e.RawQuery != "":
		return errors.New("endpoint: unexpected query")
	}
	return nil
}

// isLocalEndpoint reports whether endpoint's host is an IP address or
// localhost, which cannot serve virtual-hosted bucket names.
func isLocalEndpoint(endpoint string) bool {
	e, err := url.Parse(endpoint)
	if err != nil {
		return false
	}
	h := e.Hostname()
	return h == "localhost" || net.ParseIP(h) != nil
}

// detachAbort lets AbortMultipartUpload outlive the context of the upload
// it cleans up: a cancelled backup must not leave a multipart upload (and
// its billed parts) behind. The transfer manager aborts with the upload's
// own, by then cancelled, context.
func detachAbort(stack *middleware.Stack) error {
	return stack.Initialize.Add(middleware.InitializeMiddlewareFunc("SluiceDetachAbort",
		func(ctx context.Context, in middleware.InitializeInput, next middleware.InitializeHandler) (middleware.InitializeOutput, middleware.Metadata, error) {
			if _, ok := in.Parameters.(*s3.AbortMultipartUploadInput); !ok {
				return next.HandleInitialize(ctx, in)
			}
			ctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), abortTimeout)
			defer cancel()
			return next.HandleInitialize(ctx, in)
		}), middleware.Before)
}

// checkBucket fails fast on a bucket that does not exist, rather than at
// the end of a long upload. It tolerates a denied check, since a
// write-only credential may put objects without listing the bucket. When
// followRegion is set and the bucket lives in another region, it returns
// a client for that region.
func checkBucket(ctx context.Context, client *s3.Client, bucket string, followRegion bool) (*s3.Client, error) {
	region := client.Options().Region
	out, err := client.HeadBucket(ctx, &s3.HeadBucketInput{Bucket: aws.String(bucket)})
	if err == nil {
		if r := aws.ToString(out.BucketRegion); followRegion && r != "" && r != region {
			return withRegion(client, r), nil
		}
		return client, nil
	}
	status, bucketRegion := responseInfo(err)
	switch {
	case status == 404:
		return nil, &noBucketError{bucket: bucket}
	case bucketRegion != "" && bucketRegion != region && followRegion:
		return checkBucket(ctx, withRegion(client, bucketRegion), bucket, false)
	case bucketRegion != "" && bucketRegion != region:
		return nil, fmt.Errorf("bucket %q is in region %s, not %s: set region=%s, or leave the region unset", bucket, bucketRegion, region, bucketRegion)
	case status == 403:
		return client, nil
	}
	return nil, fmt.Errorf("check bucket %q: %w", bucket, err)
}

func withRegion(c *s3.Client, region string) *s3.Client {
	return s3.New(c.Options(), func(o *s3.Options) { o.Region = region })
}

// responseInfo returns the HTTP status of a failed S3 call, and the
// bucket's region when S3 names it.
func responseInfo(err error) (status int, bucketRegion string) {
	var re *awshttp.ResponseError
	if !errors.As(err, &re) || re.Response == nil {
		return 0, ""
	}
	return re.HTTPStatusCode(), re.Response.Header.Get("X-Amz-Bucket-Region")
}

// s3Tuning applies the part size and concurrency to each upload.
type s3Tuning struct {
	client      *s3.Client
	partSize    int64 // explicit part_size; 0 chooses from the object size
	concurrency int
	checksum    aws.RequestChecksumCalculation
	object      *s3ObjectSettings // storage class, encryption, lock, tags
}

// prepare implements [pipeline.Target.Prepare].
func (t *s3Tuning) prepare(wo *blob.WriterOptions, w pipeline.Write) (int64, error) {
	plan, err := planUpload(w.Size, t.partSize, t.concurrency, w.Memory)
	if err != nil {
		return 0, err
	}
	part, conc := plan.part, plan.concurrency
	wo.BufferSize = int(part)
	wo.MaxConcurrency = conc
	next := wo.BeforeWrite
	wo.BeforeWrite = func(as func(any) bool) error {
		// gocloud's transfer manager keeps its default 16 MiB threshold
		// for multipart uploads, buffering that much before the first
		// request, and aborts a failed upload with the cancelled context.
		// Replace it with one that starts parts at the part size and
		// cleans up with a fresh context.
		var tm *transfermanager.Client
		if as(&tm) {
			*tm = *transfermanager.New(t.client, func(o *transfermanager.Options) {
				o.PartSizeBytes = part
				o.MultipartUploadThreshold = part
				o.Concurrency = conc
				o.RequestChecksumCalculation = t.checksum
				o.FailTimeout = abortTimeout
			})
		}
		var in *transfermanager.UploadObjectInput
		if as(&in) {
			plainMetadata(in.Metadata)
			if t.object != nil {
				t.object.apply(in, w.Kind)
			}
		}
		if next != nil {
			return next(as)
		}
		return nil
	}
	return plan.limit, nil
}

// plainMetadata undoes gocloud's URL escaping of the metadata values that
// need none in an HTTP header (printable ASCII without "%"), so that other
// tools see sluice-stages: tar,zstd,age rather than tar%2Czstd%2Cage.
// gocloud unescapes the values it reads, which leaves such a value as it
// is, so sluice reads either form.
func plainMetadata(md map[string]string) {
	for k, v := range md {
		plain, err := url.PathUnescape(v)
		if err != nil || plain == v || strings.Contains(plain, "%") {
			continue
		}
		if !strings.ContainsFunc(plain, func(r rune) bool { return r < 0x20 || r > 0x7e }) {
			md[k] = plain
		}
	}
}

// planUpload plans an S3 multipart upload; see [partRules.plan].
func planUpload(size, explicit int64, configured int, memory int64) (uploadPlan, error) {
	return s3Parts.plan(size, explicit, configured, memory)
}

// fmtBytes formats n bytes for messages: exact bytes below 1 KiB,
// otherwise a binary unit.
func fmtBytes(n int64) string {
	const units = "KMGTPE"
	if n < 1024 {
		return fmt.Sprintf("%d B", n)
	}
	v, i := float64(n)/1024, 0
	for v >= 1024 && i < len(units)-1 {
		v /= 1024
		i++
	}
	return fmt.Sprintf("%.4g %ciB", v, units[i])
}
