package pipeline

import (
	"archive/tar"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"

	"gocloud.dev/gcerrors"

	"github.com/sluice-backup/sluice/pipeline/archive"
)

// ErrNoManifest marks an object without a manifest, whose stored bytes
// therefore have no recorded checksum to check.
var ErrNoManifest = errors.New("no manifest records its checksum")

// errDamaged marks stored bytes that do not match their manifest.
var errDamaged = errors.New("damaged or replaced")

// VerifyStored re-reads object name on t and checks its size and SHA-256
// against its manifest (read from t when m is nil). It needs no keys and
// decodes nothing. A mismatch wraps [ErrIntegrity]; an object that does
// not exist (a name that is only a folder included) wraps [ErrNotFound],
// whether or not a manifest is left for it; an object without a manifest
// wraps [ErrNoManifest].
func VerifyStored(ctx context.Context, t *Target, name string, m *Manifest) error {
	if m == nil {
		var err error
		if m, err = ReadManifest(ctx, t, name); err != nil {
			return err
		}
		if m == nil {
			if _, err := t.Bucket.Attributes(ctx, t.Key(name)); gcerrors.Code(err) == gcerrors.NotFound {
				return fmt.Errorf("%w: %s", ErrNotFound, t.ObjectURL(name))
			}
			return fmt.Errorf("%s: %w; give keys to decode it fully instead", name, ErrNoManifest)
		}
	}
	r, err := t.Bucket.NewReader(ctx, t.Key(name), nil)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return fmt.Errorf("%w: %s", ErrNotFound, t.ObjectURL(name))
	}
	if err != nil {
		return fmt.Errorf("open %s: %w", t.ObjectURL(name), err)
	}
	defer r.Close()
	h := sha256.New()
	n, err := CopyContext(ctx, h, r)
	if err != nil {
		return fmt.Errorf("read %s: %w", t.ObjectURL(name), err)
	}
	if n != m.Size {
		return fmt.Errorf("%s: %w: it is %d bytes, its manifest records %d: %w", name, ErrIntegrity, n, m.Size, errDamaged)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != m.SHA256 {
		return fmt.Errorf("%s: %w: it does not match the SHA-256 its manifest records: %w (SHA-256 %s, manifest says %s)", name, ErrIntegrity, errDamaged, got, m.SHA256)
	}
	return nil
}

// VerifyDecoded decodes object name on t completely with d's keys —
// authenticating every encrypted chunk, decompressing, and for an archive
// reading every tar entry to its end — and then checks the stored bytes
// against the manifest when there is one. Nothing is written anywhere.
//
// An archive's entries are checked with the rules restore applies under
// d.Extract ([archive.Check]), so an archive that restore would refuse
// fails here too, with the error restore would give. A refusal that a
// restore flag lifts (an external symlink, a device node) names that flag;
// with d.Lifted set it goes to d.Lifted instead and the entry is accepted.
//
// When decoding fails on the data (an integrity error, or no key opening
// the object) and a manifest records the object's checksum, the stored
// bytes are checked against it: if they do not match, the object was
// damaged or replaced after the backup, and that is the error returned
// (wrapping [ErrIntegrity], never [ErrNoIdentity]), so a damaged header is
// not taken for a wrong key.
func VerifyDecoded(ctx context.Context, d *Decoder, t *Target, name string) error {
	obj, err := d.Open(ctx, t, name)
	if err != nil {
		return blameStored(ctx, t, name, err)
	}
	if err := decodeAll(ctx, obj, name, d.Extract, d.Lifted); err != nil {
		obj.Close()
		return blameStored(ctx, t, name, err)
	}
	defer obj.Close()
	return obj.Verify()
}

// decodeAll reads obj's decoded stream to its end, every tar entry of an
// archive included, checked with the rules of extraction under extract
// (refusals a flag lifts go to lifted, if set, named with the flag).
func decodeAll(ctx context.Context, obj *Decoded, name string, extract archive.ExtractOptions, lifted func(error)) error {
	if obj.Archive {
		var liftedFlag func(error)
		if lifted != nil {
			liftedFlag = func(err error) { lifted(withRestoreFlag(err)) }
		}
		if err := archive.Check(ctx, obj, extract, liftedFlag); err != nil {
			return fmt.Errorf("%s: %w", name, asIntegrity(withRestoreFlag(err)))
		}
	}
	// Whatever follows the archive (tar padding) or the whole stream of a
	// non-archive must decode too.
	if _, err := CopyContext(ctx, io.Discard, obj); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return nil
}

// blameStored returns, for decodeErr from decoding object name on t, the
// stored bytes' mismatch with the manifest when there is one, followed by
// decodeErr. When the stored bytes match the manifest and no key opened
// the object, it is decodeErr saying so: the object is intact, the keys
// are what does not fit. Otherwise it is decodeErr. Only errors about the
// data (integrity, no matching identity) are checked: a failed read, a
// local problem or an ended ctx says nothing about the stored copy.
func blameStored(ctx context.Context, t *Target, name string, decodeErr error) error {
	if !errors.Is(decodeErr, ErrIntegrity) && !errors.Is(decodeErr, ErrNoIdentity) || ctx.Err() != nil {
		return decodeErr
	}
	err := VerifyStored(ctx, t, name, nil)
	switch {
	case errors.Is(err, errDamaged):
		return fmt.Errorf("%w; decoding it failed: %v", err, decodeErr)
	case err == nil && errors.Is(decodeErr, ErrNoKey):
		return fmt.Errorf("%w; the stored object is intact (its size and SHA-256 match its manifest)", decodeErr)
	case err == nil && errors.Is(decodeErr, ErrNoIdentity):
		return fmt.Errorf("%w; the stored object is intact (its size and SHA-256 match its manifest): the keys given do not fit it", decodeErr)
	}
	return decodeErr
}

// withRestoreFlag adds to an archive refusal the restore flag that lifts it.
func withRestoreFlag(err error) error {
	switch {
	case errors.Is(err, archive.ErrExternalSymlink):
		return fmt.Errorf("%w (restore needs --allow-external-symlinks)", err)
	case errors.Is(err, archive.ErrDevice):
		return fmt.Errorf("%w (restore needs --devices)", err)
	}
	return err
}

// asIntegrity marks tar format errors as integrity failures; errors from
// the layers below (already classified) pass through.
func asIntegrity(err error) error {
	if errors.Is(err, ErrIntegrity) || errors.Is(err, ErrNoIdentity) || errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	if errors.Is(err, tar.ErrHeader) || errors.Is(err, io.ErrUnexpectedEOF) {
		return fmt.Errorf("%w: %v", ErrIntegrity, err)
	}
	return err
}

// hintDamage adds to an [ErrNoIdentity] error from restoring object name
// on t, when a manifest records the object's checksum, that a damaged
// object looks the same as a wrong key and how to tell them apart; not
// when no key was given at all ([ErrNoKey]), which no damage explains. Restore
// does not check the stored bytes itself: after a wrong key that would
// read the whole object again only to say what the error already says.
// Other errors are returned as they are.
func hintDamage(ctx context.Context, t *Target, name string, err error) error {
	if !errors.Is(err, ErrNoIdentity) || errors.Is(err, ErrNoKey) || ctx.Err() != nil {
		return err
	}
	if m, merr := ReadManifest(ctx, t, name); merr != nil || m == nil || m.SHA256 == "" {
		return err
	}
	return fmt.Errorf("%w (if that is the right key, the object may be damaged instead: verify %s without keys checks it against its manifest)", err, t.ObjectURL(name))
}
