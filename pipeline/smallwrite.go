package pipeline

import (
	"context"

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
	return w.Close()
}
