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
		return fmt.Errorf("%s: %w: stored size %d, manifest says %d", name, ErrIntegrity, n, m.Size)
	}
	if got := hex.EncodeToString(h.Sum(nil)); got != m.SHA256 {
		return fmt.Errorf("%s: %w: SHA-256 %s, manifest says %s", name, ErrIntegrity, got, m.SHA256)
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
// restore flag lifts (an external symlink, a device node) names that flag:
// the archive is intact, yet a plain restore of it fails.
func VerifyDecoded(ctx context.Context, d *Decoder, t *Target, name string) error {
	obj, err := d.Open(ctx, t, name)
	if err != nil {
		return err
	}
	defer obj.Close()
	if obj.Archive {
		if err := archive.Check(ctx, obj, d.Extract); err != nil {
			return fmt.Errorf("%s: %w", name, asIntegrity(withRestoreFlag(err)))
		}
	}
	// Whatever follows the archive (tar padding) or the whole stream of a
	// non-archive must decode too.
	if _, err := CopyContext(ctx, io.Discard, obj); err != nil {
		return fmt.Errorf("%s: %w", name, err)
	}
	return obj.Verify()
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
