package pipeline

import (
	"context"
	"fmt"

	"gocloud.dev/blob"
)

// WriteSmall writes body to key in one request, as [blob.Bucket.WriteAll]
// does, but a failed write stores nothing. WriteAll closes its writer
// after a failed Write with the context still live, which commits what
// reached the store: on a full disk, fileblob renamed an empty temporary
// file into place as the manifest (gocloud checks the ContentMD5 against
// what it was given, not what was written). Here the writer's context is
// cancelled first, which makes every driver abort.
func WriteSmall(ctx context.Context, b *blob.Bucket, key string, body []byte, opts *blob.WriterOptions) error {
	return writeSmall(ctx, b, key, body, opts, nil)
}

// writeSmall is [WriteSmall], made durable by d when d is not nil (see
// [closeDurably]).
func writeSmall(ctx context.Context, b *blob.Bucket, key string, body []byte, opts *blob.WriterOptions, d Durability) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := b.NewWriter(ctx, key, opts)
	if err != nil {
		return err
	}
	abort := func() {
		cancel()
		w.Close()
	}
	if _, err := w.Write(body); err != nil {
		abort()
		return err
	}
	if d != nil {
		d.Written(len(body))
	}
	return closeDurably(ctx, b, key, d, w.Close, abort)
}

// closeDurably commits the write of key to b with commit (a writer's
// Close), made durable by d as [Target.Durable] says: d's Flush first,
// and if it fails abort instead, which must store nothing; d's Commit
// after, and if it fails the object is deleted again. With d nil it only
// calls commit.
func closeDurably(ctx context.Context, b *blob.Bucket, key string, d Durability, commit func() error, abort func()) error {
	if d == nil {
		return commit()
	}
	if err := d.Flush(); err != nil {
		abort()
		return fmt.Errorf("flush to disk: %w", err)
	}
	if err := commit(); err != nil {
		return err
	}
	err := d.Commit()
	if err == nil {
		return nil
	}
	err = fmt.Errorf("flush to disk: %w", err)
	if derr := b.Delete(context.WithoutCancel(ctx), key); derr != nil {
		err = fmt.Errorf("%w (and removing it failed: %v)", err, derr)
	}
	return err
}
