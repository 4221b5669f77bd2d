package pipeline_test

import (
	"context"
	"fmt"
	"testing"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/blob/driver"
	"gocloud.dev/blob/memblob"
	"gocloud.dev/gcerrors"

	"github.com/sluice-backup/sluice/pipeline"
)

// slowBucket is an in-memory bucket whose reads wait delay before they
// start, as a cloud store's requests take a round trip.
type slowBucket struct {
	b     *blob.Bucket
	delay time.Duration
}

func (s *slowBucket) ErrorCode(err error) gcerrors.ErrorCode { return gcerrors.Code(err) }
func (s *slowBucket) As(any) bool                            { return false }
func (s *slowBucket) ErrorAs(error, any) bool                { return false }
func (s *slowBucket) Close() error                           { return s.b.Close() }
func (s *slowBucket) Attributes(ctx context.Context, key string) (*driver.Attributes, error) {
	a, err := s.b.Attributes(ctx, key)
	if err != nil {
		return nil, err
	}
	return &driver.Attributes{Metadata: a.Metadata, Size: a.Size, ModTime: a.ModTime}, nil
}
func (s *slowBucket) ListPaged(ctx context.Context, opts *driver.ListOptions) (*driver.ListPage, error) {
	token := opts.PageToken
	if len(token) == 0 {
		token = blob.FirstPageToken
	}
	objs, next, err := s.b.ListPage(ctx, token, max(opts.PageSize, 1000), &blob.ListOptions{Prefix: opts.Prefix, Delimiter: opts.Delimiter})
	if err != nil {
		return nil, err
	}
	page := &driver.ListPage{NextPageToken: next}
	for _, o := range objs {
		page.Objects = append(page.Objects, &driver.ListObject{Key: o.Key, Size: o.Size, ModTime: o.ModTime, IsDir: o.IsDir})
	}
	return page, nil
}
func (s *slowBucket) NewRangeReader(ctx context.Context, key string, off, n int64, _ *driver.ReaderOptions) (driver.Reader, error) {
	time.Sleep(s.delay)
	r, err := s.b.NewRangeReader(ctx, key, off, n, nil)
	if err != nil {
		return nil, err
	}
	return slowReader{r}, nil
}
func (s *slowBucket) NewTypedWriter(ctx context.Context, key, contentType string, opts *driver.WriterOptions) (driver.Writer, error) {
	return s.b.NewWriter(ctx, key, &blob.WriterOptions{ContentType: contentType, Metadata: opts.Metadata})
}
func (s *slowBucket) Copy(context.Context, string, string, *driver.CopyOptions) error {
	return fmt.Errorf("not implemented")
}
func (s *slowBucket) Delete(ctx context.Context, key string, _ *driver.DeleteOptions) error {
	return s.b.Delete(ctx, key)
}
func (s *slowBucket) SignedURL(context.Context, string, *driver.SignedURLOptions) (string, error) {
	return "", fmt.Errorf("not implemented")
}

type slowReader struct{ *blob.Reader }

func (r slowReader) Attributes() *driver.ReaderAttributes {
	return &driver.ReaderAttributes{ContentType: r.ContentType(), ModTime: r.ModTime(), Size: r.Size()}
}

// BenchmarkListBackups lists 500 backups on a store whose reads take
// 2 ms to start: the manifests are read several at a time.
func BenchmarkListBackups(b *testing.B) {
	const backups = 500
	mem := memblob.OpenBucket(nil)
	slow := blob.NewBucket(&slowBucket{b: mem, delay: 2 * time.Millisecond})
	defer slow.Close()
	tg := &pipeline.Target{URL: "slow://b", Bucket: slow}
	created := time.Date(2026, 1, 1, 0, 0, 0, 0, time.UTC)
	for i := range backups {
		name := fmt.Sprintf("db-%04d.zst", i)
		body := fmt.Sprintf(`{"format":%q,"object":%q,"pipeline":"db","source":"db","stages":["zstd"],"size":1,"sha256":"00","bytes_in":1,"created":%q}`,
			pipeline.ManifestFormat, name, created.Add(time.Duration(i)*time.Hour).Format(time.RFC3339))
		if err := mem.WriteAll(b.Context(), name, []byte("x"), nil); err != nil {
			b.Fatal(err)
		}
		if err := mem.WriteAll(b.Context(), name+pipeline.ManifestSuffix, []byte(body), nil); err != nil {
			b.Fatal(err)
		}
	}
	for b.Loop() {
		l, err := pipeline.ListBackups(b.Context(), tg, "db")
		if err != nil || len(l.Entries) != backups {
			b.Fatalf("listed %d backups, %v; want %d", len(l.Entries), err, backups)
		}
	}
}
