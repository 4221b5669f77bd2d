package backends

import (
	"context"
	"errors"
	"io"
	"net/url"
	"sync"

	"gocloud.dev/blob"
	"gocloud.dev/blob/driver"
	"gocloud.dev/blob/memblob"
	"gocloud.dev/gcerrors"

	"github.com/sluice-backup/sluice/pipeline"
)

var memSpec = pipeline.BackendSpec{
	Scheme: "mem",
	Help:   "process memory, for tests and dry runs: mem://name/prefix (gone when the process exits)",
	Check:  checkMem,
	Open:   openMem,
}

// checkMem implements [pipeline.BackendSpec.Check] for mem URLs.
func checkMem(u *url.URL, _ pipeline.Options) error {
	if u.User != nil {
		return errors.New("mem URLs take no credentials")
	}
	if err := rejectQuery(u, nil); err != nil {
		return err
	}
	_, err := cleanPrefix(u.Path)
	return err
}

// defaultMemName is the bucket mem:// without a name opens, so that its
// object URLs (mem://default/obj) parse back to the same bucket.
const defaultMemName = "default"

// memBuckets holds the data of every mem:// bucket opened in this process,
// by name. It lives as long as the process; nothing is ever removed.
var memBuckets struct {
	sync.Mutex
	m map[string]*blob.Bucket
}

// openMem opens the named in-memory bucket. Every target opened on the
// same name shares its objects, and closing a target leaves them intact,
// so a test can back up to mem://x and restore from mem://x.
func openMem(_ context.Context, u *url.URL, _ pipeline.Options) (*pipeline.Target, error) {
	name := u.Host
	if name == "" {
		name = defaultMemName
	}
	prefix, err := cleanPrefix(u.Path)
	if err != nil {
		return nil, err
	}
	memBuckets.Lock()
	shared, ok := memBuckets.m[name]
	if !ok {
		if memBuckets.m == nil {
			memBuckets.m = make(map[string]*blob.Bucket)
		}
		shared = memblob.OpenBucket(nil)
		memBuckets.m[name] = shared
	}
	memBuckets.Unlock()
	return &pipeline.Target{
		URL:    displayURL("mem", name, prefix),
		Bucket: blob.NewBucket(sharedDriver{shared}),
		Prefix: prefix,
	}, nil
}

// sharedDriver is a driver over a *blob.Bucket that is never closed. Each
// target gets its own *blob.Bucket over it, which the target may close
// without closing the shared one: gocloud offers no other way to open two
// buckets on one memblob store.
type sharedDriver struct{ b *blob.Bucket }

var (
	_ driver.Bucket = sharedDriver{}
	_ driver.Reader = sharedReader{}
)

// codedError carries the code of an error from the shared bucket without
// its wrapping, which the target's bucket adds again.
type codedError struct {
	code gcerrors.ErrorCode
	err  error
}

func (e *codedError) Error() string { return e.err.Error() }
func (e *codedError) Unwrap() error { return e.err }

// bare unwraps the error the shared bucket returned, keeping its code. A
// gocloud error unwraps to its cause followed by a sentinel for its code.
func bare(err error) error {
	if err == nil {
		return nil
	}
	code := gcerrors.Code(err)
	multi, ok := err.(interface{ Unwrap() []error })
	if code == gcerrors.Unknown || !ok {
		return err
	}
	errs := multi.Unwrap()
	if len(errs) == 0 || errs[0] == nil {
		return err
	}
	return &codedError{code: code, err: errs[0]}
}

func (d sharedDriver) ErrorCode(err error) gcerrors.ErrorCode {
	var ce *codedError
	if errors.As(err, &ce) {
		return ce.code
	}
	return gcerrors.Code(err)
}

func (d sharedDriver) As(any) bool             { return false }
func (d sharedDriver) ErrorAs(error, any) bool { return false }
func (d sharedDriver) Close() error            { return nil }

func (d sharedDriver) Attributes(ctx context.Context, key string) (*driver.Attributes, error) {
	a, err := d.b.Attributes(ctx, key)
	if err != nil {
		return nil, bare(err)
	}
	return &driver.Attributes{
		CacheControl:       a.CacheControl,
		ContentDisposition: a.ContentDisposition,
		ContentEncoding:    a.ContentEncoding,
		ContentLanguage:    a.ContentLanguage,
		ContentType:        a.ContentType,
		Metadata:           a.Metadata,
		CreateTime:         a.CreateTime,
		ModTime:            a.ModTime,
		Size:               a.Size,
		MD5:                a.MD5,
		ETag:               a.ETag,
	}, nil
}

func (d sharedDriver) ListPaged(ctx context.Context, opts *driver.ListOptions) (*driver.ListPage, error) {
	token := opts.PageToken
	if token == nil {
		token = blob.FirstPageToken
	}
	size := opts.PageSize
	if size <= 0 {
		size = 1000
	}
	objs, next, err := d.b.ListPage(ctx, token, size, &blob.ListOptions{Prefix: opts.Prefix, Delimiter: opts.Delimiter})
	if err != nil {
		return nil, bare(err)
	}
	page := &driver.ListPage{Objects: make([]*driver.ListObject, len(objs)), NextPageToken: next}
	for i, o := range objs {
		page.Objects[i] = &driver.ListObject{Key: o.Key, ModTime: o.ModTime, Size: o.Size, MD5: o.MD5, IsDir: o.IsDir}
	}
	return page, nil
}

func (d sharedDriver) NewRangeReader(ctx context.Context, key string, offset, length int64, _ *driver.ReaderOptions) (driver.Reader, error) {
	r, err := d.b.NewRangeReader(ctx, key, offset, length, nil)
	if err != nil {
		return nil, bare(err)
	}
	return sharedReader{r}, nil
}

func (d sharedDriver) NewTypedWriter(ctx context.Context, key, contentType string, opts *driver.WriterOptions) (driver.Writer, error) {
	w, err := d.b.NewWriter(ctx, key, &blob.WriterOptions{
		BufferSize:                  opts.BufferSize,
		MaxConcurrency:              opts.MaxConcurrency,
		CacheControl:                opts.CacheControl,
		ContentDisposition:          opts.ContentDisposition,
		ContentEncoding:             opts.ContentEncoding,
		ContentLanguage:             opts.ContentLanguage,
		ContentType:                 contentType,
		DisableContentTypeDetection: true, // the outer bucket has detected it
		ContentMD5:                  opts.ContentMD5,
		Metadata:                    opts.Metadata,
		BeforeWrite:                 opts.BeforeWrite,
		IfNotExist:                  opts.IfNotExist,
	})
	if err != nil {
		return nil, bare(err)
	}
	return sharedWriter{w}, nil
}

func (d sharedDriver) Copy(ctx context.Context, dst, src string, _ *driver.CopyOptions) error {
	return bare(d.b.Copy(ctx, dst, src, nil))
}

func (d sharedDriver) Delete(ctx context.Context, key string, _ *driver.DeleteOptions) error {
	return bare(d.b.Delete(ctx, key))
}

func (d sharedDriver) SignedURL(context.Context, string, *driver.SignedURLOptions) (string, error) {
	return "", &codedError{code: gcerrors.Unimplemented, err: errors.New("mem buckets have no signed URLs")}
}

type sharedReader struct{ r *blob.Reader }

func (r sharedReader) Read(p []byte) (int, error) {
	n, err := r.r.Read(p)
	if err == io.EOF {
		return n, err
	}
	return n, bare(err)
}

func (r sharedReader) Close() error { return bare(r.r.Close()) }
func (r sharedReader) As(any) bool  { return false }

func (r sharedReader) Attributes() *driver.ReaderAttributes {
	return &driver.ReaderAttributes{ContentType: r.r.ContentType(), ModTime: r.r.ModTime(), Size: r.r.Size()}
}

type sharedWriter struct{ w *blob.Writer }

func (w sharedWriter) Write(p []byte) (int, error) {
	n, err := w.w.Write(p)
	return n, bare(err)
}

func (w sharedWriter) Close() error { return bare(w.w.Close()) }
