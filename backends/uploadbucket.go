package backends

import (
	"context"
	"io"

	"gocloud.dev/blob"
	"gocloud.dev/blob/driver"
	"gocloud.dev/gcerrors"
)

// uploadBucket is a driver over an open bucket that streams every write
// through Bucket.Upload (the driver's Upload path) instead of its Write
// path. It works around gocloud v0.47's azureblob writer, whose Close
// panics with a nil pointer whenever an upload fails after data was
// written: a cancelled (aborted) write, or a refused conditional create.
// Upstream fixed it in v0.48; the writes can go back to the Write path
// then. Everything else is passed through. Errors keep their gcerrors codes,
// and an Azure service error in them is told in one line ([azureError]).
type uploadBucket struct {
	b *blob.Bucket
}

var _ driver.Bucket = (*uploadBucket)(nil)

// wrapUploadBucket returns b behind an uploadBucket.
func wrapUploadBucket(b *blob.Bucket) *blob.Bucket { return blob.NewBucket(&uploadBucket{b: b}) }

func (u *uploadBucket) ErrorCode(err error) gcerrors.ErrorCode { return gcerrors.Code(err) }
func (u *uploadBucket) As(i any) bool                          { return u.b.As(i) }
func (u *uploadBucket) ErrorAs(err error, i any) bool          { return u.b.ErrorAs(err, i) }
func (u *uploadBucket) Close() error                           { return u.b.Close() }

func (u *uploadBucket) Attributes(ctx context.Context, key string) (*driver.Attributes, error) {
	a, err := u.b.Attributes(ctx, key)
	if err != nil {
		return nil, tellAzureError(err)
	}
	return &driver.Attributes{
		CacheControl: a.CacheControl, ContentDisposition: a.ContentDisposition,
		ContentEncoding: a.ContentEncoding, ContentLanguage: a.ContentLanguage,
		ContentType: a.ContentType, Metadata: a.Metadata, CreateTime: a.CreateTime,
		ModTime: a.ModTime, Size: a.Size, MD5: a.MD5, ETag: a.ETag, AsFunc: a.As,
	}, nil
}

func (u *uploadBucket) ListPaged(ctx context.Context, opts *driver.ListOptions) (*driver.ListPage, error) {
	size := opts.PageSize
	if size <= 0 {
		size = 1000 // the driver default; the portable API insists on one
	}
	token := opts.PageToken
	if len(token) == 0 {
		token = blob.FirstPageToken
	}
	objs, next, err := u.b.ListPage(ctx, token, size, &blob.ListOptions{
		Prefix: opts.Prefix, Delimiter: opts.Delimiter, BeforeList: opts.BeforeList,
	})
	if err != nil {
		return nil, tellAzureError(err)
	}
	page := &driver.ListPage{NextPageToken: next}
	for _, o := range objs {
		page.Objects = append(page.Objects, &driver.ListObject{
			Key: o.Key, ModTime: o.ModTime, Size: o.Size, MD5: o.MD5, IsDir: o.IsDir, AsFunc: o.As,
		})
	}
	return page, nil
}

func (u *uploadBucket) NewRangeReader(ctx context.Context, key string, offset, length int64, opts *driver.ReaderOptions) (driver.Reader, error) {
	r, err := u.b.NewRangeReader(ctx, key, offset, length, &blob.ReaderOptions{BeforeRead: opts.BeforeRead})
	if err != nil {
		return nil, tellAzureError(err)
	}
	return uploadReader{r}, nil
}

type uploadReader struct{ *blob.Reader }

func (r uploadReader) Attributes() *driver.ReaderAttributes {
	return &driver.ReaderAttributes{ContentType: r.ContentType(), ModTime: r.ModTime(), Size: r.Size()}
}

func (u *uploadBucket) Copy(ctx context.Context, dst, src string, opts *driver.CopyOptions) error {
	return tellAzureError(u.b.Copy(ctx, dst, src, &blob.CopyOptions{BeforeCopy: opts.BeforeCopy}))
}

func (u *uploadBucket) Delete(ctx context.Context, key string, _ *driver.DeleteOptions) error {
	return tellAzureError(u.b.Delete(ctx, key))
}

func (u *uploadBucket) SignedURL(ctx context.Context, key string, opts *driver.SignedURLOptions) (string, error) {
	return u.b.SignedURL(ctx, key, &blob.SignedURLOptions{
		Expiry: opts.Expiry, Method: opts.Method, ContentType: opts.ContentType,
		EnforceAbsentContentType: opts.EnforceAbsentContentType, BeforeSign: opts.BeforeSign,
	})
}

// NewTypedWriter starts an Upload fed by a pipe. The upload's end closes
// the pipe, so Write never blocks on an upload that gave up.
//
// ContentMD5 is not passed on: with one set, gocloud's Upload takes the
// Write path after all, the one that panics. Bucket.WriteAll sets it for
// every small write (manifests, claims), so a refused claim (a container
// that does not exist, a claim left by a killed run) crashed the process.
// The manifest's SHA-256 covers what the MD5 would have checked.
func (u *uploadBucket) NewTypedWriter(ctx context.Context, key, contentType string, opts *driver.WriterOptions) (driver.Writer, error) {
	pr, pw := io.Pipe()
	w := &uploadWriter{pw: pw, done: make(chan struct{})}
	wo := &blob.WriterOptions{
		BufferSize: opts.BufferSize, MaxConcurrency: opts.MaxConcurrency,
		CacheControl: opts.CacheControl, ContentDisposition: opts.ContentDisposition,
		ContentEncoding: opts.ContentEncoding, ContentLanguage: opts.ContentLanguage,
		ContentType: contentType, Metadata: opts.Metadata,
		BeforeWrite: opts.BeforeWrite, IfNotExist: opts.IfNotExist,
	}
	go func() {
		defer close(w.done)
		w.err = tellAzureError(u.b.Upload(ctx, key, pr, wo))
		pr.CloseWithError(errOr(w.err, io.ErrClosedPipe))
	}()
	return w, nil
}

type uploadWriter struct {
	pw   *io.PipeWriter
	done chan struct{}
	err  error
}

func (w *uploadWriter) Write(p []byte) (int, error) {
	n, err := w.pw.Write(p)
	if err != nil {
		<-w.done
		if w.err != nil {
			err = w.err
		}
	}
	return n, err
}

func (w *uploadWriter) Close() error {
	w.pw.Close()
	<-w.done
	return w.err
}

func errOr(err, fallback error) error {
	if err != nil {
		return err
	}
	return fallback
}
