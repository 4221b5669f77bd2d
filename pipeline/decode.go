package pipeline

import (
	"context"
	"errors"
	"fmt"
	"io"
)

// DecoderFunc wraps src in a reader-based decoder. release frees what the
// decoder holds; it must not close src. release may be nil.
type DecoderFunc func(src io.Reader) (dec io.Reader, release func(), err error)

// DecodeReader wraps a reader-based decoder so that it keeps the [Stage]
// contract: errors from src and ctx pass through unchanged, a decoder's
// own local failures (wrapping [ErrLocal]) are passed on as they are,
// every other decoding error (and an empty input, which no format here
// encodes to) wraps [ErrIntegrity], and errors are sticky. name prefixes
// error messages.
func DecodeReader(ctx context.Context, name string, src io.Reader, newDecoder DecoderFunc) (io.ReadCloser, error) {
	t := &trackedReader{r: ContextReader(ctx, src)}
	dec, release, err := newDecoder(t)
	if err != nil {
		return nil, t.classify(name, err)
	}
	d := &decodeReader{name: name, dec: dec, src: t}
	return ReaderFunc(d, release), nil
}

// trackedReader remembers whether reads from the source failed, so decode
// errors caused by the source (network, ctx) are not reported as corruption.
type trackedReader struct {
	r   io.Reader
	n   int64
	err error
}

func (t *trackedReader) Read(p []byte) (int, error) {
	n, err := t.r.Read(p)
	t.n += int64(n)
	if err != nil && err != io.EOF {
		t.err = err
	}
	return n, err
}

func (t *trackedReader) classify(name string, err error) error {
	switch {
	case t.err != nil:
		// The source failed (network, ctx): whatever the decoder made of
		// that, it is not corruption.
		return t.err
	case errors.Is(err, context.Canceled), errors.Is(err, context.DeadlineExceeded):
		// The decoder stopped because the run did (a signal): nothing
		// is known about the data.
		return fmt.Errorf("%s: %w", name, err)
	case errors.Is(err, ErrIntegrity), errors.Is(err, ErrNoIdentity), errors.Is(err, ErrLocal):
		return fmt.Errorf("%s: %w", name, err)
	case err == io.EOF && t.n == 0:
		return fmt.Errorf("%s: %w: empty stream", name, ErrIntegrity)
	case err == io.EOF || err == io.ErrUnexpectedEOF:
		return fmt.Errorf("%s: %w: stream truncated", name, ErrIntegrity)
	}
	return fmt.Errorf("%s: %w: %v", name, ErrIntegrity, err)
}

type decodeReader struct {
	name string
	dec  io.Reader
	src  *trackedReader
}

func (d *decodeReader) Read(p []byte) (int, error) {
	n, err := d.dec.Read(p)
	if err == nil {
		return n, nil
	}
	if err == io.EOF {
		if d.src.err != nil {
			return n, d.src.err
		}
		if d.src.n == 0 {
			return n, fmt.Errorf("%s: %w: empty stream", d.name, ErrIntegrity)
		}
		return n, io.EOF
	}
	return n, d.src.classify(d.name, err)
}
