package backends

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/url"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	awshttp "github.com/aws/aws-sdk-go-v2/aws/transport/http"
	"github.com/aws/aws-sdk-go-v2/config"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"github.com/aws/smithy-go/middleware"
	"gocloud.dev/blob"
	"gocloud.dev/blob/s3blob"

	"github.com/sluice-backup/sluice/pipeline"
)

// S3 multipart limits and sluice's part-size policy.
const (
	mib = 1 << 20

	// S3's bounds on a multipart part, and its most parts per upload.
	minPartSize = 5 * mib
	maxPartSize = 5 << 30
	maxParts    = 10000

	// autoPartSize is the part sluice prefers for objects of known size
	// when memory allows: fewer, larger requests than the 5 MiB minimum.
	autoPartSize = 8 * mib
	// unknownSizePartSize is the largest part sluice picks for a stream
	// of unknown length (stdin): objects up to 160 GiB. A target's
	// share of the upload memory may allow less (5 MiB: 48.8 GiB).
	unknownSizePartSize = 16 * mib
	// partBudget is how many parts the automatic size aims for. The 10%
	// left over absorbs a stored size that runs past the estimate (an
	// incompressible input grows slightly under encryption).
	partBudget = 9000

	defaultRegion      = "us-east-1"
	defaultConcurrency = 2
	// abortTimeout bounds the cleanup of a failed multipart upload, which
	// runs even after the upload's context is cancelled.
	abortTimeout = 30 * time.Second
)

var s3Options = append([]pipeline.OptionSpec{
	{Name: "region", Help: "AWS region (default: the AWS config's, else us-east-1; with none configured, a bucket's own region is followed)"},
	{Name: "endpoint", Help: "endpoint URL of an S3-compatible store (default: AWS, or AWS_ENDPOINT_URL_S3); an IP address or localhost implies path-style addressing"},
	{Name: "profile", Help: "AWS shared-config profile (default: AWS_PROFILE, else default)"},
	{Name: "use_path_style", Type: pipeline.Bool, Help: "address buckets as endpoint/bucket rather than bucket.endpoint"},
	{Name: "part_size", Type: pipeline.Int, Help: "multipart part size in bytes, 5 MiB to 5 GiB (default: from the object's size and the target's share of --upload-memory, at least 5 MiB and up to 16 MiB for a stream of unknown size; the part size caps an object at 10,000 parts)"},
	{Name: "concurrency", Type: pipeline.Int, Default: "2", Help: "most parts in flight per upload; an upload buffers about part_size × (concurrency + 2) bytes, and sluice lowers concurrency (to no less than 1) to keep that within the target's share of --upload-memory"},
}, append(s3ObjectOptions, s3ResilienceOptions...)...)

var s3Spec = pipeline.BackendSpec{
	Scheme:  "s3",
	Help:    "Amazon S3 and S3-compatible stores: s3://bucket/prefix, or bucket/prefix (AWS credential chain)",
	Options: s3Options,
	Open:    openS3,
}

// openS3 opens an S3 bucket after checking that it exists; see the
// package doc for how the client is configured.
func openS3(ctx context.Context, u *url.URL, opts pipeline.Options) (*pipeline.Target, error) {
	bucket, prefix, err := splitBucket(u)
	if err != nil {
		return nil, err
	}
	if err := rejectQuery(u, s3Options); err != nil {
		return nil, err
	}
	tune := &s3Tuning{
		partSize:    int64(opts.Int("part_size")),
		concurrency: opts.Int("concurrency"),
	}
	if tune.partSize != 0 {
		if _, err := planUpload(-1, tune.partSize, 1, 0); err != nil {
			return nil, err
		}
	}
	if tune.concurrency < 1 {
		return nil, fmt.Errorf("concurrency: must be at least 1, got %d", tune.concurrency)
	}
	if tune.object, err = parseS3ObjectSettings(opts); err != nil {
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
		URL:     displayURL("s3", bucket, prefix),
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
	if err := checkResilience(opts); err != nil {
		return nil, false, err
	}
	endpoint := opts.String("endpoint")
	if endpoint != "" {
		if err := checkEndpoint(endpoint); err != nil {
			return nil, false, err
		}
	}
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
		if t.object != nil && as(&in) {
			t.object.apply(in)
		}
		if next != nil {
			return next(as)
		}
		return nil
	}
	return plan.limit, nil
}

// uploadPlan is how one multipart upload runs.
type uploadPlan struct {
	part        int64 // bytes per part
	concurrency int   // parts in flight
	limit       int64 // largest object: maxParts parts
}

// buffers is what the upload holds in memory: the transfer manager reads
// the first part on its own, then keeps a pool of concurrency + 1 parts
// (one filling while the others upload), so part × (concurrency + 2).
func (p uploadPlan) buffers() int64 { return p.part * int64(p.concurrency+2) }

// planUpload chooses the part size and concurrency of an upload of about
// size bytes (-1 when unknown) that may buffer memory bytes (0: the
// default budget of a whole backup, [pipeline.DefaultUploadMemory]).
// explicit is the part_size option (0: automatic) and configured the
// concurrency option.
//
// The part must be at least 5 MiB and, for a known size, large enough to
// store it within partBudget parts. Within memory, an automatic part is
// the larger of that minimum and 8 MiB, at the configured concurrency;
// when that does not fit, the part shrinks toward its minimum, and then
// the concurrency drops, to no less than 1. For an unknown size the part
// is as large as memory allows at one part in flight, from 5 MiB up to
// 16 MiB, since the part size caps the object (maxParts parts), and spare
// memory then raises the concurrency. An explicit part size is kept; only
// the concurrency adapts.
//
// When even one part in flight of the smallest allowed part exceeds
// memory (many targets, or a very large object), the plan runs one part
// at a time and buffers 3 × part regardless: the budget is a target, not
// a hard limit. An explicit part size outside [minPartSize, maxPartSize],
// or a known size beyond the explicit part's limit, is an error.
func planUpload(size, explicit int64, configured int, memory int64) (uploadPlan, error) {
	if memory <= 0 {
		memory = pipeline.DefaultUploadMemory
	}
	configured = max(configured, 1)
	// fit is the most parts in flight that part allows within memory.
	fit := func(part int64) int { return max(1, min(configured, int(memory/part)-2)) }
	var p uploadPlan
	switch {
	case explicit < 0:
		return p, fmt.Errorf("part_size: must not be negative, got %d", explicit)
	case explicit > 0 && explicit < minPartSize:
		return p, fmt.Errorf("part_size: %s is below S3's 5 MiB minimum", fmtBytes(explicit))
	case explicit > maxPartSize:
		return p, fmt.Errorf("part_size: %s is above S3's 5 GiB maximum", fmtBytes(explicit))
	case explicit > 0:
		p.part = explicit
	case size < 0:
		p.part = min(max(floorMiB(memory/3), minPartSize), unknownSizePartSize)
	default:
		need := min(max(ceilMiB((size+partBudget-1)/partBudget), minPartSize), maxPartSize)
		p.part = need
		for conc := configured; conc >= 1; conc-- {
			if part := min(max(need, autoPartSize), floorMiB(memory/int64(conc+2))); part >= need {
				p.part = part
				break
			}
		}
	}
	p.concurrency = fit(p.part)
	p.limit = p.part * maxParts
	if size > p.limit {
		return p, fmt.Errorf("an object of %s needs more than %d parts of %s: raise part_size", fmtBytes(size), maxParts, fmtBytes(p.part))
	}
	return p, nil
}

func floorMiB(n int64) int64 { return n / mib * mib }
func ceilMiB(n int64) int64  { return (n + mib - 1) / mib * mib }

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
