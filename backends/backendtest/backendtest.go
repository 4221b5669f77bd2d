// Package backendtest is a conformance suite for sluice backends: the
// storage guarantees the backup and restore loops rely on, checked through
// the [pipeline.Target] a backend opens.
//
// Writes go through Target.Prepare when the target has one, as the run
// loop's do. The suite uses keys under "conformance/<test>/" below the
// target's prefix, and closes every target it opens.
package backendtest

import (
	"bytes"
	"context"
	"crypto/sha256"
	"io"
	"math/rand/v2"
	"net/url"
	"strings"
	"testing"

	"github.com/aws/aws-sdk-go-v2/aws"
	"github.com/aws/aws-sdk-go-v2/service/s3"
	"gocloud.dev/blob"
	"gocloud.dev/gcerrors"

	"github.com/sluice-backup/sluice/pipeline"
)

// Sizes the suite writes. LargeSize spans more than two parts of S3's
// 5 MiB minimum part size, and CancelSize more than one, so an S3 target
// opened with part_size=5242880 exercises multipart uploads and their
// abort.
const (
	LargeSize  = 12<<20 + 12345
	CancelSize = 6 << 20
)

// Skips names checks a store cannot pass. Each non-empty field skips one
// check, and says why in the test log; the zero value runs everything.
type Skips struct {
	// IfNotExist: the store ignores conditional creates
	// (WriterOptions.IfNotExist) for small, single-request objects.
	IfNotExist string
	// IfNotExistLarge: the store ignores conditional creates for objects
	// large enough to be uploaded in parts.
	IfNotExistLarge string
	// AbortedUploads: on S3, the store cannot list multipart uploads, so
	// the check that a cancelled write leaves none open is skipped.
	AbortedUploads string
	// Metadata: the store keeps no user metadata (WriterOptions.Metadata),
	// so reading it back through Attributes is not checked.
	Metadata string
}

// Run runs every check against targets open returns. open is called once
// per subtest; it may skip the test. The suite closes each target.
func Run(t *testing.T, open func(t *testing.T) *pipeline.Target) {
	RunSkipping(t, open, Skips{})
}

// RunSkipping is [Run] without the checks skips names.
func RunSkipping(t *testing.T, open func(t *testing.T) *pipeline.Target, skips Skips) {
	h := func(name string, test func(t *testing.T, s *suite)) {
		t.Run(name, func(t *testing.T) {
			tg := open(t)
			t.Cleanup(func() {
				if err := tg.Close(); err != nil {
					t.Errorf("close target: %v", err)
				}
			})
			test(t, &suite{tg: tg, skips: skips, base: tg.Key("conformance/" + name + "/")})
		})
	}
	h("Target", testTarget)
	h("WriteRead", testWriteRead)
	h("Empty", testEmpty)
	h("List", testList)
	h("IfNotExist", testIfNotExist)
	h("IfNotExistLarge", testIfNotExistLarge)
	h("CancelSmall", func(t *testing.T, s *suite) { testCancel(t, s, 1000) })
	h("CancelLarge", func(t *testing.T, s *suite) { testCancel(t, s, CancelSize) })
	h("Large", testLarge)
	h("Delete", testDelete)
	h("Missing", testMissing)
}

type suite struct {
	tg    *pipeline.Target
	skips Skips
	base  string // key prefix of this test's objects
}

// writer opens a writer for key as the run loop would: options adjusted
// by Prepare for an object of size bytes.
func (s *suite) writer(t *testing.T, ctx context.Context, key string, size int64, wo *blob.WriterOptions) *blob.Writer {
	t.Helper()
	if wo == nil {
		wo = &blob.WriterOptions{}
	}
	if s.tg.Prepare != nil {
		limit, err := s.tg.Prepare(wo, pipeline.Write{Size: size})
		if err != nil {
			t.Fatalf("Prepare(%d): %v", size, err)
		}
		if limit != 0 && limit < size {
			t.Fatalf("Prepare(%d): limit %d is below the size", size, limit)
		}
	}
	w, err := s.tg.Bucket.NewWriter(ctx, key, wo)
	if err != nil {
		t.Fatalf("NewWriter(%q): %v", key, err)
	}
	return w
}

// write stores data under key and returns Close's error.
func (s *suite) write(t *testing.T, key string, data []byte, wo *blob.WriterOptions) error {
	t.Helper()
	w := s.writer(t, t.Context(), key, int64(len(data)), wo)
	if _, err := w.Write(data); err != nil {
		_ = w.Close()
		return err
	}
	return w.Close()
}

func (s *suite) mustWrite(t *testing.T, key string, data []byte, wo *blob.WriterOptions) {
	t.Helper()
	if err := s.write(t, key, data, wo); err != nil {
		t.Fatalf("write %q: %v", key, err)
	}
}

func (s *suite) read(t *testing.T, key string) []byte {
	t.Helper()
	got, err := s.tg.Bucket.ReadAll(t.Context(), key)
	if err != nil {
		t.Fatalf("read %q: %v", key, err)
	}
	return got
}

func (s *suite) exists(t *testing.T, key string) bool {
	t.Helper()
	ok, err := s.tg.Bucket.Exists(t.Context(), key)
	if err != nil {
		t.Fatalf("Exists(%q): %v", key, err)
	}
	return ok
}

// data returns n pseudo-random bytes, different for each seed.
func data(n int, seed uint64) []byte {
	r := rand.New(rand.NewPCG(seed, uint64(n)))
	b := make([]byte, n)
	for i := 0; i+8 <= n; i += 8 {
		v := r.Uint64()
		for j := range 8 {
			b[i+j] = byte(v >> (8 * j))
		}
	}
	for i := n &^ 7; i < n; i++ {
		b[i] = byte(r.Uint32())
	}
	return b
}

func testTarget(t *testing.T, s *suite) {
	tg := s.tg
	if tg.Bucket == nil {
		t.Fatal("Bucket is nil")
	}
	if tg.Prefix != "" && !strings.HasSuffix(tg.Prefix, "/") {
		t.Errorf("Prefix %q: want \"\" or a path ending in /", tg.Prefix)
	}
	u, err := url.Parse(tg.URL)
	if err != nil {
		t.Fatalf("URL %q does not parse: %v", tg.URL, err)
	}
	// A query may stay: it holds what reaches the target (an endpoint).
	if u.User != nil || u.Fragment != "" {
		t.Errorf("URL %q: want no credentials or fragment", tg.URL)
	}
	if base, _, _ := strings.Cut(tg.URL, "?"); strings.HasSuffix(base, "/") && u.Path != "/" {
		t.Errorf("URL %q ends in /", tg.URL)
	}
	if tg.Prepare != nil {
		if _, err := tg.Prepare(&blob.WriterOptions{}, pipeline.Write{Size: -1}); err != nil {
			t.Errorf("Prepare(-1) for a stream of unknown size: %v", err)
		}
	}
}

func testWriteRead(t *testing.T, s *suite) {
	key := s.base + "obj.tar.zst.age"
	want := data(100_000, 1)
	md := map[string]string{"sluice-stages": "zstd,age", "sluice-sha256": "0123abcd"}
	s.mustWrite(t, key, want, &blob.WriterOptions{Metadata: md, ContentType: "application/octet-stream"})

	if got := s.read(t, key); !bytes.Equal(got, want) {
		t.Fatalf("read back %d bytes, want the %d written", len(got), len(want))
	}
	attrs, err := s.tg.Bucket.Attributes(t.Context(), key)
	if err != nil {
		t.Fatalf("Attributes: %v", err)
	}
	if attrs.Size != int64(len(want)) {
		t.Errorf("Attributes.Size = %d, want %d", attrs.Size, len(want))
	}
	for k, v := range md {
		if s.skips.Metadata != "" {
			t.Logf("metadata not checked: %s", s.skips.Metadata)
			break
		}
		if attrs.Metadata[k] != v {
			t.Errorf("metadata %q = %q, want %q (all: %v)", k, attrs.Metadata[k], v, attrs.Metadata)
		}
	}
	// A ranged read, as format detection does.
	r, err := s.tg.Bucket.NewRangeReader(t.Context(), key, 10, 512, nil)
	if err != nil {
		t.Fatalf("NewRangeReader: %v", err)
	}
	defer r.Close()
	head, err := io.ReadAll(r)
	if err != nil || !bytes.Equal(head, want[10:522]) {
		t.Errorf("range read: %d bytes, err %v; want bytes 10..522", len(head), err)
	}
}

func testEmpty(t *testing.T, s *suite) {
	key := s.base + "empty"
	s.mustWrite(t, key, nil, nil)
	if got := s.read(t, key); len(got) != 0 {
		t.Errorf("empty object read back as %d bytes", len(got))
	}
}

func testList(t *testing.T, s *suite) {
	keys := []string{s.base + "a", s.base + "b", s.base + "sub/c"}
	for i, k := range keys {
		s.mustWrite(t, k, data(10+i, 2), nil)
	}
	got := map[string]int64{}
	iter := s.tg.Bucket.List(&blob.ListOptions{Prefix: s.base})
	for {
		o, err := iter.Next(t.Context())
		if err == io.EOF {
			break
		}
		if err != nil {
			t.Fatalf("List: %v", err)
		}
		got[o.Key] = o.Size
	}
	if len(got) != len(keys) {
		t.Errorf("List(%q) = %v, want exactly %v", s.base, got, keys)
	}
	for i, k := range keys {
		if size, ok := got[k]; !ok || size != int64(10+i) {
			t.Errorf("List: %q has size %d (listed %v), want %d", k, size, ok, 10+i)
		}
	}
}

// testIfNotExist: sluice never overwrites, and relies on the store to
// refuse a conditional create when the key exists.
func testIfNotExist(t *testing.T, s *suite) {
	if s.skips.IfNotExist != "" {
		t.Skip(s.skips.IfNotExist)
	}
	checkIfNotExist(t, s, 1000)
}

func testIfNotExistLarge(t *testing.T, s *suite) {
	if s.skips.IfNotExistLarge != "" {
		t.Skip(s.skips.IfNotExistLarge)
	}
	checkIfNotExist(t, s, CancelSize)
}

func checkIfNotExist(t *testing.T, s *suite, size int) {
	key := s.base + "obj"
	orig, other := data(size, 3), data(size, 4)
	s.mustWrite(t, key, orig, &blob.WriterOptions{IfNotExist: true})
	err := s.write(t, key, other, &blob.WriterOptions{IfNotExist: true})
	if err == nil {
		t.Fatal("a conditional write to an existing key succeeded")
	}
	if code := gcerrors.Code(err); code != gcerrors.FailedPrecondition {
		t.Errorf("conditional write to an existing key: code %v, want FailedPrecondition (err: %v)", code, err)
	}
	if got := s.read(t, key); !bytes.Equal(got, orig) {
		t.Error("the failed conditional write changed the original object")
	}
}

// testCancel: a write whose context is cancelled before Close leaves
// nothing behind: no object, and on S3 no open multipart upload.
func testCancel(t *testing.T, s *suite, size int) {
	key := s.base + "obj"
	ctx, cancel := context.WithCancel(t.Context())
	defer cancel()
	wo := &blob.WriterOptions{}
	w := s.writer(t, ctx, key, int64(size), wo)
	if _, err := w.Write(data(size, 5)); err != nil {
		t.Logf("Write before cancel: %v", err)
	}
	client, bucket := s3Client(s.tg)
	multipart := wo.BufferSize > 0 && size > wo.BufferSize
	if client != nil && multipart && s.skips.AbortedUploads == "" {
		// The upload is under way: make sure the check below has
		// something to find.
		if n := openUploads(t, client, bucket, key); n != 1 {
			t.Errorf("%d multipart uploads open before cancel, want 1", n)
		}
	}
	cancel()
	if err := w.Close(); err == nil {
		t.Fatal("Close after cancel succeeded")
	}
	if s.exists(t, key) {
		t.Error("a cancelled write left an object")
	}
	iter := s.tg.Bucket.List(&blob.ListOptions{Prefix: s.base})
	if o, err := iter.Next(t.Context()); err != io.EOF {
		t.Errorf("a cancelled write left %v (err %v) under %q", o, err, s.base)
	}
	if client == nil {
		return
	}
	if s.skips.AbortedUploads != "" {
		t.Logf("not checking for open multipart uploads: %s", s.skips.AbortedUploads)
		return
	}
	if n := openUploads(t, client, bucket, key); n != 0 {
		t.Errorf("a cancelled write left %d multipart uploads open", n)
	}
}

func testLarge(t *testing.T, s *suite) {
	key := s.base + "large"
	want := data(LargeSize, 6)
	w := s.writer(t, t.Context(), key, LargeSize, nil)
	// Write in uneven pieces, as a stream does.
	for rest := want; len(rest) > 0; {
		n := min(len(rest), 1<<20+7)
		if _, err := w.Write(rest[:n]); err != nil {
			t.Fatalf("Write: %v", err)
		}
		rest = rest[n:]
	}
	if err := w.Close(); err != nil {
		t.Fatalf("Close: %v", err)
	}
	r, err := s.tg.Bucket.NewReader(t.Context(), key, nil)
	if err != nil {
		t.Fatalf("NewReader: %v", err)
	}
	defer r.Close()
	h := sha256.New()
	n, err := io.Copy(h, r)
	if err != nil {
		t.Fatalf("read: %v", err)
	}
	if sum := sha256.Sum256(want); n != LargeSize || !bytes.Equal(h.Sum(nil), sum[:]) {
		t.Fatalf("read back %d bytes that differ from the %d written", n, LargeSize)
	}
}

func testDelete(t *testing.T, s *suite) {
	key := s.base + "obj"
	s.mustWrite(t, key, data(10, 7), nil)
	if err := s.tg.Bucket.Delete(t.Context(), key); err != nil {
		t.Fatalf("Delete: %v", err)
	}
	if s.exists(t, key) {
		t.Error("the object exists after Delete")
	}
	if err := s.tg.Bucket.Delete(t.Context(), key); gcerrors.Code(err) != gcerrors.NotFound {
		t.Errorf("Delete of a missing key: %v, want NotFound", err)
	}
}

func testMissing(t *testing.T, s *suite) {
	key := s.base + "missing"
	_, err := s.tg.Bucket.NewReader(t.Context(), key, nil)
	if gcerrors.Code(err) != gcerrors.NotFound {
		t.Errorf("NewReader of a missing key: %v, want NotFound", err)
	}
	_, err = s.tg.Bucket.Attributes(t.Context(), key)
	if gcerrors.Code(err) != gcerrors.NotFound {
		t.Errorf("Attributes of a missing key: %v, want NotFound", err)
	}
	if s.exists(t, key) {
		t.Error("Exists of a missing key is true")
	}
}

// s3Client returns the S3 client and bucket behind tg, or nil when tg is
// not on S3.
func s3Client(tg *pipeline.Target) (*s3.Client, string) {
	var c *s3.Client
	if !tg.Bucket.As(&c) {
		return nil, ""
	}
	u, err := url.Parse(tg.URL)
	if err != nil {
		return nil, ""
	}
	return c, u.Host
}

// openUploads counts the multipart uploads in progress for key.
func openUploads(t *testing.T, c *s3.Client, bucket, key string) int {
	t.Helper()
	out, err := c.ListMultipartUploads(context.WithoutCancel(t.Context()), &s3.ListMultipartUploadsInput{
		Bucket: aws.String(bucket),
		Prefix: aws.String(key),
	})
	if err != nil {
		t.Fatalf("ListMultipartUploads: %v", err)
	}
	n := 0
	for _, u := range out.Uploads {
		if aws.ToString(u.Key) == key {
			n++
		}
	}
	return n
}
