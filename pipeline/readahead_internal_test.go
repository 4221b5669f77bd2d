package pipeline

import (
	"bytes"
	"crypto/sha256"
	"errors"
	"io"
	"math/rand/v2"
	"testing"
	"testing/iotest"
	"time"
)

// TestHashAheadContent reads streams around the chunk size through the
// read-ahead, with readers that return one byte, half reads and data
// with EOF, and checks the bytes, the hash and the totals.
func TestHashAheadContent(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	for _, size := range []int{0, 1, readAheadChunk - 1, readAheadChunk, readAheadChunk + 1, 3*readAheadChunk + 17, 5 * readAheadChunk} {
		data := make([]byte, size)
		for i := range data {
			data[i] = byte(rng.Uint32())
		}
		want := sha256.Sum256(data)
		for name, wrap := range map[string]func(io.Reader) io.Reader{
			"plain":   func(r io.Reader) io.Reader { return r },
			"onebyte": iotest.OneByteReader,
			"half":    iotest.HalfReader,
			"dataeof": iotest.DataErrReader,
		} {
			if name == "onebyte" && size > readAheadChunk+1 {
				continue // slow, and covered by the other sizes
			}
			a := newHashAhead(wrap(bytes.NewReader(data)), sha256.New())
			if err := iotest.TestReader(a, data); err != nil {
				t.Fatalf("size %d, %s: %v", size, name, err)
			}
			if got := a.Sum(); !bytes.Equal(got, want[:]) {
				t.Fatalf("size %d, %s: hash %x, want %x", size, name, got, want)
			}
			if a.Total() != int64(size) || a.Consumed() != int64(size) {
				t.Fatalf("size %d, %s: total %d, consumed %d", size, name, a.Total(), a.Consumed())
			}
			a.Close()
		}
	}
}

// TestHashAheadReadsOnce: every byte arrives once, in order, then io.EOF
// stays.
func TestHashAheadReadsOnce(t *testing.T) {
	data := bytes.Repeat([]byte("0123456789abcdef"), readAheadChunk/4)
	a := newHashAhead(bytes.NewReader(data), sha256.New())
	defer a.Close()
	got, err := io.ReadAll(a)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("read %d bytes (err %v), want %d", len(got), err, len(data))
	}
	if n, err := a.Read(make([]byte, 10)); n != 0 || err != io.EOF {
		t.Fatalf("read after the end: %d, %v; want 0, EOF", n, err)
	}
}

// TestHashAheadSourceError: bytes before a source failure are delivered,
// then the failure itself, not io.EOF.
func TestHashAheadSourceError(t *testing.T) {
	boom := errors.New("connection reset")
	data := bytes.Repeat([]byte{7}, readAheadChunk+100)
	a := newHashAhead(io.MultiReader(bytes.NewReader(data), iotest.ErrReader(boom)), sha256.New())
	defer a.Close()
	got, err := io.ReadAll(a)
	if !errors.Is(err, boom) {
		t.Fatalf("error %v, want %v", err, boom)
	}
	if !bytes.Equal(got, data) {
		t.Fatalf("got %d bytes before the error, want %d", len(got), len(data))
	}
}

// TestHashAheadCloseEarly closes the read-ahead while its goroutine is
// blocked handing over chunks of an endless source: Close returns, and
// reads after it fail with ErrClosed.
func TestHashAheadCloseEarly(t *testing.T) {
	a := newHashAhead(endless{}, sha256.New())
	if _, err := io.ReadFull(a, make([]byte, 10)); err != nil {
		t.Fatal(err)
	}
	closed := make(chan struct{})
	go func() { a.Close(); close(closed) }()
	select {
	case <-closed:
	case <-time.After(10 * time.Second):
		t.Fatal("Close did not stop the read-ahead")
	}
	if _, err := a.Read(make([]byte, 1)); !errors.Is(err, ErrClosed) {
		t.Fatalf("read after Close: %v, want ErrClosed", err)
	}
	a.Close() // idempotent
}

type endless struct{}

func (endless) Read(p []byte) (int, error) { return len(p), nil }
