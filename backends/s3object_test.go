package backends

import (
	"bytes"
	"encoding/json"
	"os"
	"os/exec"
	"strings"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/feature/s3/transfermanager"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"

	"github.com/sluice-backup/sluice/backends/s3test"
	"github.com/sluice-backup/sluice/pipeline"
)

func TestS3ObjectSettingsValidation(t *testing.T) {
	for _, tc := range []struct {
		raw  map[string]any
		want string // error substring; "" for valid
	}{
		{map[string]any{"storage_class": "standard_ia"}, ""},
		{map[string]any{"storage_class": "COLD"}, `storage_class "COLD": want one of STANDARD,`},
		{map[string]any{"sse": "AES256"}, ""},
		{map[string]any{"sse": "aws:kms", "sse_kms_key_id": "arn:aws:kms:k"}, ""},
		{map[string]any{"sse": "rot13"}, `sse "rot13": want AES256 or aws:kms`},
		{map[string]any{"sse_kms_key_id": "k"}, "sse_kms_key_id: needs sse=aws:kms"},
		{map[string]any{"sse": "AES256", "sse_kms_key_id": "k"}, "sse_kms_key_id: needs sse=aws:kms"},
		{map[string]any{"object_lock_mode": "COMPLIANCE", "object_lock_days": 30}, ""},
		{map[string]any{"object_lock_mode": "governance", "object_lock_days": "1"}, ""},
		{map[string]any{"object_lock_mode": "FOREVER", "object_lock_days": 3}, `object_lock_mode "FOREVER": want GOVERNANCE or COMPLIANCE`},
		{map[string]any{"object_lock_mode": "GOVERNANCE"}, "needs object_lock_days of at least 1"},
		{map[string]any{"object_lock_mode": "GOVERNANCE", "object_lock_days": -2}, "needs object_lock_days of at least 1"},
		{map[string]any{"object_lock_days": 3}, "object_lock_days: needs object_lock_mode"},
		{map[string]any{"tags": "env=prod,owner=a b"}, ""},
		{map[string]any{"tags": "novalue"}, `tags: "novalue": want key=value`},
		{map[string]any{"tags": "=v"}, `want key=value`},
		{map[string]any{"tags": "a=1,a=2"}, `key "a" given twice`},
		{map[string]any{"tags": "a=1,b=1,c=1,d=1,e=1,f=1,g=1,h=1,i=1,j=1,k=1"}, "at most 10"},
	} {
		_, err := parseS3ObjectSettings(s3Opts(t, tc.raw))
		switch {
		case tc.want == "" && err != nil:
			t.Errorf("%v: %v", tc.raw, err)
		case tc.want != "" && (err == nil || !strings.Contains(err.Error(), tc.want)):
			t.Errorf("%v: error %v, want one containing %q", tc.raw, err, tc.want)
		}
	}
}

func TestEncodeTags(t *testing.T) {
	got, err := encodeTags([]string{"env=prod", "note=a b&c=d", "k/é=x=y"})
	if err != nil {
		t.Fatal(err)
	}
	if want := "env=prod&note=a+b%26c%3Dd&k%2F%C3%A9=x%3Dy"; got != want {
		t.Fatalf("got %q, want %q", got, want)
	}
}

// TestS3ObjectSettingsMoto stores objects with every per-object setting on
// moto, single-request and multipart, and reads them back with
// HeadObject and GetObjectTagging, and once with the aws CLI. (moto 5.2's
// GetObjectRetention answers 500 for objects locked at upload, so the
// retention is read from HeadObject, which reports the same fields.)
func TestS3ObjectSettingsMoto(t *testing.T) {
	endpoint := s3test.StartMoto(t)
	s3test.CreateLockedBucket(t, endpoint, "locked")
	q := "?part_size=5242880&storage_class=STANDARD_IA&sse=AES256&object_lock_mode=GOVERNANCE&object_lock_days=3&tags=env%3Dprod,note%3Da%20b%3Dc%2Fd"
	tg, err := OpenTarget(t.Context(), newRegistry(), "s3://locked/p"+q, nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	if tg.URL != "s3://locked/p" {
		t.Fatalf("display URL %q keeps the options", tg.URL)
	}
	client := s3test.Client(endpoint)
	for _, size := range []int{1000, 12<<20 + 5} {
		key := tg.Key("obj-" + time.Now().Format("150405.000000"))
		wo := &blob.WriterOptions{}
		if _, err := tg.Prepare(wo, pipeline.Write{Size: int64(size)}); err != nil {
			t.Fatal(err)
		}
		before := time.Now().UTC()
		if err := tg.Bucket.WriteAll(t.Context(), key, bytes.Repeat([]byte{'x'}, size), wo); err != nil {
			t.Fatalf("size %d: %v", size, err)
		}
		after := time.Now().UTC()
		head, err := client.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String("locked"), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		if multipart := strings.Contains(aws.ToString(head.ETag), "-"); multipart != (size > 5<<20) {
			t.Errorf("size %d: ETag %s, multipart %v", size, aws.ToString(head.ETag), multipart)
		}
		if head.StorageClass != "STANDARD_IA" {
			t.Errorf("size %d: storage class %q", size, head.StorageClass)
		}
		if head.ServerSideEncryption != "AES256" {
			t.Errorf("size %d: sse %q", size, head.ServerSideEncryption)
		}
		// moto 5.2 ignores the lock headers of CreateMultipartUpload
		// (S3 honours them; the transfer manager sends them on both).
		if size < 5<<20 {
			if head.ObjectLockMode != "GOVERNANCE" {
				t.Errorf("size %d: lock mode %q", size, head.ObjectLockMode)
			}
			checkRetainUntil(t, head.ObjectLockRetainUntilDate, before, after)
		}
		tags, err := client.GetObjectTagging(t.Context(), &s3.GetObjectTaggingInput{Bucket: aws.String("locked"), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		got := map[string]string{}
		for _, tag := range tags.TagSet {
			got[aws.ToString(tag.Key)] = aws.ToString(tag.Value)
		}
		if len(got) != 2 || got["env"] != "prod" || got["note"] != "a b=c/d" {
			t.Errorf("size %d: tags %v", size, got)
		}
		if size == 1000 {
			awsHeadObject(t, endpoint, "locked", key)
		}
	}
}

// checkRetainUntil checks that a retain-until date is 3 days after the
// upload, which ran between before and after (S3 keeps whole seconds).
func checkRetainUntil(t *testing.T, got *time.Time, before, after time.Time) {
	t.Helper()
	if got == nil {
		t.Error("no retain-until date")
		return
	}
	lo := before.Add(72 * time.Hour).Truncate(time.Second)
	hi := after.Add(72*time.Hour + time.Second)
	if got.Before(lo) || got.After(hi) {
		t.Errorf("retain until %v, want between %v and %v", got, lo, hi)
	}
}

// awsHeadObject checks the settings as the aws CLI sees them.
func awsHeadObject(t *testing.T, endpoint, bucket, key string) {
	t.Helper()
	if _, err := exec.LookPath("aws"); err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("aws CLI required in CI: %v", err)
		}
		t.Skip("aws CLI not installed")
	}
	cmd := exec.Command("aws", "s3api", "head-object", "--endpoint-url", endpoint, "--region", s3test.Region,
		"--bucket", bucket, "--key", key, "--output", "json")
	cmd.Env = s3test.ToolEnv()
	out, err := cmd.Output()
	if err != nil {
		var stderr []byte
		if ee, ok := err.(*exec.ExitError); ok {
			stderr = ee.Stderr
		}
		t.Fatalf("aws s3api head-object: %v\n%s", err, stderr)
	}
	var head struct {
		StorageClass, ServerSideEncryption, ObjectLockMode, ObjectLockRetainUntilDate string
	}
	if err := json.Unmarshal(out, &head); err != nil {
		t.Fatalf("head-object output: %v\n%s", err, out)
	}
	if head.StorageClass != "STANDARD_IA" || head.ObjectLockMode != "GOVERNANCE" || head.ServerSideEncryption != "AES256" || head.ObjectLockRetainUntilDate == "" {
		t.Errorf("aws s3api head-object: %s", out)
	}
}

// TestS3ObjectSettingsByKind: encryption and tags go on every object a
// backup writes; the storage class on data only (an archived manifest
// could not be read back); the retention lock on data and manifests,
// never on claims, which the backup deletes when it ends.
func TestS3ObjectSettingsByKind(t *testing.T) {
	s, err := parseS3ObjectSettings(s3Opts(t, map[string]any{
		"storage_class": "GLACIER", "sse": "AES256", "tags": "env=prod",
		"object_lock_mode": "GOVERNANCE", "object_lock_days": 3,
	}))
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		kind        pipeline.WriteKind
		class, lock bool
	}{
		{pipeline.WriteData, true, true},
		{pipeline.WriteManifest, false, true},
		{pipeline.WriteClaim, false, false},
	} {
		var in transfermanager.UploadObjectInput
		s.apply(&in, tc.kind)
		if in.ServerSideEncryption != "AES256" || aws.ToString(in.Tagging) != "env=prod" {
			t.Errorf("kind %d: sse %q, tags %q: want both on every object", tc.kind, in.ServerSideEncryption, aws.ToString(in.Tagging))
		}
		if got := in.StorageClass != ""; got != tc.class {
			t.Errorf("kind %d: storage class %q", tc.kind, in.StorageClass)
		}
		if got := in.ObjectLockMode != ""; got != tc.lock {
			t.Errorf("kind %d: lock mode %q", tc.kind, in.ObjectLockMode)
		}
	}
}

// TestS3ManifestSettingsMoto: a backup's manifest, written through the
// pipeline, carries the target's encryption, tags and lock, in the
// standard storage class.
func TestS3ManifestSettingsMoto(t *testing.T) {
	endpoint := s3test.StartMoto(t)
	s3test.CreateLockedBucket(t, endpoint, "mlocked")
	tg, err := OpenTarget(t.Context(), newRegistry(), "s3://mlocked/m?storage_class=STANDARD_IA&sse=AES256&object_lock_mode=GOVERNANCE&object_lock_days=3&tags=env%3Dprod", nil)
	if err != nil {
		t.Fatal(err)
	}
	defer tg.Close()
	b := &pipeline.Backup{
		Source:  pipeline.StreamSource("data", strings.NewReader("some bytes\n"), 11),
		Targets: []*pipeline.Target{tg},
		Name:    "data",
	}
	res, err := b.Run(t.Context())
	if err != nil {
		t.Fatal(err)
	}
	client := s3test.Client(endpoint)
	for key, class := range map[string]string{tg.Key(res.Object): "STANDARD_IA", tg.Key(res.Object + pipeline.ManifestSuffix): ""} {
		head, err := client.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String("mlocked"), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		if string(head.StorageClass) != class || head.ServerSideEncryption != "AES256" || head.ObjectLockMode != "GOVERNANCE" {
			t.Errorf("%s: storage class %q, sse %q, lock %q", key, head.StorageClass, head.ServerSideEncryption, head.ObjectLockMode)
		}
		tags, err := client.GetObjectTagging(t.Context(), &s3.GetObjectTaggingInput{Bucket: aws.String("mlocked"), Key: aws.String(key)})
		if err != nil {
			t.Fatal(err)
		}
		if len(tags.TagSet) != 1 || aws.ToString(tags.TagSet[0].Key) != "env" {
			t.Errorf("%s: tags %v", key, tags.TagSet)
		}
	}

	// Metadata that needs no escaping in a header is stored as given,
	// and reads back the same through gocloud either way.
	md := map[string]string{"sluice-stages": "tar,zstd,age", "sluice-format": "sluice/1", "note": "ü 100%"}
	wo := &blob.WriterOptions{Metadata: md}
	if _, err := tg.Prepare(wo, pipeline.Write{Size: 1}); err != nil {
		t.Fatal(err)
	}
	key := tg.Key("meta")
	if err := tg.Bucket.WriteAll(t.Context(), key, []byte("x"), wo); err != nil {
		t.Fatal(err)
	}
	head, err := client.HeadObject(t.Context(), &s3.HeadObjectInput{Bucket: aws.String("mlocked"), Key: aws.String(key)})
	if err != nil {
		t.Fatal(err)
	}
	if got := head.Metadata; got["sluice-stages"] != "tar,zstd,age" || got["sluice-format"] != "sluice/1" || got["note"] == md["note"] {
		t.Errorf("stored metadata %v, want the sluice values plain and the note escaped", got)
	}
	attrs, err := tg.Bucket.Attributes(t.Context(), key)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range md {
		if attrs.Metadata[k] != v {
			t.Errorf("metadata %s reads back as %q, want %q", k, attrs.Metadata[k], v)
		}
	}
}
