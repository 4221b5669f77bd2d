package pipeline_test

import (
	"context"
	"errors"
	"io"
	"strings"
	"testing"

	"github.com/sluice-backup/sluice/pipeline"
)

type failingReader struct{ err error }

func (f failingReader) Read([]byte) (int, error) { return 0, f.err }

// TestDecodeReaderClassifies: a decoder's error is damage (ErrIntegrity)
// unless it says otherwise; one that stopped because its context ended
// (an interrupted restore whose decoder reads its own spool, as Fernet's
// does) is not reported as damage.
func TestDecodeReaderClassifies(t *testing.T) {
	for _, c := range []struct {
		err       error
		integrity bool
	}{
		{errors.New("bad padding"), true},
		{context.Canceled, false},
		{context.DeadlineExceeded, false},
		{pipeline.ErrLocal, false},
	} {
		r, err := pipeline.DecodeReader(context.Background(), "x", strings.NewReader("stored bytes"), func(io.Reader) (io.Reader, func(), error) {
			return failingReader{c.err}, nil, nil
		})
		if err != nil {
			t.Fatal(err)
		}
		_, err = io.ReadAll(r)
		r.Close()
		if errors.Is(err, pipeline.ErrIntegrity) != c.integrity || (!c.integrity && !errors.Is(err, c.err)) {
			t.Errorf("decoder error %v: read %v, want integrity %v", c.err, err, c.integrity)
		}
	}
}
