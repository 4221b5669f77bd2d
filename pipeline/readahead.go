package pipeline

import (
	"hash"
	"io"
	"sync/atomic"
)

// Read-ahead of a stored object: readAheadChunk bytes per read,
// readAheadChunks buffers (one being read, one being hashed or queued, one
// being decoded).
const (
	readAheadChunk  = 1 << 20
	readAheadChunks = 3
)

// hashAhead reads a stored object on its own goroutine, ahead of the
// decoders, and hashes each chunk there. Reading and hashing the stored
// bytes then overlap with decryption and decompression on another core,
// instead of adding to them.
//
// Read returns the object's bytes in order, then the source's final error
// (io.EOF at a clean end). Sum and Total are final once Read has returned
// io.EOF. Close stops the goroutine and waits for it; it does not close
// the source, which the caller closes after Close.
type hashAhead struct {
	chunks chan []byte // filled chunks, in order; closed after the last
	free   chan []byte // empty buffers
	stop   chan struct{}
	done   chan struct{}
	err    error // the goroutine's final error; read after chunks closes

	h     hash.Hash
	total int64 // bytes read from the source; final after chunks closes

	cur      []byte // unread part of the chunk being consumed
	held     []byte // the buffer cur points into, returned when consumed
	consumed atomic.Int64
	closed   bool
}

// newHashAhead starts reading src into h.
func newHashAhead(src io.Reader, h hash.Hash) *hashAhead {
	a := &hashAhead{
		chunks: make(chan []byte, readAheadChunks),
		free:   make(chan []byte, readAheadChunks),
		stop:   make(chan struct{}),
		done:   make(chan struct{}),
		h:      h,
	}
	for range readAheadChunks {
		a.free <- make([]byte, readAheadChunk)
	}
	go a.run(src)
	return a
}

func (a *hashAhead) run(src io.Reader) {
	defer close(a.done)
	defer close(a.chunks)
	for {
		var buf []byte
		select {
		case buf = <-a.free:
		case <-a.stop:
			return
		}
		n, err := fill(src, buf)
		if n > 0 {
			a.h.Write(buf[:n])
			a.total += int64(n)
			select {
			case a.chunks <- buf[:n]:
			case <-a.stop:
				return
			}
		}
		if err != nil {
			a.err = err
			return
		}
	}
}

// fill reads from src until buf is full or src fails; a full buffer
// returns a nil error even if src is at its end.
func fill(src io.Reader, buf []byte) (int, error) {
	n := 0
	for n < len(buf) {
		m, err := src.Read(buf[n:])
		n += m
		if err != nil {
			return n, err
		}
	}
	return n, nil
}

func (a *hashAhead) Read(p []byte) (int, error) {
	if a.closed {
		return 0, ErrClosed
	}
	for len(a.cur) == 0 {
		if a.held != nil {
			a.free <- a.held[:cap(a.held)] // never blocks: free holds every buffer
			a.held = nil
		}
		buf, ok := <-a.chunks
		if !ok {
			return 0, a.err
		}
		a.held, a.cur = buf, buf
	}
	n := copy(p, a.cur)
	a.cur = a.cur[n:]
	a.consumed.Add(int64(n))
	return n, nil
}

// Consumed returns how many bytes Read has returned so far. It is safe to
// call from any goroutine.
func (a *hashAhead) Consumed() int64 { return a.consumed.Load() }

// Sum returns the hash of everything read from the source.
func (a *hashAhead) Sum() []byte { return a.h.Sum(nil) }

// Total returns how many bytes were read from the source.
func (a *hashAhead) Total() int64 { return a.total }

// Close stops the read-ahead and waits for its goroutine, which returns
// once a read in progress on the source does. Close is idempotent.
func (a *hashAhead) Close() {
	if a.closed {
		return
	}
	a.closed = true
	close(a.stop)
	<-a.done
}
