package pipeline

import (
	"context"
	"errors"
	"io"
)

// Kind says what a stage does to a stream, which fixes where it may appear in
// a pipeline: compression before encryption, at most one of each.
type Kind string

// The stage kinds.
const (
	Compression Kind = "compress"
	Encryption  Kind = "encrypt"
)

// A Stage transforms a stream in both directions. Backups chain stages as
// source → compress → encrypt → store; restores chain the inverse.
//
// Both methods return a reader over the transformed stream. Contracts every
// implementation keeps (the conformance suite in pipeline/stagetest checks
// them):
//
//   - The returned reader's Close releases everything the stage holds and
//     joins every goroutine it started. It never closes src. It may be called
//     more than once.
//   - Errors are sticky: once Read returns a non-EOF error, it returns that
//     error forever.
//   - A cancelled ctx makes Read return an error wrapping ctx.Err().
//   - Decode returns an error wrapping [ErrIntegrity] for a stream that is
//     truncated, corrupted or fails authentication; it never returns io.EOF
//     for a stream that did not end where the format says it ends.
//   - Decode of an encrypted stream without a matching key returns an error
//     wrapping [ErrNoIdentity].
type Stage interface {
	Encode(ctx context.Context, src io.Reader) (io.ReadCloser, error)
	Decode(ctx context.Context, src io.Reader) (io.ReadCloser, error)
}

// StageSpec registers a stage: its name, the options it takes (as data) and
// how to detect and build it.
type StageSpec struct {
	// Name is how configs, flags and object metadata name the stage.
	Name string
	// Kind is compression or encryption.
	Kind Kind
	// Extension is appended to object names, including the dot (".zst").
	// Empty for stages that leave the stream unchanged.
	Extension string
	// Help is a one-line description for `sluice plugins`.
	Help string
	// Options are the options New accepts.
	Options []OptionSpec
	// Detect reports whether header, the first bytes of a stream (at most
	// [DetectLen], fewer only if the stream is shorter), starts with this
	// stage's encoding. Nil for formats that cannot be recognised.
	Detect func(header []byte) bool
	// New builds a stage from validated options. Options needed in only one
	// direction (recipients to encode, identities to decode) may be absent;
	// the direction that needs them then fails with a clear error. A stage
	// that can lack what Encode needs implements [EncodeChecker], so that
	// whoever builds a backup finds the gap when building it.
	New func(Options) (Stage, error)
}

// An EncodeChecker is a [Stage] that can tell, once built, whether Encode
// has what it needs: an encryption stage built for restoring may hold
// identities but no one to encrypt to. Code that builds a backup chain
// calls [CheckEncode] on every stage, so a missing key is a configuration
// error found before any data moves, not a failure once the backup runs.
type EncodeChecker interface {
	// CheckEncode returns nil when Encode can run, else an error naming
	// the options that would supply what is missing; a missing key wraps
	// [ErrNoRecipient].
	CheckEncode() error
}

// CheckEncode returns s's [EncodeChecker.CheckEncode] error, or nil when
// s does not implement EncodeChecker (it needs nothing more to encode).
func CheckEncode(s Stage) error {
	if c, ok := s.(EncodeChecker); ok {
		return c.CheckEncode()
	}
	return nil
}

// DetectLen is how many bytes of a stream format detection looks at.
const DetectLen = 512

// Sentinel errors callers test with errors.Is.
var (
	// ErrIntegrity marks data that is corrupted, truncated, or fails
	// authentication or a recorded checksum.
	ErrIntegrity = errors.New("integrity check failed")
	// ErrNoIdentity marks an encrypted stream none of the given keys opens.
	ErrNoIdentity = errors.New("no matching identity")
	// ErrNoKey marks an encrypted stream for which no key was given at
	// all; it comes with ErrNoIdentity, so that only a key that was given
	// and does not open the stream is called the wrong key.
	ErrNoKey = errors.New("no key given")
	// ErrLocal marks a decoder's failure on this machine rather than in
	// the data: a temporary file it cannot create or write (a missing or
	// full $TMPDIR). It says nothing about the stored object.
	ErrLocal = errors.New("local I/O error")
	// ErrNoRecipient marks an encryption stage built without anyone to
	// encrypt to.
	ErrNoRecipient = errors.New("no recipient")
	// ErrUnknownStage marks a stage name nobody registered.
	ErrUnknownStage = errors.New("unknown stage")
	// ErrUnknownScheme marks a URL scheme no backend handles.
	ErrUnknownScheme = errors.New("unknown scheme")
	// ErrExists marks an object that already exists; sluice never
	// overwrites.
	ErrExists = errors.New("object already exists")
)
