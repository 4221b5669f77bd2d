package zstd

import (
	"bytes"
	"context"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"testing"

	"github.com/sluice-backup/sluice/pipeline"
	"github.com/sluice-backup/sluice/pipeline/stagetest"
)

// encodeFrames encodes plain as frames of fs bytes of input.
func encodeFrames(t *testing.T, plain []byte, fs int) []byte {
	t.Helper()
	return stagetest.Encode(t, stagetest.Build(t, Spec, map[string]any{"frame_size": fs, "concurrency": 2}), plain)
}

// decodeFrames decodes enc with a frameReader of the given workers,
// reading through odd-sized buffers. streamed reports whether the
// streaming decoder took over at some point.
func decodeFrames(t *testing.T, enc []byte, workers int) (out []byte, streamed bool, err error) {
	t.Helper()
	d, err := newFrameReader(context.Background(), bytes.NewReader(enc), workers)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	var b bytes.Buffer
	buf := make([]byte, 70001)
	for {
		n, rerr := d.Read(buf)
		b.Write(buf[:n])
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			err = rerr
			break
		}
	}
	if err != nil {
		if _, again := d.Read(buf); again != err {
			t.Fatalf("error not sticky: %v, then %v", err, again)
		}
	}
	return b.Bytes(), d.stream != nil, err
}

// mustDecode decodes enc and checks it against want and the path taken.
func mustDecode(t *testing.T, enc, want []byte, workers int, wantStreamed bool) {
	t.Helper()
	got, streamed, err := decodeFrames(t, enc, workers)
	if err != nil {
		t.Fatalf("workers %d: decode: %v", workers, err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("workers %d: got %d bytes, want %d (differs)", workers, len(got), len(want))
	}
	if streamed != wantStreamed {
		t.Fatalf("workers %d: streaming decoder used = %v, want %v", workers, streamed, wantStreamed)
	}
}

// mustFail decodes enc and checks that it fails with ErrIntegrity.
func mustFail(t *testing.T, enc []byte, workers int, what string) {
	t.Helper()
	got, _, err := decodeFrames(t, enc, workers)
	if err == nil {
		t.Fatalf("%s: decoded %d bytes without error", what, len(got))
	}
	if !errors.Is(err, pipeline.ErrIntegrity) {
		t.Fatalf("%s: error %v does not wrap ErrIntegrity", what, err)
	}
}

// TestParallelBoundaries decodes streams cut at every edge of the frame
// size with 1 to 5 workers; every frame goes through the parallel path.
func TestParallelBoundaries(t *testing.T) {
	const fs = MinFrameSize
	sizes := []int{0, 1, fs - 1, fs, fs + 1, 2*fs - 1, 2 * fs, 2*fs + 1, 13*fs + 5}
	for _, n := range sizes {
		plain := stagetest.Data(n, uint64(n))
		enc := encodeFrames(t, plain, fs)
		for workers := 1; workers <= 5; workers++ {
			mustDecode(t, enc, plain, workers, false)
		}
	}
}

// TestParallelTinyLastFrame covers frames of under 256 bytes, which the
// encoder writes without a content size: their block headers bound them.
func TestParallelTinyLastFrame(t *testing.T) {
	plain := stagetest.Data(3*MinFrameSize+100, 5)
	mustDecode(t, encodeFrames(t, plain, MinFrameSize), plain, 2, false)
}

// TestLargeFramesStream checks that frames above MaxParallelFrame go to
// the streaming decoder, from that frame on.
func TestLargeFramesStream(t *testing.T) {
	big := stagetest.Data(MaxParallelFrame+1, 1)
	small := stagetest.Data(1000, 2)
	encBig := encodeFrames(t, big, 32<<20)
	encSmall := encodeFrames(t, small, MinFrameSize)
	mustDecode(t, encBig, big, 2, true)
	mustDecode(t, cat(encSmall, encBig, encSmall), cat(small, big, small), 2, true)
	// Exactly at the limit, the frame is decoded in parallel.
	limit := stagetest.Data(MaxParallelFrame, 3)
	mustDecode(t, encodeFrames(t, limit, MaxParallelFrame), limit, 2, false)
}

func cat(parts ...[]byte) []byte { return bytes.Join(parts, nil) }

// skippable returns a skippable frame with the given magic nibble and
// payload.
func skippable(nibble byte, payload []byte) []byte {
	b := binary.LittleEndian.AppendUint32(nil, skippableMagic|uint32(nibble))
	b = binary.LittleEndian.AppendUint32(b, uint32(len(payload)))
	return append(b, payload...)
}

// TestSkippableFrames interleaves skippable frames with data frames.
func TestSkippableFrames(t *testing.T) {
	a, b := stagetest.Data(MinFrameSize+7, 1), stagetest.Data(999, 2)
	encA, encB := encodeFrames(t, a, MinFrameSize), encodeFrames(t, b, MinFrameSize)
	s0, s1, s2 := skippable(0, nil), skippable(0xf, []byte("seek table")), skippable(7, bytes.Repeat([]byte{1}, 100<<10))
	stream := cat(s1, encA, s0, s2, encB, s1)
	for workers := 1; workers <= 3; workers++ {
		mustDecode(t, stream, cat(a, b), workers, false)
	}
	if tool := zstdTool(t); tool != "" {
		if got := toolDecode(t, tool, stream); !bytes.Equal(got, cat(a, b)) {
			t.Fatal("zstd -d reads the stream differently")
		}
	}
	// Skippable frames alone are an empty stream, as for the streaming
	// decoder.
	mustDecode(t, cat(s0, s1), nil, 2, false)
	// A skippable frame cut short is a truncated stream, wherever the cut.
	for _, cut := range []int{len(stream) - 1, len(stream) - 8, len(stream) - 11} {
		mustFail(t, stream[:cut], 2, fmt.Sprintf("cut at %d of %d", cut, len(stream)))
	}
	long := cat(encA, s2)
	mustFail(t, long[:len(long)-50<<10], 2, "cut inside a skippable payload")
}

// TestTruncatedEverywhere cuts a four-frame stream at every byte: inside
// magic numbers, frame headers, block headers, blocks and checksums. A cut
// between frames leaves a valid zstd stream (the manifest's checksum
// catches that) and is checked against the streaming decoder instead.
func TestTruncatedEverywhere(t *testing.T) {
	plain := cat(bytes.Repeat([]byte("truncate me "), 3*MinFrameSize/12-40), stagetest.Data(3000, 1))
	enc := encodeFrames(t, plain, MinFrameSize)
	if len(enc) > 10000 {
		t.Fatalf("stream of %d bytes: too long for a cut at every byte", len(enc))
	}
	frames, _ := layout(t, enc)
	if len(frames) != 4 {
		t.Fatalf("%d frames, want 4", len(frames))
	}
	for cut := range len(enc) {
		if i := slices.Index(frames, cut); i > 0 {
			mustDecode(t, enc[:cut], plain[:i*MinFrameSize], 1+cut%3, false)
			continue
		}
		mustFail(t, enc[:cut], 1+cut%3, fmt.Sprintf("cut at %d of %d", cut, len(enc)))
	}
}

// layout returns the offsets of every frame and every block header in a
// stream of frames without dictionaries.
func layout(t *testing.T, enc []byte) (frames, blocks []int) {
	t.Helper()
	for pos := 0; pos < len(enc); {
		if binary.LittleEndian.Uint32(enc[pos:]) != frameMagic {
			t.Fatalf("no frame at %d", pos)
		}
		frames = append(frames, pos)
		fhd := enc[pos+4]
		single := fhd&0x20 != 0
		fcsLen := [4]int{0, 2, 4, 8}[fhd>>6]
		if fcsLen == 0 && single {
			fcsLen = 1
		}
		pos += 5 + fcsLen
		if !single {
			pos++
		}
		for {
			blocks = append(blocks, pos)
			bh := int(enc[pos]) | int(enc[pos+1])<<8 | int(enc[pos+2])<<16
			size := bh >> 3
			if (bh>>1)&3 == 1 {
				size = 1
			}
			pos += 3 + size
			if bh&1 == 1 {
				break
			}
		}
		if fhd&4 != 0 {
			pos += 4
		}
	}
	return frames, blocks
}

// TestCorruptedHeaders damages block sizes, block types, magic numbers,
// content sizes and checksums; every change must fail as ErrIntegrity.
func TestCorruptedHeaders(t *testing.T) {
	plain := stagetest.Data(3*MinFrameSize+1000, 9)
	enc := encodeFrames(t, plain, MinFrameSize)
	setBlock := func(b []byte, at int, f func(bh uint32) uint32) {
		bh := f(uint32(b[at]) | uint32(b[at+1])<<8 | uint32(b[at+2])<<16)
		b[at], b[at+1], b[at+2] = byte(bh), byte(bh>>8), byte(bh>>16)
	}
	frames, blocks := layout(t, enc)
	if len(frames) != 4 {
		t.Fatalf("%d frames, want 4", len(frames))
	}
	for i, at := range blocks {
		for name, f := range map[string]func(uint32) uint32{
			"size+1":      func(bh uint32) uint32 { return bh + 8 },
			"size-1":      func(bh uint32) uint32 { return bh - 8 },
			"size max":    func(bh uint32) uint32 { return bh | 0xfffff8 },
			"size 128Ki+": func(bh uint32) uint32 { return bh&7 | (maxBlockSize+1)<<3 },
			"reserved":    func(bh uint32) uint32 { return bh | 6 },
			"last flip":   func(bh uint32) uint32 { return bh ^ 1 },
		} {
			bad := bytes.Clone(enc)
			setBlock(bad, at, f)
			mustFail(t, bad, 2, fmt.Sprintf("block %d at %d: %s", i, at, name))
		}
	}
	// Damage the second frame's magic, descriptor and content size, and
	// the last frame's checksum.
	frame2 := frames[1]
	for i, pos := range []int{frame2, frame2 + 3, frame2 + 4, frame2 + 5, frame2 + 6, len(enc) - 1} {
		for _, x := range []byte{1, 0x40, 0x80} {
			bad := bytes.Clone(enc)
			bad[pos] ^= x
			mustFail(t, bad, 2, fmt.Sprintf("case %d: byte %d ^ %#x", i, pos, x))
		}
	}
	mustFail(t, cat(enc, []byte{0}), 2, "a trailing byte")
	mustFail(t, cat(enc, []byte("garbage after the frames")), 2, "trailing garbage")
}

// TestDecodeCancel cancels a decode of an endless stream of frames.
func TestDecodeCancel(t *testing.T) {
	frame := encodeFrames(t, stagetest.Data(MinFrameSize, 1), MinFrameSize)
	ctx, cancel := context.WithCancel(context.Background())
	d, err := newFrameReader(ctx, &repeat{b: frame}, 2)
	if err != nil {
		t.Fatal(err)
	}
	defer d.Close()
	buf := make([]byte, 4096)
	if _, err := io.ReadFull(d, buf); err != nil {
		t.Fatal(err)
	}
	cancel()
	var rerr error
	for i := 0; i < 1<<20 && rerr == nil; i++ {
		_, rerr = d.Read(buf)
	}
	if !errors.Is(rerr, context.Canceled) {
		t.Fatalf("after cancel: %v, want context.Canceled", rerr)
	}
}

// repeat is an endless reader repeating b.
type repeat struct {
	b   []byte
	off int
}

func (r *repeat) Read(p []byte) (int, error) {
	n := copy(p, r.b[r.off:])
	r.off = (r.off + n) % len(r.b)
	return n, nil
}

// zstdTool returns the zstd binary's path, or "" (skipping nothing) if it
// is missing outside CI.
func zstdTool(t *testing.T) string {
	t.Helper()
	bin, err := exec.LookPath("zstd")
	if err != nil {
		if os.Getenv("CI") == "true" {
			t.Fatalf("zstd is required in CI: %v", err)
		}
		t.Log("zstd not installed")
		return ""
	}
	return bin
}

func toolDecode(t *testing.T, bin string, enc []byte) []byte {
	t.Helper()
	cmd := exec.Command(bin, "-d", "-c")
	cmd.Stdin = bytes.NewReader(enc)
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("zstd -d: %v\n%s", err, stderr.String())
	}
	return out.Bytes()
}

// toolEncode compresses plain with the zstd binary, from a file (the
// frame records its content size) or from a pipe (it does not).
func toolEncode(t *testing.T, bin string, plain []byte, fromFile bool, args ...string) []byte {
	t.Helper()
	cmd := exec.Command(bin, append([]string{"-q", "-c"}, args...)...)
	if fromFile {
		name := filepath.Join(t.TempDir(), "in")
		if err := os.WriteFile(name, plain, 0o600); err != nil {
			t.Fatal(err)
		}
		cmd.Args = append(cmd.Args, name)
	} else {
		cmd.Stdin = bytes.NewReader(plain)
	}
	var out, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		t.Fatalf("zstd: %v\n%s", err, stderr.String())
	}
	return out.Bytes()
}

// TestZstdToolStreams decodes what the zstd binary writes: small frames
// (with or without content size) in parallel, a large single frame by
// streaming, and concatenations of both. zstd -d must agree on each.
func TestZstdToolStreams(t *testing.T) {
	bin := zstdTool(t)
	if bin == "" {
		return
	}
	small := stagetest.Data(300<<10, 1)
	large := stagetest.Data(MaxParallelFrame+MinFrameSize, 2)
	fileSmall := toolEncode(t, bin, small, true)
	pipeSmall := toolEncode(t, bin, small, false, "-19")
	fileLarge := toolEncode(t, bin, large, true)
	pipeLarge := toolEncode(t, bin, large, false, "--no-check")
	// A small frame with a window past MaxParallelFrame: valid, and
	// only the streaming decoder accepts such a window.
	pipeLong := toolEncode(t, bin, small, false, "--long=27")
	for _, c := range []struct {
		name     string
		enc      []byte
		want     []byte
		streamed bool
	}{
		{"file", fileSmall, small, false},
		{"pipe", pipeSmall, small, false},
		{"large file", fileLarge, large, true},
		{"large pipe", pipeLarge, large, true},
		{"small frame, 128 MiB window", pipeLong, small, true},
		{"concatenated", cat(fileSmall, pipeSmall, fileSmall), cat(small, small, small), false},
		{"concatenated large", cat(fileSmall, pipeLarge, fileSmall), cat(small, large, small), true},
		{"ours and theirs", cat(encodeFrames(t, small, MinFrameSize), fileSmall), cat(small, small), false},
	} {
		t.Run(c.name, func(t *testing.T) {
			for _, workers := range []int{1, 3} {
				mustDecode(t, c.enc, c.want, workers, c.streamed)
			}
			if !bytes.Equal(toolDecode(t, bin, c.enc), c.want) {
				t.Fatal("zstd -d output differs")
			}
		})
	}
}

// FuzzFrameReader checks the parallel decoder against the streaming one:
// both accept the same streams, with the same output.
func FuzzFrameReader(f *testing.F) {
	enc := func(plain []byte, fs int) []byte {
		st, err := New(mustOptions(map[string]any{"frame_size": fs, "concurrency": 1}))
		if err != nil {
			f.Fatal(err)
		}
		r, err := st.Encode(context.Background(), bytes.NewReader(plain))
		if err != nil {
			f.Fatal(err)
		}
		defer r.Close()
		b, err := io.ReadAll(r)
		if err != nil {
			f.Fatal(err)
		}
		return b
	}
	f.Add([]byte{})
	f.Add(enc(nil, MinFrameSize))
	f.Add(enc([]byte("hello"), MinFrameSize))
	f.Add(enc(stagetest.Data(2*MinFrameSize+3, 1), MinFrameSize))
	f.Add(enc(bytes.Repeat([]byte("ab"), 5000), 0))
	f.Add(cat(skippable(1, []byte("x")), enc([]byte("hello"), MinFrameSize)))
	// "hello world\n" from `zstd --long=27`: a tiny frame, a 128 MiB window.
	f.Add([]byte{0x28, 0xb5, 0x2f, 0xfd, 0x04, 0x88, 0x61, 0x00, 0x00, 0x68, 0x65, 0x6c,
		0x6c, 0x6f, 0x20, 0x77, 0x6f, 0x72, 0x6c, 0x64, 0x0a, 0x8c, 0x6d, 0x7d, 0x20})
	f.Fuzz(func(t *testing.T, data []byte) {
		want, werr := readAll(decodeStream(context.Background(), bytes.NewReader(data)))
		got, _, gerr := decodeFrames(t, data, 2)
		if (werr == nil) != (gerr == nil) {
			t.Fatalf("streaming: %v; parallel: %v", werr, gerr)
		}
		if werr != nil {
			if !errors.Is(gerr, pipeline.ErrIntegrity) {
				t.Fatalf("parallel error %v does not wrap ErrIntegrity", gerr)
			}
			return
		}
		if !bytes.Equal(got, want) {
			t.Fatalf("outputs differ: %d and %d bytes", len(got), len(want))
		}
	})
}

func mustOptions(raw map[string]any) pipeline.Options {
	o, err := pipeline.ParseOptions(Spec.Options, raw)
	if err != nil {
		panic(err)
	}
	return o
}

func readAll(r io.ReadCloser, err error) ([]byte, error) {
	if err != nil {
		return nil, err
	}
	defer r.Close()
	return io.ReadAll(r)
}

// BenchmarkDecode compares the streaming decoder with the parallel one on
// 64 MiB of mixed data (each MiB half text, half random) in the frames
// of the default frame size for this machine's CPUs. cpu-ns/op is the process's CPU time per decode.
func BenchmarkDecode(b *testing.B) {
	var plain []byte
	for i := range 64 {
		plain = append(plain, stagetest.Data(1<<20, uint64(i))...)
	}
	st, err := New(mustOptions(nil))
	if err != nil {
		b.Fatal(err)
	}
	r, err := st.Encode(context.Background(), bytes.NewReader(plain))
	if err != nil {
		b.Fatal(err)
	}
	enc, err := io.ReadAll(r)
	r.Close()
	if err != nil {
		b.Fatal(err)
	}
	run := func(b *testing.B, open func(io.Reader) (io.ReadCloser, error)) {
		b.SetBytes(int64(len(plain)))
		b.ReportAllocs()
		cpu0 := cpuTime()
		for b.Loop() {
			d, err := open(bytes.NewReader(enc))
			if err != nil {
				b.Fatal(err)
			}
			n, err := io.Copy(io.Discard, d)
			d.Close()
			if err != nil || n != int64(len(plain)) {
				b.Fatalf("decoded %d bytes: %v", n, err)
			}
		}
		// CPU time counts every core; with ns/op it shows how much of
		// a speed-up is bought with more work.
		b.ReportMetric(float64(cpuTime()-cpu0)/float64(b.N), "cpu-ns/op")
	}
	b.Run("stream", func(b *testing.B) {
		run(b, func(r io.Reader) (io.ReadCloser, error) { return decodeStream(context.Background(), r) })
	})
	for _, workers := range []int{1, 2, 4} {
		b.Run(fmt.Sprintf("parallel-%d", workers), func(b *testing.B) {
			run(b, func(r io.Reader) (io.ReadCloser, error) { return newFrameReader(context.Background(), r, workers) })
		})
	}
}

// failAfter returns the first n bytes of b, then err.
type failAfter struct {
	b   []byte
	err error
}

func (f *failAfter) Read(p []byte) (int, error) {
	if len(f.b) == 0 {
		return 0, f.err
	}
	n := copy(p, f.b)
	f.b = f.b[n:]
	return n, nil
}

// TestSourceErrors checks that a failing source's error reaches Read
// unchanged wherever it strikes, even io.ErrUnexpectedEOF, which must not
// be taken for a truncated stream (ErrIntegrity).
func TestSourceErrors(t *testing.T) {
	enc := cat(skippable(3, []byte("skip me")), encodeFrames(t, stagetest.Data(3*MinFrameSize, 1), MinFrameSize))
	frames, _ := layout(t, enc[15:])
	cuts := []int{0, 3, 10, 15, 17, 15 + 20, 15 + frames[1], 15 + frames[1] + 6, 15 + frames[2] - 1, len(enc) - 2, len(enc)}
	for _, srcErr := range []error{errors.New("network down"), io.ErrUnexpectedEOF} {
		for _, cut := range cuts {
			d, err := newFrameReader(context.Background(), &failAfter{b: enc[:cut], err: srcErr}, 2)
			if err != nil {
				t.Fatal(err)
			}
			_, err = io.ReadAll(d)
			d.Close()
			if err != srcErr {
				t.Errorf("%v at byte %d: Read returned %v", srcErr, cut, err)
			}
		}
	}
}
