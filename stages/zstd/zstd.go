// Package zstd registers the "zstd" compression stage (Zstandard, via
// klauspost/compress). Objects it writes are standard zstd streams that
// `zstd -d` reads.
package zstd

import (
	"context"
	"fmt"
	"io"
	"runtime"

	"github.com/klauspost/compress/zstd"

	"github.com/sluice-backup/sluice/pipeline"
)

// Name is the stage's registered name.
const Name = "zstd"

// Spec describes the stage.
var Spec = pipeline.StageSpec{
	Name:      Name,
	Kind:      pipeline.Compression,
	Extension: ".zst",
	Help:      "Zstandard compression (klauspost/compress); readable by zstd -d",
	Options: []pipeline.OptionSpec{
		{Name: "level", Type: pipeline.Int, Default: "3", Help: "compression level, 1 (fastest) to 22 (smallest); mapped to the nearest encoder speed"},
		{Name: "concurrency", Type: pipeline.Int, Default: "0", Help: "frames compressed (backup) or decompressed (restore) at once; 0 means one per CPU, at most 4; with frame_size unset a backup's frame buffers stay within 64 MiB up to 4 workers, and each worker beyond adds about 12 MiB (3 × frame_size per worker when it is set); beyond 2, each adds up to about twice the object's frame size to a restore"},
		{Name: "frame_size", Type: pipeline.Int, Help: "bytes of input per independent zstd frame, compressed in parallel; unset: 8 MiB with up to 2 workers, 16 MiB ÷ workers (at least 4 MiB) with more; 0 writes one streaming frame"},
	},
	Detect: Detect,
	New:    New,
}

func init() { pipeline.Default.RegisterStage(Spec) }

// Detect reports whether header starts with a zstd frame or a skippable frame.
func Detect(header []byte) bool {
	if len(header) < 4 {
		return false
	}
	if header[0] == 0x28 && header[1] == 0xb5 && header[2] == 0x2f && header[3] == 0xfd {
		return true
	}
	// Skippable frames: 0x184D2A50..0x184D2A5F little-endian.
	return header[0]&0xf0 == 0x50 && header[1] == 0x2a && header[2] == 0x4d && header[3] == 0x18
}

// Stage is a configured zstd stage.
type Stage struct {
	level       zstd.EncoderLevel
	concurrency int
	frameSize   int
}

// Limits on the frame encoder's knobs: MaxDefaultWorkers keeps the default
// memory bound (see [DefaultFrameSize]) small on many-core hosts; frames
// are at least MinFrameSize so per-frame overhead stays negligible.
const (
	MaxDefaultWorkers = 4
	MinFrameSize      = 64 << 10
	MaxFrameSize      = 256 << 20
)

// frameBudget is what the default frame sizes of all workers add up to
// (at most; see [DefaultFrameSize]).
const frameBudget = 16 << 20

// DefaultFrameSize is the frame size used when frame_size is not set:
// 16 MiB shared among the workers, rounded down to whole MiB, between
// 4 and 8 MiB. That is 8 MiB with one or two workers, 5 MiB with three
// and 4 MiB with four or more.
//
// Each frame starts with no history, so a frame shorter than the
// distances at which data repeats itself gives up compression: on tars of
// /usr/share, /usr/lib and Go's source tree, 4 MiB frames came out 1.2–1.5%
// larger than `zstd -3`, 8 MiB frames between 1.0% smaller and 0.9%
// larger (the README's table). Memory pays for it: a frame in flight
// holds its input, its output and the encoder's copy of its history, each
// up to the frame size, so the frame buffers take up to
// (3 × workers + 2) × frame size. Sharing a fixed budget keeps that at
// 56–64 MiB for two to four workers (the most a default gives), where 8
// MiB frames for four workers would take up to 112 MiB; more workers, if
// asked for, add 12 MiB each.
func DefaultFrameSize(workers int) int {
	fs := frameBudget / max(workers, 1) &^ (1<<20 - 1)
	return min(max(fs, 4<<20), 8<<20)
}

var _ pipeline.Stage = (*Stage)(nil)

// New builds a stage from validated options.
func New(o pipeline.Options) (pipeline.Stage, error) {
	level := o.Int("level")
	if level < 1 || level > 22 {
		return nil, fmt.Errorf("level %d out of range 1..22", level)
	}
	c := o.Int("concurrency")
	if c < 0 {
		return nil, fmt.Errorf("concurrency %d must not be negative", c)
	}
	if c == 0 {
		c = min(runtime.GOMAXPROCS(0), MaxDefaultWorkers)
	}
	fs := DefaultFrameSize(c)
	if o.Has("frame_size") {
		fs = o.Int("frame_size")
	}
	if fs != 0 && (fs < MinFrameSize || fs > MaxFrameSize) {
		return nil, fmt.Errorf("frame_size %d out of range %d..%d (or 0 for one streaming frame)", fs, MinFrameSize, MaxFrameSize)
	}
	return &Stage{level: zstd.EncoderLevelFromZstd(level), concurrency: c, frameSize: fs}, nil
}

// Encode compresses src. With a frame size (the default) it writes
// independent frames compressed in parallel; otherwise one streaming
// frame. Both are standard zstd streams.
func (s *Stage) Encode(ctx context.Context, src io.Reader) (io.ReadCloser, error) {
	if s.frameSize > 0 {
		fe, err := newFrameEncoder(s.level, s.frameSize, s.concurrency)
		if err != nil {
			return nil, err
		}
		return pipeline.PipeProducer(ctx, func(ctx context.Context, w io.Writer) error {
			defer fe.Close()
			return fe.encode(ctx, src, w)
		}), nil
	}
	return pipeline.PipeEncoder(ctx, src, func(dst io.Writer) (io.WriteCloser, error) {
		return zstd.NewWriter(dst,
			zstd.WithEncoderLevel(s.level),
			zstd.WithEncoderConcurrency(s.concurrency),
			zstd.WithEncoderCRC(true),
			zstd.WithAllLitEntropyCompression(entropyOnAllLiterals))
	}), nil
}

// Decode decompresses src. Concatenated frames are read as one stream.
// Frames of known size up to [MaxParallelFrame] (what Encode writes with
// a frame size) are decompressed concurrency at a time; from the first
// other frame on, one streaming decoder takes over.
func (s *Stage) Decode(ctx context.Context, src io.Reader) (io.ReadCloser, error) {
	return newFrameReader(ctx, src, s.concurrency)
}

// entropyOnAllLiterals: both encoders Huffman-code the literals of blocks
// in which no match was found. klauspost skips that below
// SpeedBetterCompression, storing such blocks raw, so text without repeats
// — base64 (mail, PEM, JSON with blobs), hex dumps — came out at 100% of
// its size where `zstd -3` gives 75%. On random data the extra Huffman
// attempt costs about 0.4 ms per MiB; it fails fast and the block is
// stored raw as before.
const entropyOnAllLiterals = true

// decodeStream decompresses src with klauspost's streaming decoder, which
// reads any zstd stream whose window is at most [zstd.MaxWindowSize]
// (the splitter refuses a larger one first; see [errWindowTooLarge]).
func decodeStream(ctx context.Context, src io.Reader) (io.ReadCloser, error) {
	return pipeline.DecodeReader(ctx, Name, src, func(r io.Reader) (io.Reader, func(), error) {
		d, err := zstd.NewReader(r, zstd.WithDecoderConcurrency(0), zstd.WithDecoderLowmem(false))
		if err != nil {
			return nil, nil, err
		}
		return d, d.Close, nil
	})
}
