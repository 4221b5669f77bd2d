package s3test

import (
	"context"
	"testing"
	"time"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
)

// CreateLockedBucket creates bucket name at endpoint with Object Lock
// enabled (which also turns on versioning), as retention settings need.
func CreateLockedBucket(t testing.TB, endpoint, name string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err := Client(endpoint).CreateBucket(ctx, &s3.CreateBucketInput{
		Bucket:                     aws.String(name),
		ObjectLockEnabledForBucket: aws.Bool(true),
	})
	if err != nil {
		t.Fatalf("create bucket %q with object lock: %v", name, err)
	}
}
