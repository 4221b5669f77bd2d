package zstd

import (
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"
)

// frameEncoder compresses a stream as a sequence of independent zstd
// frames, each holding up to size bytes of input and its own content
// checksum, compressed by workers goroutines at once. The concatenation
// is a standard zstd stream: `zstd -d` and any conforming decoder read it
// as one.
//
// Independent frames lose the matches that would cross a frame boundary
// (see [DefaultFrameSize] for what that costs) and buy a compressor that
// keeps every core busy. (klauspost's streaming encoder splits its work
// between a block encoder and a history goroutine and kept only 1.35 of 2
// cores busy at level 3 in our measurements.)
//
// Memory is bounded: at most workers+1 input blocks (one being read, one
// per worker being compressed) and workers+1 output blocks (one per worker
// being compressed or waiting to be written in order, one being written)
// exist at once, each of size bytes, and each worker's encoder state holds
// a copy of up to size bytes of its frame as history. Buffers are reused
// across frames from free lists of their own, not a sync.Pool, which every
// garbage collection empties: reallocating 4 MiB blocks after each one
// made peak RSS creep with the length of the stream.
type frameEncoder struct {
	enc     *zstd.Encoder
	size    int
	workers int
	in, out bufPool
}

func newFrameEncoder(level zstd.EncoderLevel, size, workers int) (*frameEncoder, error) {
	// EncodeAll is safe for concurrent use; the encoder keeps one state per
	// concurrent call, up to its concurrency. See [entropyOnAllLiterals].
	enc, err := zstd.NewWriter(nil,
		zstd.WithEncoderLevel(level),
		zstd.WithEncoderConcurrency(workers),
		zstd.WithEncoderCRC(true),
		zstd.WithAllLitEntropyCompression(entropyOnAllLiterals),
		zstd.WithZeroFrames(true),
		zstd.WithLowerEncoderMem(false))
	if err != nil {
		return nil, fmt.Errorf("zstd: new encoder: %w", err)
	}
	return &frameEncoder{enc: enc, size: size, workers: workers}, nil
}

// outCap is an output block's capacity: a frame's worst case is its input
// plus a few bytes per 128 KiB block and the frame header and checksum.
func (f *frameEncoder) outCap() int { return f.size + f.size/1024 + 64 }

// frame is one block of input on its way through the workers. done is
// closed once out holds the compressed frame (or err is set).
type frame struct {
	in   []byte
	out  []byte
	done chan struct{}
}

// encode reads src to its end and writes the frames to w in order. It
// returns the first error of src, w or ctx. Every goroutine it starts has
// returned when it returns.
func (f *frameEncoder) encode(ctx context.Context, src io.Reader, w io.Writer) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()

	jobs := make(chan *frame)
	// order carries frames in input order to the writer; its capacity,
	// with the workers, bounds how many blocks are in flight.
	order := make(chan *frame, f.workers)
	var wg sync.WaitGroup
	for range f.workers {
		wg.Go(func() {
			for fr := range jobs {
				fr.out = f.enc.EncodeAll(fr.in, f.out.get(f.outCap()))
				f.in.put(fr.in)
				fr.in = nil
				close(fr.done)
			}
		})
	}

	readErr := make(chan error, 1)
	go func() {
		defer close(order)
		defer close(jobs)
		readErr <- f.read(ctx, src, jobs, order)
	}()

	var werr error
	for fr := range order {
		if werr == nil {
			select {
			case <-fr.done:
				_, werr = w.Write(fr.out)
			case <-ctx.Done():
				werr = ctx.Err()
			}
			if werr != nil {
				// Stop the reader; keep draining so it can exit.
				cancel()
			}
		}
		<-fr.done
		f.out.put(fr.out)
	}
	wg.Wait()
	rerr := <-readErr
	if werr != nil {
		return werr
	}
	return rerr
}

// read cuts src into blocks and hands each to the workers and, in order,
// to the writer. At least one frame is produced, so empty input encodes
// to a valid (empty) zstd frame.
func (f *frameEncoder) read(ctx context.Context, src io.Reader, jobs, order chan<- *frame) error {
	for first := true; ; first = false {
		if err := ctx.Err(); err != nil {
			return err
		}
		in := f.in.get(f.size)[:f.size]
		n, err := io.ReadFull(src, in)
		eof := err == io.EOF || err == io.ErrUnexpectedEOF
		if err != nil && !eof {
			f.in.put(in)
			return err
		}
		if n == 0 && !first {
			f.in.put(in)
			return nil
		}
		fr := &frame{in: in[:n], done: make(chan struct{})}
		select {
		case order <- fr:
		case <-ctx.Done():
			f.in.put(in)
			return ctx.Err()
		}
		// The frame is in order: the writer waits on done, so it must
		// reach a worker even if ctx ends now; workers exit only when
		// jobs is closed.
		jobs <- fr
		if eof {
			return nil
		}
	}
}

// Close releases the encoder's goroutines.
func (f *frameEncoder) Close() error { return f.enc.Close() }
