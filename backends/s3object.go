package backends

import (
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strings"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	tmtypes "github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager/types"
	s3types "github.com/aws/aws-sdk-go-v2/service/s3/types"

	"github.com/sluice-backup/sluice/pipeline"
)

// s3ObjectOptions are the per-object S3 settings sluice applies to every
// upload on a target, through gocloud's BeforeWrite hook. Like every s3
// option they work as URL query parameters and as keys of a config
// file's target entry.
var s3ObjectOptions = []pipeline.OptionSpec{
	{Name: "storage_class", Help: "storage class of stored objects: STANDARD, STANDARD_IA, ONEZONE_IA, INTELLIGENT_TIERING, GLACIER, GLACIER_IR, DEEP_ARCHIVE, … (default: the bucket's)"},
	{Name: "sse", Help: "server-side encryption: AES256 or aws:kms"},
	{Name: "sse_kms_key_id", Help: "KMS key ID or ARN for sse=aws:kms (default: the account's aws/s3 key)"},
	{Name: "object_lock_mode", Help: "Object Lock retention mode: GOVERNANCE or COMPLIANCE; needs object_lock_days and a bucket with Object Lock enabled"},
	{Name: "object_lock_days", Type: pipeline.Int, Help: "Object Lock retention in days, counted from the upload (retain-until is computed when the upload starts)"},
	{Name: "tags", Type: pipeline.List, Help: "object tags as key=value, comma-separated (at most 10)"},
}

// s3ObjectSettings are validated per-object settings; the zero value
// changes nothing.
type s3ObjectSettings struct {
	storageClass tmtypes.StorageClass
	sse          tmtypes.ServerSideEncryption
	kmsKeyID     string
	lockMode     tmtypes.ObjectLockMode
	lockDays     int
	tagging      string // URL-encoded, as the x-amz-tagging header wants
	now          func() time.Time
}

// S3 limits on object tags.
const (
	maxTags        = 10
	maxTagKeyLen   = 128
	maxTagValueLen = 256
)

// parseS3ObjectSettings validates the per-object options. Errors name the
// option and list the accepted values.
func parseS3ObjectSettings(opts pipeline.Options) (*s3ObjectSettings, error) {
	s := &s3ObjectSettings{now: time.Now}
	if v := opts.String("storage_class"); v != "" {
		classes := s3types.StorageClass("").Values()
		i := slices.IndexFunc(classes, func(c s3types.StorageClass) bool { return strings.EqualFold(string(c), v) })
		if i < 0 {
			return nil, fmt.Errorf("storage_class %q: want one of %s", v, joinEnum(classes))
		}
		s.storageClass = tmtypes.StorageClass(classes[i])
	}
	switch v := opts.String("sse"); {
	case v == "":
	case strings.EqualFold(v, "AES256"):
		s.sse = tmtypes.ServerSideEncryption("AES256")
	case strings.EqualFold(v, "aws:kms"):
		s.sse = tmtypes.ServerSideEncryption("aws:kms")
	default:
		return nil, fmt.Errorf("sse %q: want AES256 or aws:kms", v)
	}
	if s.kmsKeyID = opts.String("sse_kms_key_id"); s.kmsKeyID != "" && s.sse != "aws:kms" {
		return nil, errors.New("sse_kms_key_id: needs sse=aws:kms")
	}
	s.lockDays = opts.Int("object_lock_days")
	switch v := opts.String("object_lock_mode"); {
	case v == "" && opts.Has("object_lock_days"):
		return nil, errors.New("object_lock_days: needs object_lock_mode (GOVERNANCE or COMPLIANCE)")
	case v == "":
	case strings.EqualFold(v, "GOVERNANCE"), strings.EqualFold(v, "COMPLIANCE"):
		s.lockMode = tmtypes.ObjectLockMode(strings.ToUpper(v))
		if s.lockDays < 1 {
			return nil, fmt.Errorf("object_lock_mode %s: needs object_lock_days of at least 1", s.lockMode)
		}
	default:
		return nil, fmt.Errorf("object_lock_mode %q: want GOVERNANCE or COMPLIANCE", v)
	}
	tags, err := encodeTags(opts.List("tags"))
	if err != nil {
		return nil, err
	}
	s.tagging = tags
	return s, nil
}

// encodeTags turns key=value items into the URL-encoded form of the
// x-amz-tagging header, keeping the given order.
func encodeTags(items []string) (string, error) {
	if len(items) > maxTags {
		return "", fmt.Errorf("tags: %d given, S3 allows at most %d", len(items), maxTags)
	}
	seen := map[string]bool{}
	var parts []string
	for _, it := range items {
		k, v, ok := strings.Cut(it, "=")
		switch {
		case !ok || k == "":
			return "", fmt.Errorf("tags: %q: want key=value", it)
		case len(k) > maxTagKeyLen:
			return "", fmt.Errorf("tags: key %q is longer than %d characters", k, maxTagKeyLen)
		case len(v) > maxTagValueLen:
			return "", fmt.Errorf("tags: value of %q is longer than %d characters", k, maxTagValueLen)
		case seen[k]:
			return "", fmt.Errorf("tags: key %q given twice", k)
		}
		seen[k] = true
		parts = append(parts, url.QueryEscape(k)+"="+url.QueryEscape(v))
	}
	return strings.Join(parts, "&"), nil
}

// apply sets the settings on an upload of kind. The retain-until date is
// computed now, when the upload starts.
//
// Encryption and tags apply to every object, so that a bucket policy
// requiring them admits the manifests and claims too, and lifecycle rules
// on tags treat a manifest like its object. The storage class applies to
// data objects only: a manifest in an archival class (GLACIER,
// DEEP_ARCHIVE) could not be read back by list, verify or prune without a
// restore request. The retention lock applies to data and manifests,
// never to claims, which the backup deletes when it ends.
func (s *s3ObjectSettings) apply(in *transfermanager.UploadObjectInput, kind pipeline.WriteKind) {
	if s.storageClass != "" && kind == pipeline.WriteData {
		in.StorageClass = s.storageClass
	}
	if s.sse != "" {
		in.ServerSideEncryption = s.sse
	}
	if s.kmsKeyID != "" {
		in.SSEKMSKeyID = aws.String(s.kmsKeyID)
	}
	if s.lockMode != "" && kind != pipeline.WriteClaim {
		in.ObjectLockMode = s.lockMode
		in.ObjectLockRetainUntilDate = aws.Time(s.now().Add(time.Duration(s.lockDays) * 24 * time.Hour).UTC())
		// S3 requires an integrity checksum on writes that set a
		// retention; sluice otherwise sends checksums only when required.
		if in.ChecksumAlgorithm == "" {
			in.ChecksumAlgorithm = tmtypes.ChecksumAlgorithmCrc32
		}
	}
	if s.tagging != "" {
		in.Tagging = aws.String(s.tagging)
	}
}

func joinEnum[T ~string](vals []T) string {
	s := make([]string, len(vals))
	for i, v := range vals {
		s[i] = string(v)
	}
	return strings.Join(s, ", ")
}
