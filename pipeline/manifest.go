package pipeline

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"strings"
	"time"

	"gocloud.dev/gcerrors"
)

// ManifestSuffix is appended to an object's name to name its manifest.
const ManifestSuffix = ".sluice.json"

// ManifestFormat identifies version 1 of the manifest.
const ManifestFormat = "sluice/1"

// Metadata keys sluice sets on every object it stores.
const (
	MetaStages   = "sluice-stages"   // comma-separated, backup order: "tar,zstd,age"
	MetaFormat   = "sluice-format"   // ManifestFormat
	MetaPipeline = "sluice-pipeline" // pipeline name, if any
)

// A Manifest is the small JSON document stored beside every object. It
// records what is needed to check and decode the object and nothing
// private: no paths, no file lists, no keys.
//
// Source is the base name of the path backed up ("photos"), or "stdin":
// what the object name already shows through {source}. Host is the short
// name of the machine that made the backup, as {host} renders it.
// Retention applies per pipeline, source and host, so a pipeline with
// several sources keeps each one's history, and machines that share a
// target prefix keep their own (see [RetentionGroups]). Manifests written
// before sluice recorded them have neither.
type Manifest struct {
	Format   string    `json:"format"`
	Object   string    `json:"object"`             // object name, relative to the target prefix
	Pipeline string    `json:"pipeline,omitempty"` // declaring pipeline, if any
	Source   string    `json:"source,omitempty"`   // source name as {source} renders it ([Source.Name]); see below
	Host     string    `json:"host,omitempty"`     // short host name as {host} renders it; see below
	Stages   []string  `json:"stages"`             // backup order, "tar" first when archived
	Size     int64     `json:"size"`               // stored bytes
	SHA256   string    `json:"sha256"`             // of the stored bytes, hex
	BytesIn  int64     `json:"bytes_in"`           // bytes read from the source
	Created  time.Time `json:"created"`
}

// StageArchive is the pseudo-stage name recorded for tar archives.
const StageArchive = "tar"

// ReadManifest reads the manifest of the object name on t. It returns
// (nil, nil) when there is none.
func ReadManifest(ctx context.Context, t *Target, name string) (*Manifest, error) {
	r, err := t.Bucket.NewReader(ctx, t.Key(name+ManifestSuffix), nil)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, nil
	}
	if err != nil {
		return nil, fmt.Errorf("read manifest: %w", err)
	}
	defer r.Close()
	var m Manifest
	dec := json.NewDecoder(io.LimitReader(r, 1<<20))
	if err := dec.Decode(&m); err != nil {
		return nil, unusableManifest{fmt.Errorf("manifest %s: %w: %v", name+ManifestSuffix, ErrIntegrity, err)}
	}
	if m.Format != ManifestFormat {
		return nil, unusableManifest{fmt.Errorf("manifest %s: unsupported format %q", name+ManifestSuffix, m.Format)}
	}
	return &m, nil
}

// unusableManifest is [ReadManifest]'s error for a manifest that was read
// but is not one sluice can use (damaged, or of another format), as
// opposed to one that could not be read.
type unusableManifest struct{ error }

func (e unusableManifest) Unwrap() []error { return []error{e.error, ErrManifestUnusable} }

// ErrManifestUnusable marks a manifest that was read but cannot be used
// (damaged, or of another format): decoding stops before the object is
// read.
var ErrManifestUnusable = errors.New("manifest cannot be used")

func writeManifest(ctx context.Context, t *Target, m *Manifest) error {
	b, err := json.MarshalIndent(m, "", "  ")
	if err != nil {
		return err
	}
	body := append(b, '\n')
	wo, err := smallWriterOptions(t, map[string]string{MetaFormat: ManifestFormat}, len(body), WriteManifest)
	if err != nil {
		return err
	}
	var d Durability
	if t.Durable != nil {
		d = t.Durable(wo)
	}
	return writeSmall(ctx, t.Bucket, t.Key(m.Object+ManifestSuffix), body, wo, d)
}

// StagesFromMetadata returns the stage list recorded in an object's
// metadata, or nil when it has none.
func StagesFromMetadata(md map[string]string) []string {
	v := md[MetaStages]
	if v == "" {
		return nil
	}
	return strings.Split(v, ",")
}

// IsManifestName reports whether an object name is a manifest.
func IsManifestName(name string) bool { return strings.HasSuffix(name, ManifestSuffix) }

func isExists(err error) bool {
	return errors.Is(err, ErrExists) || gcerrors.Code(err) == gcerrors.FailedPrecondition
}
