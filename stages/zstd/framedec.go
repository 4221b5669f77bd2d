package zstd

import (
	"bytes"
	"context"
	"fmt"
	"io"
	"sync"

	"github.com/klauspost/compress/zstd"

	"github.com/sluice-backup/sluice/pipeline"
)

// MaxParallelFrame is the largest decompressed size of a frame the
// parallel decoder buffers whole; larger frames, and frames whose size
// their headers do not bound (a single-frame stream written by the zstd
// tool from a pipe, say), go to the streaming decoder. It is twice the
// largest default frame_size (see [DefaultFrameSize]).
const MaxParallelFrame = 16 << 20

// frameReader decompresses a stream of independent zstd frames (what
// frameEncoder writes) with workers goroutines at once, returning the
// output in order.
//
// A splitter goroutine cuts the stream into whole frames by walking frame
// and block headers; workers decode each with DecodeAll, which also checks
// the frame's content size and checksum. At the first frame the splitter
// does not take (see [kindStream]), the rest of the stream, from that
// frame's first byte, goes to klauspost's streaming decoder, so any zstd
// stream decodes, and anything damaged fails, as it would have without
// the splitter.
//
// Memory is bounded: a frame takes one of max(workers, 2) slots before
// its first byte is read and gives it back once Read has returned its last
// byte, so at most that many frames are in flight. Each holds its
// compressed bytes until decoded and its output until returned, each at
// most [MaxParallelFrame] (compressed: plus 1/16). With 2 workers and
// the 8 MiB frames a backup on 2 CPUs writes, that is 16 MiB of output
// and at most as much again of compressed bytes. Buffers are reused
// across frames.
//
// Errors from src and ctx pass through unchanged; damaged frames wrap
// [pipeline.ErrIntegrity]; errors are sticky. Close joins every goroutine
// and never closes src.
type frameReader struct {
	ctx    context.Context
	cancel context.CancelFunc
	dec    *zstd.Decoder
	order  chan *dframe
	slots  chan struct{} // one per frame in flight, from its first byte read to its last returned
	wg     sync.WaitGroup
	ins    bufPool // compressed frames
	outs   bufPool // decompressed frames

	cur    *dframe
	off    int
	stream io.ReadCloser // the streaming decoder, once the splitter stopped
	err    error
	closed bool
	once   sync.Once
}

// dframe is one frame on its way from the splitter through a worker to
// Read. Exactly one of in (a frame to decode), tail (the rest of the
// stream, for the streaming decoder), err or end is set by the splitter;
// done is closed once out or err is final.
type dframe struct {
	in   []byte
	size int   // most in decompresses to
	at   int64 // stream offset, for errors
	out  []byte
	tail io.Reader
	err  error
	end  bool
	done chan struct{}
}

func newFrameReader(ctx context.Context, src io.Reader, workers int) (*frameReader, error) {
	dec, err := zstd.NewReader(nil,
		zstd.WithDecoderConcurrency(workers),
		zstd.WithDecoderMaxMemory(MaxParallelFrame),
		// Output goes into buffers sized from the frame headers; a frame
		// that would outgrow its buffer is damaged.
		zstd.WithDecodeAllCapLimit(true))
	if err != nil {
		return nil, fmt.Errorf("%s: new decoder: %w", Name, err)
	}
	// Two frames in flight let one be decoded while Read returns the
	// other, even with one worker.
	inFlight := max(workers, 2)
	d := &frameReader{dec: dec, order: make(chan *dframe, inFlight), slots: make(chan struct{}, inFlight)}
	d.ctx, d.cancel = context.WithCancel(ctx)
	jobs := make(chan *dframe)
	for range workers {
		d.wg.Go(func() {
			for f := range jobs {
				d.decode(f)
			}
		})
	}
	s := newSplitter(pipeline.ContextReader(d.ctx, src), MaxParallelFrame)
	d.wg.Go(func() {
		defer close(d.order)
		defer close(jobs)
		d.split(s, jobs)
	})
	return d, nil
}

// split hands frames to the workers and, in order, to Read, until the end
// of the stream, an error, the first frame for the streaming decoder or
// cancellation.
func (d *frameReader) split(s *splitter, jobs chan<- *dframe) {
	for {
		// A slot is taken before the frame's first byte is read and
		// freed by Read once it has returned the frame.
		select {
		case d.slots <- struct{}{}:
		case <-d.ctx.Done():
			return
		}
		at := s.off
		buf, kind, size, err := s.next(d.ins.get(0))
		f := &dframe{at: at, done: make(chan struct{})}
		switch {
		case err != nil:
			f.err = err
		case kind == kindSkip:
			d.ins.put(buf)
			<-d.slots
			continue
		case kind == kindEnd:
			d.ins.put(buf)
			f.end = true
		case kind == kindStream:
			f.tail = io.MultiReader(bytes.NewReader(buf), s.r)
		default:
			f.in, f.size = buf, size
		}
		if f.in == nil {
			close(f.done)
		}
		select {
		case d.order <- f:
		case <-d.ctx.Done():
			return
		}
		if f.in == nil {
			return
		}
		// f is in order and Read waits on done, so it must reach a worker
		// even if ctx ends now; workers exit only when jobs is closed.
		jobs <- f
	}
}

func (d *frameReader) decode(f *dframe) {
	defer close(f.done)
	// DecodeAll keeps a little slack past the end it may write into.
	out, err := d.dec.DecodeAll(f.in, d.outs.get(f.size+64))
	d.ins.put(f.in)
	f.in = nil
	if err != nil {
		d.outs.put(out)
		f.err = fmt.Errorf("%s: %w: frame at byte %d: %v", Name, pipeline.ErrIntegrity, f.at, err)
		return
	}
	f.out = out
}

func (d *frameReader) Read(p []byte) (int, error) {
	if d.closed {
		return 0, pipeline.ErrClosed
	}
	if d.err != nil {
		return 0, d.err
	}
	if d.stream != nil {
		n, err := d.stream.Read(p)
		if err != nil {
			d.err = err
		}
		return n, err
	}
	for d.cur == nil || d.off == len(d.cur.out) {
		if d.cur != nil {
			d.outs.put(d.cur.out)
			d.cur = nil
			<-d.slots
		}
		f, err := d.nextFrame()
		if err != nil {
			d.err = err
			d.cancel() // stop reading ahead
			return 0, err
		}
		if f.tail != nil {
			// Every earlier frame is returned and the splitter is gone:
			// the buffers are not needed any more.
			d.ins.drop()
			d.outs.drop()
			d.stream, err = decodeStream(d.ctx, f.tail)
			if err != nil {
				d.err = err
				return 0, err
			}
			return d.Read(p)
		}
		d.cur, d.off = f, 0
	}
	n := copy(p, d.cur.out[d.off:])
	d.off += n
	return n, nil
}

// nextFrame waits for the next frame in order. It returns io.EOF at the
// end of the stream.
func (d *frameReader) nextFrame() (*dframe, error) {
	if err := d.ctx.Err(); err != nil {
		return nil, err
	}
	var f *dframe
	select {
	case next, ok := <-d.order:
		if !ok {
			// The splitter gave up without a last word: ctx is done.
			return nil, d.ctx.Err()
		}
		f = next
	case <-d.ctx.Done():
		return nil, d.ctx.Err()
	}
	select {
	case <-f.done:
	case <-d.ctx.Done():
		return nil, d.ctx.Err()
	}
	switch {
	case f.err != nil:
		return nil, f.err
	case f.end:
		return nil, io.EOF
	}
	return f, nil
}

// Close stops the splitter and workers, waits for them and releases the
// decoders. It never closes src.
func (d *frameReader) Close() error {
	d.once.Do(func() {
		d.closed = true
		d.cancel()
		d.wg.Wait()
		if d.stream != nil {
			d.stream.Close()
		}
		d.dec.Close()
	})
	return nil
}
