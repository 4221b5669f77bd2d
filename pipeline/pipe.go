package pipeline

import (
	"context"
	"errors"
	"io"
	"sync"
)

// ErrClosed is returned by reads from a stream after its Close.
var ErrClosed = errors.New("read from closed stream")

// EncoderFunc wraps dst in a writer-based encoder. The encoder's Close must
// flush the encoding's end and must not close dst.
type EncoderFunc func(dst io.Writer) (io.WriteCloser, error)

// PipeEncoder turns a writer-based encoder into a reader: a goroutine copies
// src through the encoder into an io.Pipe whose other end is returned. The
// stage then overlaps with whatever reads from it, on another core.
//
// The goroutine's first error (from src, the encoder or ctx) reaches the
// reader and stays there. Close stops the goroutine, waits for it and never
// closes src.
func PipeEncoder(ctx context.Context, src io.Reader, newEncoder EncoderFunc) io.ReadCloser {
	return PipeProducer(ctx, func(ctx context.Context, w io.Writer) error {
		return runEncoder(ctx, src, w, newEncoder)
	})
}

// PipeProducer runs produce in its own goroutine, writing into an io.Pipe
// whose read end is returned. produce's error (or ctx's, once it is done)
// reaches the reader and stays there; a nil error becomes io.EOF. Close
// stops produce (its writes fail), waits for it to return and is
// idempotent.
func PipeProducer(ctx context.Context, produce func(ctx context.Context, w io.Writer) error) io.ReadCloser {
	pr, pw := io.Pipe()
	p := &pipeReader{pr: pr, done: make(chan struct{})}
	ctx, p.cancel = context.WithCancel(ctx)
	go func() {
		defer close(p.done)
		pw.CloseWithError(produce(ctx, pw))
	}()
	// A cancelled ctx must unblock a reader waiting on the pipe even while
	// the goroutine is blocked elsewhere.
	p.stop = context.AfterFunc(ctx, func() { p.fail(ctx.Err()) })
	return p
}

func runEncoder(ctx context.Context, src io.Reader, pw io.Writer, newEncoder EncoderFunc) (err error) {
	enc, err := newEncoder(pw)
	if err != nil {
		return err
	}
	defer func() {
		if cerr := enc.Close(); err == nil {
			err = cerr
		}
	}()
	_, err = CopyContext(ctx, enc, src)
	return err
}

// copyBufferSize is the chunk size stream copies use: large enough that
// per-call costs vanish, small enough to stay out of the memory budget.
const copyBufferSize = 1 << 20

var copyBuffers = sync.Pool{New: func() any { b := make([]byte, copyBufferSize); return &b }}

// CopyContext copies src to dst like io.Copy until EOF, an error or ctx
// is done, checking ctx between chunks.
func CopyContext(ctx context.Context, dst io.Writer, src io.Reader) (int64, error) {
	bp := copyBuffers.Get().(*[]byte)
	defer copyBuffers.Put(bp)
	buf := *bp
	var n int64
	for {
		if err := ctx.Err(); err != nil {
			return n, err
		}
		nr, rerr := src.Read(buf)
		if nr > 0 {
			nw, werr := dst.Write(buf[:nr])
			n += int64(nw)
			if werr != nil {
				return n, werr
			}
			if nw != nr {
				return n, io.ErrShortWrite
			}
		}
		if rerr == io.EOF {
			return n, nil
		}
		if rerr != nil {
			return n, rerr
		}
	}
}

type pipeReader struct {
	pr     *io.PipeReader
	done   chan struct{}
	cancel context.CancelFunc
	stop   func() bool
	once   sync.Once

	mu  sync.Mutex
	err error // sticky; set by fail, Close or the first failed Read
}

// fail records err as the stream's error, unless one is already recorded,
// and closes the pipe so the encoder goroutine stops.
func (p *pipeReader) fail(err error) {
	p.mu.Lock()
	if p.err == nil {
		p.err = err
	}
	p.mu.Unlock()
	p.pr.CloseWithError(err)
}

func (p *pipeReader) Read(b []byte) (int, error) {
	p.mu.Lock()
	err := p.err
	p.mu.Unlock()
	if err != nil {
		return 0, err
	}
	n, err := p.pr.Read(b)
	if err != nil {
		p.mu.Lock()
		if p.err == nil {
			p.err = err
		}
		err = p.err
		p.mu.Unlock()
	}
	return n, err
}

// Close stops the encoder goroutine and waits for it. It does not close src.
func (p *pipeReader) Close() error {
	p.once.Do(func() {
		p.stop()
		p.fail(ErrClosed)
		p.cancel()
		<-p.done
	})
	return nil
}

// ReaderFunc adapts a decoder reader and its release function to an
// io.ReadCloser with sticky errors and an idempotent Close.
func ReaderFunc(r io.Reader, release func()) io.ReadCloser {
	return &stickyReader{r: r, release: release}
}

type stickyReader struct {
	r       io.Reader
	release func()
	err     error
	once    sync.Once
	closed  bool
}

func (s *stickyReader) Read(p []byte) (int, error) {
	if s.closed {
		return 0, ErrClosed
	}
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.r.Read(p)
	if err != nil {
		s.err = err
	}
	return n, err
}

func (s *stickyReader) Close() error {
	s.once.Do(func() {
		s.closed = true
		if s.release != nil {
			s.release()
		}
	})
	return nil
}

// ContextReader returns a reader that fails with ctx's error once ctx is
// done. It checks before each Read; a Read already blocked is not
// interrupted.
func ContextReader(ctx context.Context, r io.Reader) io.Reader {
	return &ctxReader{ctx: ctx, r: r}
}

type ctxReader struct {
	ctx context.Context
	r   io.Reader
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	return c.r.Read(p)
}
