package pipeline

import (
	"context"
	"fmt"
	"io"
	"time"

	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"
)

// Reading an object resumes after a transient failure (a reset or stalled
// connection mid-body, which no SDK retries once the response has begun):
// the rest is requested again from the offset reached, up to
// resumeAttempts times in a row, with a growing pause.
const (
	resumeAttempts = 4
	resumePause    = 200 * time.Millisecond
)

// resumingReader reads key from bucket and, when a read fails with what
// may be a transient error, reopens the object at the offset reached.
// The object is expected not to change meanwhile (sluice writes objects
// once); the size is checked on every reopen, and the caller verifies the
// content against the manifest.
type resumingReader struct {
	ctx    context.Context
	bucket *blob.Bucket
	key    string
	size   int64 // -1 if unknown
	r      *blob.Reader
	off    int64
	fails  int // consecutive failures
	pause  time.Duration
}

// openResuming opens key for reading with resumption.
func openResuming(ctx context.Context, b *blob.Bucket, key string, size int64) (*resumingReader, error) {
	r, err := b.NewReader(ctx, key, nil)
	if err != nil {
		return nil, err
	}
	return &resumingReader{ctx: ctx, bucket: b, key: key, size: size, r: r, pause: resumePause}, nil
}

func (rr *resumingReader) Read(p []byte) (int, error) {
	for {
		if rr.r == nil {
			if err := rr.reopen(); err != nil {
				return 0, err
			}
		}
		n, err := rr.r.Read(p)
		rr.off += int64(n)
		if n > 0 {
			rr.fails = 0
		}
		if err == nil || err == io.EOF || !resumable(rr.ctx, err) || rr.fails >= resumeAttempts {
			if err == io.EOF && rr.size >= 0 && rr.off < rr.size {
				err = io.ErrUnexpectedEOF
			}
			return n, err
		}
		// Transient: drop this reader and continue from rr.off.
		rr.fails++
		rr.r.Close()
		rr.r = nil
		if n > 0 {
			return n, nil
		}
		if err := rr.sleep(); err != nil {
			return 0, err
		}
	}
}

func (rr *resumingReader) sleep() error {
	t := time.NewTimer(rr.pause << (rr.fails - 1))
	defer t.Stop()
	select {
	case <-rr.ctx.Done():
		return rr.ctx.Err()
	case <-t.C:
		return nil
	}
}

func (rr *resumingReader) reopen() error {
	if rr.size >= 0 && rr.off >= rr.size {
		return io.EOF
	}
	r, err := rr.bucket.NewRangeReader(rr.ctx, rr.key, rr.off, -1, nil)
	if err != nil {
		return fmt.Errorf("resume reading at byte %d: %w", rr.off, err)
	}
	if rr.size >= 0 && r.Size() != rr.size {
		r.Close()
		return fmt.Errorf("resume reading at byte %d: object size changed from %d to %d", rr.off, rr.size, r.Size())
	}
	rr.r = r
	return nil
}

func (rr *resumingReader) Close() error {
	if rr.r == nil {
		return nil
	}
	err := rr.r.Close()
	rr.r = nil
	return err
}

// resumable reports whether a read error may be transient: not a
// cancellation and not an answer from the store that retrying cannot
// change.
func resumable(ctx context.Context, err error) bool {
	if ctx.Err() != nil {
		return false
	}
	switch gcerrors.Code(err) {
	case gcerrors.NotFound, gcerrors.PermissionDenied, gcerrors.InvalidArgument, gcerrors.FailedPrecondition, gcerrors.Unimplemented:
		return false
	}
	return true
}
