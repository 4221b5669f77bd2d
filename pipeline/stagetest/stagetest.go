// Package stagetest is the conformance suite every [pipeline.Stage] runs.
// It checks the contracts documented on pipeline.Stage: round trips over
// sizes around chunk boundaries, sticky errors, idempotent Close that never
// closes the wrapped stream, detection of truncated and corrupted input,
// context cancellation and goroutine hygiene.
package stagetest

import (
	"bytes"
	"context"
	"errors"
	"io"
	"math/rand/v2"
	"runtime"
	"testing"
	"time"

	"github.com/sluice-backup/sluice/pipeline"
)

// Harness describes the stage under test.
type Harness struct {
	// New returns a stage able to encode and decode.
	New func(t *testing.T) pipeline.Stage
	// Spec is the stage's registration record; its Detect, if any, must
	// recognise every encoding the stage produces.
	Spec pipeline.StageSpec
	// Opaque marks stages that cannot detect damage (the identity stage).
	Opaque bool
}

// Sizes are the plaintext sizes every round trip covers: empty, one byte,
// around 64 KiB (age's chunk size and a common buffer size) and several MiB.
var Sizes = []int{0, 1, 64<<10 - 1, 64 << 10, 64<<10 + 1, 5<<20 + 123}

// Data returns n reproducible bytes: half text-like, half random, so both
// compressible and incompressible paths run.
func Data(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, 7))
	b := make([]byte, n)
	words := []string{"sluice ", "backup ", "stream ", "zstd ", "age ", "\n", "object ", "bucket "}
	i := 0
	for i < n/2 {
		i += copy(b[i:n/2], words[r.IntN(len(words))])
	}
	for ; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

// Build builds the stage spec registers from raw options (see
// [pipeline.ParseOptions]), failing the test on any error.
func Build(t testing.TB, spec pipeline.StageSpec, raw map[string]any) pipeline.Stage {
	t.Helper()
	o, err := pipeline.ParseOptions(spec.Options, raw)
	if err != nil {
		t.Fatal(err)
	}
	st, err := spec.New(o)
	if err != nil {
		t.Fatal(err)
	}
	return st
}

// Run runs the suite.
func Run(t *testing.T, h Harness) {
	t.Run("RoundTrip", func(t *testing.T) { testRoundTrip(t, h) })
	t.Run("SmallReads", func(t *testing.T) { testSmallReads(t, h) })
	t.Run("DoubleClose", func(t *testing.T) { testDoubleClose(t, h) })
	t.Run("CloseKeepsInner", func(t *testing.T) { testCloseKeepsInner(t, h) })
	t.Run("EarlyClose", func(t *testing.T) { testEarlyClose(t, h) })
	t.Run("Cancel", func(t *testing.T) { testCancel(t, h) })
	t.Run("SourceError", func(t *testing.T) { testSourceError(t, h) })
	if !h.Opaque {
		t.Run("Truncated", func(t *testing.T) { testTruncated(t, h) })
		t.Run("Corrupted", func(t *testing.T) { testCorrupted(t, h) })
		t.Run("Empty", func(t *testing.T) { testEmptyInput(t, h) })
	}
	t.Run("NoGoroutineLeak", func(t *testing.T) { testLeaks(t, h) })
}

// Encode encodes plain with st and returns the result.
func Encode(t *testing.T, st pipeline.Stage, plain []byte) []byte {
	t.Helper()
	r, err := st.Encode(context.Background(), bytes.NewReader(plain))
	if err != nil {
		t.Fatalf("Encode: %v", err)
	}
	defer r.Close()
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("Encode read: %v", err)
	}
	return out
}

// Decode decodes enc with st, returning the plaintext and the error.
func Decode(st pipeline.Stage, enc []byte) ([]byte, error) {
	r, err := st.Decode(context.Background(), bytes.NewReader(enc))
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

func testRoundTrip(t *testing.T, h Harness) {
	st := h.New(t)
	for _, n := range Sizes {
		plain := Data(n, uint64(n))
		enc := Encode(t, st, plain)
		if h.Spec.Detect != nil && !h.Spec.Detect(head(enc)) {
			t.Errorf("size %d: Detect does not recognise the encoding", n)
		}
		got, err := Decode(st, enc)
		if err != nil {
			t.Fatalf("size %d: Decode: %v", n, err)
		}
		if !bytes.Equal(got, plain) {
			t.Fatalf("size %d: round trip mismatch (got %d bytes)", n, len(got))
		}
	}
}

func head(b []byte) []byte {
	if len(b) > pipeline.DetectLen {
		return b[:pipeline.DetectLen]
	}
	return b
}

// testSmallReads reads through odd-sized buffers, and writes into the
// encoder in odd-sized pieces via a trickling source.
func testSmallReads(t *testing.T, h Harness) {
	st := h.New(t)
	plain := Data(200<<10+17, 3)
	r, err := st.Encode(context.Background(), &trickle{r: bytes.NewReader(plain), max: 777})
	if err != nil {
		t.Fatal(err)
	}
	enc, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		t.Fatal(err)
	}
	d, err := st.Decode(context.Background(), &trickle{r: bytes.NewReader(enc), max: 333})
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var got bytes.Buffer
	buf := make([]byte, 1001)
	for {
		n, err := d.Read(buf)
		got.Write(buf[:n])
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatal(err)
		}
	}
	if !bytes.Equal(got.Bytes(), plain) {
		t.Fatal("round trip through small reads differs")
	}
}

type trickle struct {
	r   io.Reader
	max int
}

func (t *trickle) Read(p []byte) (int, error) {
	if len(p) > t.max {
		p = p[:t.max]
	}
	return t.r.Read(p)
}

func testDoubleClose(t *testing.T, h Harness) {
	st := h.New(t)
	enc := Encode(t, st, Data(1000, 1))
	for _, open := range []func() (io.ReadCloser, error){
		func() (io.ReadCloser, error) { return st.Encode(context.Background(), bytes.NewReader(Data(1000, 1))) },
		func() (io.ReadCloser, error) { return st.Decode(context.Background(), bytes.NewReader(enc)) },
	} {
		r, err := open()
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, r)
		if err := r.Close(); err != nil {
			t.Fatalf("first Close: %v", err)
		}
		if err := r.Close(); err != nil {
			t.Fatalf("second Close: %v", err)
		}
	}
}

type closeRecorder struct {
	io.Reader
	closed bool
}

func (c *closeRecorder) Close() error { c.closed = true; return nil }

func testCloseKeepsInner(t *testing.T, h Harness) {
	st := h.New(t)
	plain := Data(100<<10, 2)
	src := &closeRecorder{Reader: bytes.NewReader(plain)}
	r, err := st.Encode(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	enc, _ := io.ReadAll(r)
	r.Close()
	if src.closed {
		t.Fatal("Encode's Close closed the source")
	}
	src = &closeRecorder{Reader: bytes.NewReader(enc)}
	d, err := st.Decode(context.Background(), src)
	if err != nil {
		t.Fatal(err)
	}
	io.Copy(io.Discard, d)
	d.Close()
	if src.closed {
		t.Fatal("Decode's Close closed the source")
	}
}

// testEarlyClose closes readers before the end; Close must still return
// promptly and join everything.
func testEarlyClose(t *testing.T, h Harness) {
	st := h.New(t)
	plain := Data(3<<20, 4)
	r, err := st.Encode(context.Background(), bytes.NewReader(plain))
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 10)
	io.ReadFull(r, buf)
	closeWithin(t, r)
	if _, err := r.Read(buf); err == nil {
		t.Fatal("Read after Close succeeded")
	}
	enc := Encode(t, st, plain)
	d, err := st.Decode(context.Background(), bytes.NewReader(enc))
	if err != nil {
		t.Fatal(err)
	}
	io.ReadFull(d, buf)
	closeWithin(t, d)
}

func closeWithin(t *testing.T, c io.Closer) {
	t.Helper()
	done := make(chan struct{})
	go func() { c.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(30 * time.Second):
		t.Fatal("Close did not return: a goroutine is stuck")
	}
}

func testCancel(t *testing.T, h Harness) {
	st := h.New(t)
	ctx, cancel := context.WithCancel(context.Background())
	r, err := st.Encode(ctx, endless{})
	if err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 4096)
	if _, err := r.Read(buf); err != nil {
		t.Fatalf("first read: %v", err)
	}
	cancel()
	var rerr error
	for i := 0; i < 1<<20 && rerr == nil; i++ {
		_, rerr = r.Read(buf)
	}
	if !errors.Is(rerr, context.Canceled) {
		t.Fatalf("after cancel, Read error = %v, want context.Canceled", rerr)
	}
	closeWithin(t, r)
}

// endless is an infinite, mildly compressible source.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = byte(i * 7)
	}
	return len(p), nil
}

var errSource = errors.New("stagetest: source failed")

type failingReader struct {
	r io.Reader
}

func (f *failingReader) Read(p []byte) (int, error) {
	n, err := f.r.Read(p)
	if err == io.EOF {
		return n, errSource
	}
	return n, err
}

func testSourceError(t *testing.T, h Harness) {
	st := h.New(t)
	r, err := st.Encode(context.Background(), &failingReader{r: bytes.NewReader(Data(300<<10, 5))})
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	_, err = io.ReadAll(r)
	if !errors.Is(err, errSource) {
		t.Fatalf("Encode: source error not propagated: %v", err)
	}
	if _, again := r.Read(make([]byte, 10)); !errors.Is(again, errSource) {
		t.Fatalf("error not sticky: second Read returned %v", again)
	}
	enc := Encode(t, st, Data(300<<10, 5))
	d, err := st.Decode(context.Background(), &failingReader{r: bytes.NewReader(enc[:len(enc)/2])})
	if err != nil {
		if errors.Is(err, errSource) {
			return
		}
		t.Fatal(err)
	}
	defer d.Close()
	if _, err := io.ReadAll(d); !errors.Is(err, errSource) {
		t.Fatalf("Decode: source error not propagated: %v", err)
	}
}

func testTruncated(t *testing.T, h Harness) {
	st := h.New(t)
	for _, n := range []int{1, 64 << 10, 1 << 20} {
		enc := Encode(t, st, Data(n, uint64(n)+9))
		for _, cut := range []int{len(enc) - 1, len(enc) / 2, 1} {
			got, err := Decode(st, enc[:cut])
			if err == nil {
				t.Errorf("size %d cut to %d of %d: decoded %d bytes without error", n, cut, len(enc), len(got))
				continue
			}
			if !errors.Is(err, pipeline.ErrIntegrity) {
				t.Errorf("size %d cut to %d: error %v does not wrap ErrIntegrity", n, cut, err)
			}
		}
	}
}

func testCorrupted(t *testing.T, h Harness) {
	st := h.New(t)
	enc := Encode(t, st, Data(256<<10, 11))
	for _, pos := range []int{len(enc) / 2, len(enc) - 2} {
		bad := bytes.Clone(enc)
		bad[pos] ^= 0x40
		if _, err := Decode(st, bad); err == nil {
			t.Errorf("flipping a bit at %d of %d went unnoticed", pos, len(enc))
		} else if !errors.Is(err, pipeline.ErrIntegrity) {
			t.Errorf("flip at %d: error %v does not wrap ErrIntegrity", pos, err)
		}
	}
}

func testEmptyInput(t *testing.T, h Harness) {
	st := h.New(t)
	if _, err := Decode(st, nil); !errors.Is(err, pipeline.ErrIntegrity) {
		t.Fatalf("decoding zero bytes: error %v, want ErrIntegrity", err)
	}
}

func testLeaks(t *testing.T, h Harness) {
	st := h.New(t)
	before := runtime.NumGoroutine()
	for range 5 {
		enc := Encode(t, st, Data(200<<10, 1))
		Decode(st, enc)
		r, err := st.Encode(context.Background(), endless{})
		if err != nil {
			t.Fatal(err)
		}
		r.Read(make([]byte, 100))
		r.Close()
	}
	deadline := time.Now().Add(10 * time.Second)
	for {
		// Encoders may keep a small pool of idle workers; allow a few.
		now := runtime.NumGoroutine()
		if now <= before+2 {
			return
		}
		if time.Now().After(deadline) {
			buf := make([]byte, 1<<16)
			n := runtime.Stack(buf, true)
			t.Fatalf("goroutines: %d before, %d after\n%s", before, now, buf[:n])
		}
		time.Sleep(50 * time.Millisecond)
	}
}
