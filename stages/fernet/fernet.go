// Package fernet registers the "fernet" encryption stage, compatible with
// Python cryptography's Fernet: what it writes, Fernet(key).decrypt reads,
// and it reads what Fernet(key).encrypt wrote.
//
// # Format
//
// A key file holds 32 bytes in URL-safe base64, as Fernet.generate_key()
// returns them (a trailing newline is allowed): the first 16 bytes sign,
// the last 16 encrypt. A token is the URL-safe base64 (with padding) of
//
//	0x80 | timestamp (8 bytes, big endian) | IV (16) | AES-128-CBC ciphertext, PKCS#7 padded | HMAC-SHA256 (32)
//
// where the HMAC covers everything before it. One token holds the whole
// message.
//
// # Streaming and memory
//
// Encode streams: it encrypts and base64-encodes as data arrives, and
// appends the HMAC at the end. Decode must not release plaintext before the
// HMAC at the token's end is verified, so it first spools the decoded
// ciphertext to an unnamed temporary file (mode 0600, in os.TempDir, that
// is $TMPDIR; removed at once where the system allows, else on Close)
// while computing the HMAC, verifies it, and only then decrypts from the
// file. Memory stays bounded whatever the token's size; restoring needs
// temporary disk space about the size of the object. Token timestamps are
// written but not checked (Python's decrypt without ttl does the same).
//
// # Errors
//
// Fernet cannot tell a wrong key from a damaged token: both fail the
// HMAC. That error wraps both [pipeline.ErrNoIdentity] and
// [pipeline.ErrIntegrity] and says so. A token that is malformed in any
// other way (bad base64, wrong version byte, truncated) wraps
// ErrIntegrity only. A spool file that cannot be created, written or read
// back (a missing or full $TMPDIR) wraps [pipeline.ErrLocal] instead and
// names the folder: it says nothing about the token.
package fernet

import (
	"bytes"
	"context"
	"crypto/aes"
	"crypto/cipher"
	"crypto/hmac"
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"time"

	"github.com/sluice-backup/sluice/pipeline"
)

// Name is the stage's registered name.
const Name = "fernet"

// Spec describes the stage.
var Spec = pipeline.StageSpec{
	Name:      Name,
	Kind:      pipeline.Encryption,
	Extension: ".fernet",
	Help:      "Fernet tokens as Python cryptography writes and reads them (AES-128-CBC + HMAC-SHA256); restore spools to a temporary file to verify before releasing plaintext",
	Options: []pipeline.OptionSpec{
		{Name: "key_file", Type: pipeline.String, Secret: true, Help: "file holding the key as Fernet.generate_key() writes it (URL-safe base64 of 32 bytes)"},
	},
	Detect: Detect,
	New:    New,
}

func init() { pipeline.Default.RegisterStage(Spec) }

const (
	version    = 0x80
	headerLen  = 1 + 8 + aes.BlockSize // version, timestamp, IV
	macLen     = sha256.Size
	keyLen     = 32
	chunkBytes = 64 << 10 // a multiple of aes.BlockSize
)

// tokenPrefix is how every Fernet token made before the year 10889
// begins: the base64 of 0x80 and the timestamp's top bytes, all zero.
const tokenPrefix = "gAAAAA"

// Detect reports whether header starts a Fernet token.
func Detect(header []byte) bool { return bytes.HasPrefix(header, []byte(tokenPrefix)) }

// Key is a Fernet key: a signing key and an encryption key.
type Key struct {
	sign, enc [16]byte
}

// GenerateKey returns a new random key in the form Fernet.generate_key()
// returns and key files hold (URL-safe base64 with padding, no newline).
func GenerateKey() string {
	var b [keyLen]byte
	if _, err := rand.Read(b[:]); err != nil {
		panic("fernet: crypto/rand failed: " + err.Error())
	}
	return base64.URLEncoding.EncodeToString(b[:])
}

// ParseKey parses a key as Fernet.generate_key() writes it. Surrounding
// whitespace is ignored; unpadded base64 is accepted. The error never
// includes the key.
func ParseKey(s string) (*Key, error) {
	s = strings.TrimSpace(s)
	b, err := base64.URLEncoding.DecodeString(s)
	if err != nil {
		b, err = base64.RawURLEncoding.DecodeString(s)
	}
	if err != nil || len(b) != keyLen {
		return nil, errors.New("not a Fernet key: want 32 bytes in URL-safe base64, as Fernet.generate_key() writes")
	}
	k := &Key{}
	copy(k.sign[:], b[:16])
	copy(k.enc[:], b[16:])
	return k, nil
}

// ReadKeyFile reads a key file. Errors name the file, never its content;
// a path that looks like a key itself (a key pasted where its file
// belongs) is refused and never echoed (see [pipeline.ReadKeyFile]).
func ReadKeyFile(path string) (*Key, error) {
	b, err := pipeline.ReadKeyFile("key file", path)
	if err != nil {
		return nil, err
	}
	k, err := ParseKey(string(b))
	if err != nil {
		return nil, fmt.Errorf("key file %s: %w", path, err)
	}
	return k, nil
}

// Stage is a configured Fernet stage; without a key it can do neither
// direction, and says so.
type Stage struct {
	key *Key
	now func() time.Time
}

var (
	_ pipeline.Stage         = (*Stage)(nil)
	_ pipeline.EncodeChecker = (*Stage)(nil)
)

// New builds a stage, reading the key file now so a missing or malformed
// key stops a pipeline before any data moves.
func New(o pipeline.Options) (pipeline.Stage, error) {
	s := &Stage{now: time.Now}
	if f := o.String("key_file"); f != "" {
		k, err := ReadKeyFile(f)
		if err != nil {
			return nil, err
		}
		s.key = k
	}
	return s, nil
}

// NewWithKey returns a stage using k.
func NewWithKey(k *Key) *Stage { return &Stage{key: k, now: time.Now} }

// CheckEncode reports a stage built without a key.
func (s *Stage) CheckEncode() error {
	if s.key == nil {
		return fmt.Errorf("%w: give key_file, the key to encrypt with", pipeline.ErrNoRecipient)
	}
	return nil
}

// Encode encrypts src into one Fernet token.
func (s *Stage) Encode(ctx context.Context, src io.Reader) (io.ReadCloser, error) {
	if err := s.CheckEncode(); err != nil {
		return nil, fmt.Errorf("fernet: %w", err)
	}
	return pipeline.PipeProducer(ctx, func(ctx context.Context, w io.Writer) error {
		return s.encrypt(ctx, w, src)
	}), nil
}

func (s *Stage) encrypt(ctx context.Context, w io.Writer, src io.Reader) error {
	block, err := aes.NewCipher(s.key.enc[:])
	if err != nil {
		return fmt.Errorf("fernet: %w", err)
	}
	var header [headerLen]byte
	header[0] = version
	binary.BigEndian.PutUint64(header[1:9], uint64(s.now().Unix()))
	iv := header[9:]
	if _, err := rand.Read(iv); err != nil {
		return fmt.Errorf("fernet: random IV: %w", err)
	}
	b64 := base64.NewEncoder(base64.URLEncoding, w)
	mac := hmac.New(sha256.New, s.key.sign[:])
	out := io.MultiWriter(mac, b64)
	if _, err := out.Write(header[:]); err != nil {
		return err
	}
	cbc := cipher.NewCBCEncrypter(block, iv)
	buf := make([]byte, chunkBytes)
	have := 0 // bytes of buf holding plaintext not yet encrypted
	src = pipeline.ContextReader(ctx, src)
	for {
		n, rerr := src.Read(buf[have:])
		have += n
		if full := have / aes.BlockSize * aes.BlockSize; full > 0 {
			cbc.CryptBlocks(buf[:full], buf[:full])
			if _, err := out.Write(buf[:full]); err != nil {
				return err
			}
			have = copy(buf, buf[full:have])
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	// PKCS#7: 1 to 16 bytes of padding, each holding the pad length, after
	// the fewer than 16 bytes the loop left.
	pad := aes.BlockSize - have%aes.BlockSize
	for i := range pad {
		buf[have+i] = byte(pad)
	}
	last := buf[:have+pad]
	cbc.CryptBlocks(last, last)
	if _, err := out.Write(last); err != nil {
		return err
	}
	if _, err := b64.Write(mac.Sum(nil)); err != nil {
		return err
	}
	return b64.Close()
}

// Decode verifies and decrypts a token; see the package doc for how it
// keeps memory bounded and releases nothing before verification.
func (s *Stage) Decode(ctx context.Context, src io.Reader) (io.ReadCloser, error) {
	if s.key == nil {
		return nil, fmt.Errorf("fernet: %w (%w): the object is a Fernet token; give its key file (--fernet-key FILE)", pipeline.ErrNoKey, pipeline.ErrNoIdentity)
	}
	d := &decoder{ctx: ctx, key: s.key}
	return pipeline.DecodeReader(ctx, Name, src, func(r io.Reader) (io.Reader, func(), error) {
		d.src = r
		return d, d.release, nil
	})
}

// decoder spools and verifies the token on the first Read, then decrypts
// from the spool file.
type decoder struct {
	ctx context.Context
	key *Key
	src io.Reader

	spool *os.File
	plain io.Reader // set once the HMAC verified
}

func (d *decoder) Read(p []byte) (int, error) {
	if d.plain == nil {
		if err := d.verify(); err != nil {
			return 0, err
		}
	}
	return d.plain.Read(p)
}

func (d *decoder) release() {
	if d.spool != nil {
		name := d.spool.Name()
		d.spool.Close()
		os.Remove(name) // already gone where unlinking open files works
		d.spool = nil
	}
}

// verify spools the ciphertext while computing the HMAC, checks it, and
// sets d.plain to the decrypting reader.
func (d *decoder) verify() error {
	raw := base64.NewDecoder(base64.URLEncoding, d.src)
	var header [headerLen]byte
	if _, err := io.ReadFull(raw, header[:]); err != nil {
		return err
	}
	if header[0] != version {
		return fmt.Errorf("%w: not a Fernet token (version byte %#x)", pipeline.ErrIntegrity, header[0])
	}
	f, err := os.CreateTemp("", "sluice-fernet-*")
	if err != nil {
		return spoolError(err)
	}
	d.spool = f
	// Unlink at once so nothing is left behind even if the process dies;
	// where that fails (Windows), release removes it.
	_ = os.Remove(f.Name())

	mac := hmac.New(sha256.New, d.key.sign[:])
	mac.Write(header[:])
	tw := &tailWriter{w: io.MultiWriter(mac, spoolWriter{f})}
	n, err := pipeline.CopyContext(d.ctx, tw, raw)
	if err != nil {
		return err
	}
	ctLen := n - macLen
	if n < macLen || ctLen == 0 || ctLen%aes.BlockSize != 0 {
		return fmt.Errorf("%w: token truncated or malformed (%d bytes after the header)", pipeline.ErrIntegrity, n)
	}
	if !hmac.Equal(mac.Sum(nil), tw.tail) {
		return fmt.Errorf("%w: %w: the token's HMAC does not verify: wrong key, or the object is damaged", pipeline.ErrNoIdentity, pipeline.ErrIntegrity)
	}
	if _, err := f.Seek(0, io.SeekStart); err != nil {
		return spoolError(err)
	}
	block, err := aes.NewCipher(d.key.enc[:])
	if err != nil {
		return err
	}
	d.plain = &cbcReader{
		src:  io.LimitReader(f, ctLen),
		left: ctLen,
		cbc:  cipher.NewCBCDecrypter(block, header[9:]),
		buf:  make([]byte, chunkBytes),
	}
	return nil
}

// spoolError marks a failure of the spool file as local ([pipeline.ErrLocal]),
// naming the folder it lives in: it is no fault of the token.
func spoolError(err error) error {
	return fmt.Errorf("spool the token in %s (set TMPDIR to a folder with space for it): %w: %w", os.TempDir(), pipeline.ErrLocal, err)
}

// spoolWriter writes to the spool file; its errors are local ones.
type spoolWriter struct{ f *os.File }

func (w spoolWriter) Write(p []byte) (int, error) {
	n, err := w.f.Write(p)
	if err != nil {
		err = spoolError(err)
	}
	return n, err
}

// tailWriter writes everything but the last macLen bytes it is given to
// w, and keeps those in tail.
type tailWriter struct {
	w    io.Writer
	tail []byte
}

func (t *tailWriter) Write(p []byte) (int, error) {
	if len(t.tail)+len(p) <= macLen {
		t.tail = append(t.tail, p...)
		return len(p), nil
	}
	// Release what falls out of the window: first from tail, then from p.
	out := len(t.tail) + len(p) - macLen
	fromTail := min(out, len(t.tail))
	if _, err := t.w.Write(t.tail[:fromTail]); err != nil {
		return 0, err
	}
	if _, err := t.w.Write(p[:out-fromTail]); err != nil {
		return 0, err
	}
	t.tail = append(t.tail[:0], t.tail[fromTail:]...)
	t.tail = append(t.tail, p[out-fromTail:]...)
	return len(p), nil
}

// cbcReader decrypts verified ciphertext and strips the padding from the
// last block.
type cbcReader struct {
	src  io.Reader
	left int64 // ciphertext bytes not yet read from src
	cbc  cipher.BlockMode
	buf  []byte
	out  []byte // decrypted bytes not yet returned
	done bool
}

func (c *cbcReader) Read(p []byte) (int, error) {
	for len(c.out) == 0 {
		if c.done {
			return 0, io.EOF
		}
		n, err := io.ReadFull(c.src, c.buf[:min(int64(len(c.buf)), c.left)])
		if err != nil {
			return 0, spoolError(err)
		}
		c.left -= int64(n)
		chunk := c.buf[:n]
		c.cbc.CryptBlocks(chunk, chunk)
		if c.left == 0 {
			c.done = true
			pad := int(chunk[n-1])
			if pad < 1 || pad > aes.BlockSize || pad > n || !bytes.Equal(chunk[n-pad:], bytes.Repeat([]byte{byte(pad)}, pad)) {
				return 0, fmt.Errorf("%w: bad padding", pipeline.ErrIntegrity)
			}
			chunk = chunk[:n-pad]
		}
		c.out = chunk
	}
	n := copy(p, c.out)
	c.out = c.out[n:]
	return n, nil
}
