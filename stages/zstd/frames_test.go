package zstd_test

import (
	"bytes"
	"context"
	"encoding/base64"
	"errors"
	"io"
	"math/rand/v2"
	"os"
	"os/exec"
	"strings"
	"testing"

	kzstd "github.com/klauspost/compress/zstd"

	"github.com/sluice-backup/sluice/pipeline"
	"github.com/sluice-backup/sluice/pipeline/stagetest"
	"github.com/sluice-backup/sluice/stages/zstd"
)

func newStage(t *testing.T, raw map[string]any) pipeline.Stage {
	t.Helper()
	return stagetest.Build(t, zstd.Spec, raw)
}

// frameCount counts the zstd frames in enc by walking frame headers and
// block headers (RFC 8878, section 3.1.1).
func frameCount(t *testing.T, enc []byte) int {
	t.Helper()
	n := 0
	for len(enc) > 0 {
		var h kzstd.Header
		if err := h.Decode(enc); err != nil {
			t.Fatalf("frame %d: header: %v", n, err)
		}
		// Only the empty frame carries no checksum (nothing to check).
		if !h.HasCheckSum && !(h.HasFCS && h.FrameContentSize == 0) {
			t.Fatalf("frame %d has no content checksum", n)
		}
		pos := h.HeaderSize
		for {
			bh := int(enc[pos]) | int(enc[pos+1])<<8 | int(enc[pos+2])<<16
			pos += 3
			size := bh >> 3
			if (bh>>1)&3 == 1 { // RLE: one byte stored
				size = 1
			}
			pos += size
			if bh&1 == 1 {
				break
			}
		}
		if h.HasCheckSum {
			pos += 4
		}
		enc = enc[pos:]
		n++
	}
	return n
}

// TestFrameBoundaries round-trips sizes at every edge of the frame size
// with 1 to 4 workers, checks the number of frames, and that the output is
// one standard stream (klauspost's decoder reads concatenated frames).
func TestFrameBoundaries(t *testing.T) {
	const fs = zstd.MinFrameSize
	sizes := []int{0, 1, fs - 1, fs, fs + 1, 2*fs - 1, 2 * fs, 2*fs + 1, 5 * fs, 7*fs + 3}
	for workers := 1; workers <= 4; workers++ {
		st := newStage(t, map[string]any{"frame_size": fs, "concurrency": workers})
		for _, n := range sizes {
			plain := stagetest.Data(n, uint64(n*workers))
			enc := stagetest.Encode(t, st, plain)
			got, err := stagetest.Decode(st, enc)
			if err != nil || !bytes.Equal(got, plain) {
				t.Fatalf("workers %d size %d: round trip failed: %v", workers, n, err)
			}
			want := max(1, (n+fs-1)/fs)
			if workers == 1 && n <= 2*fs+1 {
				if got := frameCount(t, enc); got != want {
					t.Errorf("size %d: %d frames, want %d", n, got, want)
				}
			}
		}
	}
}

// TestFramesDeterministic checks that the worker count does not change
// the output: frames are independent and emitted in input order.
func TestFramesDeterministic(t *testing.T) {
	plain := stagetest.Data(9*zstd.MinFrameSize+77, 42)
	var first []byte
	for workers := 1; workers <= 5; workers++ {
		enc := stagetest.Encode(t, newStage(t, map[string]any{"frame_size": zstd.MinFrameSize, "concurrency": workers}), plain)
		if first == nil {
			first = enc
		} else if !bytes.Equal(enc, first) {
			t.Fatalf("workers %d: output differs from workers 1", workers)
		}
	}
}

// TestZstdToolReadsFrames pipes the parallel encoder's output through the
// real zstd binary.
func TestZstdToolReadsFrames(t *testing.T) {
	zstdBin, err := exec.LookPath("zstd")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("zstd is required in CI: %v", err)
		}
		t.Skip("zstd not installed")
	}
	for _, fs := range []int{zstd.MinFrameSize, 4 << 20} {
		plain := stagetest.Data(3*fs+12345, uint64(fs))
		enc := stagetest.Encode(t, newStage(t, map[string]any{"frame_size": fs, "concurrency": 3}), plain)
		cmd := exec.Command(zstdBin, "-d", "-c")
		cmd.Stdin = bytes.NewReader(enc)
		var out, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &stderr
		if err := cmd.Run(); err != nil {
			t.Fatalf("zstd -d: %v\n%s", err, stderr.String())
		}
		if !bytes.Equal(out.Bytes(), plain) {
			t.Fatalf("frame size %d: zstd -d output differs (%d bytes, want %d)", fs, out.Len(), len(plain))
		}
		// Corrupting the last frame must fail its checksum in zstd too.
		bad := bytes.Clone(enc)
		bad[len(bad)-2] ^= 1
		cmd = exec.Command(zstdBin, "-d", "-c")
		cmd.Stdin, cmd.Stdout = bytes.NewReader(bad), io.Discard
		if err := cmd.Run(); err == nil {
			t.Fatalf("frame size %d: zstd -d accepted a corrupted checksum", fs)
		}
	}
}

// failWriter fails after n bytes; the encoder must stop and return its error.
type failWriter struct{ n int }

var errWrite = errors.New("write failed")

func (f *failWriter) Write(p []byte) (int, error) {
	if len(p) > f.n {
		return 0, errWrite
	}
	f.n -= len(p)
	return len(p), nil
}

// TestFramesReaderStops checks that closing the reader early with many
// frames in flight returns and joins every worker.
func TestFramesReaderStops(t *testing.T) {
	st := newStage(t, map[string]any{"frame_size": zstd.MinFrameSize, "concurrency": 4})
	r, err := st.Encode(context.Background(), bytes.NewReader(stagetest.Data(40*zstd.MinFrameSize, 1)))
	if err != nil {
		t.Fatal(err)
	}
	_, err = io.Copy(&failWriter{n: 3 * zstd.MinFrameSize / 2}, r)
	if !errors.Is(err, errWrite) {
		t.Fatalf("copy: %v", err)
	}
	r.Close()
}

func TestBadFrameSize(t *testing.T) {
	for _, fs := range []int{1, zstd.MinFrameSize - 1, zstd.MaxFrameSize + 1, -1} {
		o, err := pipeline.ParseOptions(zstd.Spec.Options, map[string]any{"frame_size": fs})
		if err != nil {
			t.Fatal(err)
		}
		if _, err := zstd.New(o); err == nil {
			t.Errorf("frame_size %d accepted", fs)
		}
	}
}

// TestMatchlessTextCompresses: text with no repeats but a skewed alphabet
// (base64 of random bytes: 6 bits of information per byte) is Huffman
// coded by both encoders at every level, as `zstd -3` does (75%), not
// stored raw (klauspost's default below SpeedBetterCompression).
func TestMatchlessTextCompresses(t *testing.T) {
	raw := make([]byte, 3<<20)
	rand.NewChaCha8([32]byte{42}).Read(raw)
	text := make([]byte, base64.StdEncoding.EncodedLen(len(raw)))
	base64.StdEncoding.Encode(text, raw)
	for _, opts := range []map[string]any{
		{},
		{"level": 1},
		{"level": 3, "frame_size": 0},
		{"level": 1, "frame_size": 0},
	} {
		enc := stagetest.Encode(t, newStage(t, opts), text)
		if ratio := float64(len(enc)) / float64(len(text)); ratio > 0.77 {
			t.Errorf("%v: base64 text compressed to %.1f%% of its size, want at most 77%%", opts, 100*ratio)
		}
		got, err := stagetest.Decode(newStage(t, opts), enc)
		if err != nil || !bytes.Equal(got, text) {
			t.Fatalf("%v: round trip differs (%v)", opts, err)
		}
	}
}

// TestWindowTooLarge: a frame whose window exceeds what the decoder takes
// (zstd --long=31 writes 2 GiB) fails saying what it needs, not as damage.
func TestWindowTooLarge(t *testing.T) {
	// Magic, a frame header with a 2 GiB window descriptor (exponent 21),
	// no content size or checksum, then one last raw block of 5 bytes.
	frame := []byte{0x28, 0xb5, 0x2f, 0xfd, 0x00, 21 << 3, 5<<3 | 1, 0, 0, 'h', 'e', 'l', 'l', 'o'}
	_, err := stagetest.Decode(newStage(t, nil), frame)
	if !errors.Is(err, errors.ErrUnsupported) || errors.Is(err, pipeline.ErrIntegrity) || !strings.Contains(err.Error(), "--long=31") {
		t.Fatalf("got %v, want an unsupported-window error naming --long=31, not an integrity error", err)
	}
}

// TestDefaultFrameSize: with frame_size unset, the frames a backup writes
// share a 16 MiB budget among the workers, between 4 and 8 MiB each; a
// frame_size that is set wins.
func TestDefaultFrameSize(t *testing.T) {
	const mib = 1 << 20
	for workers, want := range map[int]int{1: 8 * mib, 2: 8 * mib, 3: 5 * mib, 4: 4 * mib, 5: 4 * mib, 16: 4 * mib} {
		if got := zstd.DefaultFrameSize(workers); got != want {
			t.Errorf("DefaultFrameSize(%d) = %d MiB, want %d MiB", workers, got/mib, want/mib)
		}
	}
	plain := stagetest.Data(20*mib+1, 7)
	for _, c := range []struct {
		opts   map[string]any
		frames int
	}{
		{map[string]any{"concurrency": 2}, 3},                     // 8 + 8 + 4 MiB
		{map[string]any{"concurrency": 3}, 5},                     // 5 MiB each, and one byte
		{map[string]any{"concurrency": 4}, 6},                     // 4 MiB each, and one byte
		{map[string]any{"concurrency": 2, "frame_size": mib}, 21}, // set: 1 MiB each
	} {
		enc := stagetest.Encode(t, newStage(t, c.opts), plain)
		if n := frameCount(t, enc); n != c.frames {
			t.Errorf("%v: %d frames for 20 MiB and a byte, want %d", c.opts, n, c.frames)
		}
		got, err := stagetest.Decode(newStage(t, c.opts), enc)
		if err != nil || !bytes.Equal(got, plain) {
			t.Fatalf("%v: round trip differs (%v)", c.opts, err)
		}
	}
}
