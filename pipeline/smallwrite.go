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
// [Target.Durable]): a failed Flush stores nothing, and a failed Commit
// deletes the object again.
func writeSmall(ctx context.Context, b *blob.Bucket, key string, body []byte, opts *blob.WriterOptions, d Durability) error {
	ctx, cancel := context.WithCancel(ctx)
	defer cancel()
	w, err := b.NewWriter(ctx, key, opts)
	if err != nil {
		return err
	}
	if _, err := w.Write(body); err != nil {
		cancel()
		w.Close()
		return err
	}
	if d != nil {
		d.Written(len(body))
		if err := d.Flush(); err != nil {
			cancel()
			w.Close()
			return fmt.Errorf("flush to disk: %w", err)
		}
	}
	if err := w.Close(); err != nil {
		return err
	}
	if d != nil {
		return commitDurable(ctx, b, key, d)
	}
	return nil
}

// commitDurable calls d's Commit for the object just committed at key,
// deleting the object again if that fails.
func commitDurable(ctx context.Context, b *blob.Bucket, key string, d Durability) error {
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
