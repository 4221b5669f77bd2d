package pipeline

import (
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"slices"
	"strings"
	"sync/atomic"
	"time"

	"gocloud.dev/blob"
)

// ChainStage is one configured stage of a backup chain.
type ChainStage struct {
	Spec  StageSpec
	Stage Stage
}

// CheckChain reports whether stages form a valid backup chain: at most one
// compression and one encryption stage, compression first.
func CheckChain(stages []ChainStage) error {
	var seenComp, seenEnc bool
	for _, s := range stages {
		switch s.Spec.Kind {
		case Compression:
			if seenEnc {
				return fmt.Errorf("stage %q: compression must come before encryption (encrypted data does not compress)", s.Spec.Name)
			}
			if seenComp {
				return fmt.Errorf("stage %q: only one compression stage is allowed", s.Spec.Name)
			}
			seenComp = true
		case Encryption:
			if seenEnc {
				return fmt.Errorf("stage %q: only one encryption stage is allowed", s.Spec.Name)
			}
			seenEnc = true
		}
	}
	return nil
}

// A Backup describes one backup run: one source, encoded once, written to
// every target.
type Backup struct {
	Source  *Source
	Stages  []ChainStage // in backup order
	Targets []*Target
	// Name is the object name before extensions (see ExpandName).
	Name string
	// Pipeline is recorded in metadata when set.
	Pipeline string
	// Host is the machine's name the manifest records (see
	// [Manifest.Host]); empty means [ShortHost].
	Host string
	// ExpectedSize is the expected length of a source of unknown size
	// (stdin, a directory's tar stream), or -1. It sizes multipart uploads
	// and gives progress a total. When it is -1, a directory is measured
	// by walking its metadata before the backup starts, if a target plans
	// its upload from the size ([Target.Prepare] is set: S3, Azure, GCS)
	// or ProgressTotal is set.
	ExpectedSize int64
	// ProgressTotal asks for a directory source to be measured for the
	// Observer's BackupStart.ExpectedSize (an ETA) even when no target
	// needs its size. The walk costs about 10 µs per entry (warm cache),
	// which a backup to local targets without a progress display skips.
	ProgressTotal bool
	// Log receives progress and per-target events; nil discards them.
	Log *slog.Logger
	// Now is the backup's time; zero means time.Now().
	Now time.Time
	// StallTimeout aborts a target that makes no progress for this long:
	// a 1 MiB chunk write, or the final commit, that has not returned.
	// Zero waits forever.
	StallTimeout time.Duration
	// AllowChangingFiles archives a file of a directory source that
	// changes while it is read (an active log) as it was read, with a
	// warning naming it, instead of failing the backup (see
	// [archive.Options.OnChange]).
	AllowChangingFiles bool
	// AllOrNothing aborts every target when one fails, and removes what
	// the others already committed, so a run stores on all or on none.
	AllOrNothing bool
	// Observer follows the run (progress display, JSON events); nil for
	// none.
	Observer Observer
	// Bandwidth limits the upload rate; the zero value means unlimited.
	Bandwidth Bandwidth
	// UploadMemory bounds, in bytes, what the uploads of all targets
	// together buffer in memory (S3 multipart parts, Azure blocks, GCS
	// chunks): each target gets an equal share through [Target.Prepare].
	// Zero means [DefaultUploadMemory].
	UploadMemory int64
}

// objectName is the name the backup stores under unless it is taken:
// Name with the extensions of what the object holds. Check, PlanName and
// Run all start from it.
func (b *Backup) objectName() string { return b.Name + Extensions(b.Source.Archive, b.Stages) }

// host is the machine's name the manifest records: Host, else [ShortHost].
func (b *Backup) host() string {
	if b.Host != "" {
		return b.Host
	}
	return ShortHost()
}

// DefaultUploadMemory is the upload memory budget of a backup, shared by
// all its targets, when [Backup.UploadMemory] is zero.
const DefaultUploadMemory = 48 << 20

// MinUploadMemory is the smallest upload memory budget a user may set: one
// upload of 5 MiB parts (S3's minimum) with one part in flight.
const MinUploadMemory = 15 << 20

// CheckUploadMemory returns an error, for the caller to prefix with the
// flag or key that set it, when n bytes is below [MinUploadMemory].
func CheckUploadMemory(n int64) error {
	if n < MinUploadMemory {
		return fmt.Errorf("at least 15MiB (one upload of 5 MiB parts), got %d bytes", n)
	}
	return nil
}

// BackupResult reports a backup run.
type BackupResult struct {
	Object   string   // object name relative to each target's prefix, with extensions
	Stages   []string // recorded stage names, backup order
	BytesIn  int64    // read from the source
	BytesOut int64    // stored per target
	SHA256   string   // of the stored bytes
	Duration time.Duration
	Targets  []TargetResult
}

// TargetResult is the outcome on one target.
type TargetResult struct {
	Target string // display URL of the target
	URL    string // object URL when stored
	Err    error  // nil when stored
}

// Failed returns the number of targets that failed.
func (r *BackupResult) Failed() int {
	n := 0
	for _, t := range r.Targets {
		if t.Err != nil {
			n++
		}
	}
	return n
}

// ErrPartial is returned when some targets failed and others succeeded.
var ErrPartial = errors.New("some targets failed")

// Extensions returns the file extensions a backup's object name gets.
func Extensions(archived bool, stages []ChainStage) string {
	var b strings.Builder
	if archived {
		b.WriteString(".tar")
	}
	for _, s := range stages {
		b.WriteString(s.Spec.Extension)
	}
	return b.String()
}

// Check reports, without any I/O, what would make [Backup.Run] fail
// before it reads anything: no target, a stage chain out of order, a bad
// Name, an object name a target cannot store ([Target.CheckKey]). Those
// are the caller's to fix; Run checks them first too.
func (b *Backup) Check() error {
	if len(b.Targets) == 0 {
		return errors.New("backup: no target")
	}
	if err := CheckChain(b.Stages); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	if err := CheckName(b.Name); err != nil {
		return fmt.Errorf("backup: %w", err)
	}
	name := b.objectName()
	for _, t := range b.Targets {
		if t.CheckKey == nil {
			continue
		}
		if err := t.CheckKey(t.Key(name)); err != nil {
			return fmt.Errorf("backup: target %s: %w", t.URL, err)
		}
	}
	return nil
}

// Run performs the backup. It returns a result describing every target,
// and an error when nothing was stored (all targets failed, or the source
// or an encoder failed) or, wrapping [ErrPartial], when some targets failed.
// Failed targets are left with no object: writes are aborted, never
// committed. Entries a directory source leaves out for a reason other
// than its excludes (sockets, devices, named pipes, entries that vanished
// while it was read) are logged at warn level, one record each.
func (b *Backup) Run(ctx context.Context) (*BackupResult, error) {
	start := time.Now()
	log := b.Log
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	if err := b.Check(); err != nil {
		return nil, err
	}
	res := &BackupResult{}
	if b.Source.Archive {
		res.Stages = append(res.Stages, StageArchive)
	}
	for _, s := range b.Stages {
		if s.Spec.Extension != "" {
			res.Stages = append(res.Stages, s.Spec.Name)
		}
	}
	name, unclaimed, release, err := b.claimName(ctx, b.objectName(), b.readyTargets(ctx))
	if err != nil {
		return nil, err
	}
	defer release()
	res.Object = name

	meta := map[string]string{MetaStages: strings.Join(res.Stages, ","), MetaFormat: ManifestFormat}
	if b.Pipeline != "" {
		meta[MetaPipeline] = b.Pipeline
	}
	expected := int64(-1)
	if len(unclaimed) < len(b.Targets) { // else nothing will be written
		if expected, err = b.expectedSize(ctx, log); err != nil {
			return nil, err
		}
	}
	write := Write{Size: storedSizeHint(expected), Memory: b.uploadShare(unclaimed)}
	fan := newFanout(ctx, log)
	fan.stall, fan.allOrNothing = b.StallTimeout, b.AllOrNothing
	for _, t := range b.Targets {
		if err := unclaimed[t]; err != nil {
			fan.skip(t, name, err)
			continue
		}
		fan.open(t, name, meta, write)
	}
	obs := b.observer()
	fan.setHooks(obs, b.Bandwidth, realClock{})
	defer func() { reportTargets(obs, res.Targets) }()
	if first, none := fan.firstErr(), len(fan.live()) == 0; none || (b.AllOrNothing && first != nil) {
		// Nothing can or may be stored: fail before reading anything.
		fan.abortAll(errAllOrNothing)
		res.Targets = fan.commit(nil)
		if none {
			return res, errEveryTarget(res.Targets)
		}
		return res, fmt.Errorf("backup: every target failed: %w", first)
	}

	read := ReadOptions{OnSkip: func(path, reason string) {
		log.Warn("left out of the archive", "path", path, "reason", reason)
	}}
	if b.AllowChangingFiles {
		read.OnChange = func(path, what string) {
			log.Warn("archived as read", "path", path, "change", what)
		}
	}
	src, err := b.Source.OpenWith(ctx, read)
	if err != nil {
		fan.abortAll(err)
		return nil, err
	}
	defer src.Close()
	started := BackupStart{Object: name, SourceSize: b.Source.Size, ExpectedSize: -1, Targets: targetURLs(b.Targets)}
	if b.Source.Size < 0 {
		started.ExpectedSize = expected
	}
	obs.Started(started)
	in := &countingReader{r: src, obs: obs}
	var stream io.Reader = in
	for _, s := range b.Stages {
		enc, err := s.Stage.Encode(ctx, stream)
		if err != nil {
			err = fmt.Errorf("backup: stage %q: %w", s.Spec.Name, err)
			fan.abortAll(err)
			return nil, err
		}
		defer enc.Close()
		stream = enc
	}
	hash := sha256.New()
	n, copyErr := fan.copy(stream, hash)
	res.BytesIn = in.n.Load()
	res.BytesOut = n
	res.SHA256 = hex.EncodeToString(hash.Sum(nil))
	if copyErr != nil {
		fan.abortAll(copyErr)
	}
	m := &Manifest{
		Format: ManifestFormat, Object: name, Pipeline: b.Pipeline, Source: b.Source.Name, Host: b.host(), Stages: res.Stages,
		Size: n, SHA256: res.SHA256, BytesIn: res.BytesIn, Created: b.now().UTC(),
	}
	res.Targets = fan.commit(m)
	res.Duration = time.Since(start)
	switch {
	case errors.Is(copyErr, errNoTargetLeft):
		return res, errEveryTarget(res.Targets)
	case copyErr != nil:
		return res, fmt.Errorf("backup: %w", copyErr)
	}
	switch failed := res.Failed(); {
	case failed == len(res.Targets):
		return res, errEveryTarget(res.Targets)
	case failed > 0:
		return res, fmt.Errorf("backup: %d of %d targets failed: %w", failed, len(res.Targets), ErrPartial)
	}
	return res, nil
}

func (b *Backup) now() time.Time {
	if b.Now.IsZero() {
		return time.Now()
	}
	return b.Now
}

// errEveryTarget is the error of a backup that no target stored: every
// target's reason, in one line, the first one wrapped so its kind (a
// stall, say) can still be told.
func errEveryTarget(results []TargetResult) error {
	var first error
	var more []string
	for _, r := range results {
		switch {
		case r.Err == nil:
		case first == nil:
			first = r.Err
		default:
			more = append(more, r.Err.Error())
		}
	}
	if len(more) == 0 {
		return fmt.Errorf("backup: every target failed: %w", first)
	}
	return fmt.Errorf("backup: every target failed: %w; %s", first, strings.Join(more, "; "))
}

// expectedSize is the source's length as far as it is known before
// reading: its Size, else ExpectedSize, else for a directory that a target
// or the progress display needs the size of, the length of its tar stream
// measured now, else -1. Only cancellation is an error: a tree that
// cannot be measured is logged and read as a stream of unknown length,
// and the archive reports what is wrong with it.
func (b *Backup) expectedSize(ctx context.Context, log *slog.Logger) (int64, error) {
	switch {
	case b.Source.Size >= 0:
		return b.Source.Size, nil
	case b.ExpectedSize >= 0:
		return b.ExpectedSize, nil
	case !b.ProgressTotal && !slices.ContainsFunc(b.Targets, func(t *Target) bool { return t.Prepare != nil }):
		return -1, nil
	}
	// A large tree on a cold cache can take a while: say what is
	// happening, and how to skip it, rather than sit silent.
	level := slog.LevelDebug
	noticed := make(chan struct{})
	slow := time.AfterFunc(measureNotice, func() {
		defer close(noticed)
		level = slog.LevelInfo
		log.Info("measuring the source to size the upload (--expected-size skips this)", "source", b.Source.Name)
	})
	start := time.Now()
	size, ok, err := b.Source.Measure(ctx)
	if !slow.Stop() {
		<-noticed // the notice has started: let it finish
	}
	switch {
	case !ok:
		return -1, nil
	case ctx.Err() != nil:
		return -1, fmt.Errorf("backup: measuring the source: %w", context.Cause(ctx))
	case err != nil:
		log.Log(ctx, level, "source not measured; its size is unknown", "err", err)
		return -1, nil
	}
	log.Log(ctx, level, "measured source", "entries", size.Entries, "files", size.Files, "bytes", size.Archive, "took", time.Since(start).Round(time.Millisecond).String())
	return size.Archive, nil
}

// measureNotice is how long measuring a source may take before the
// backup logs, at info level, that it is measuring; the result is then
// logged at info level too, instead of debug.
var measureNotice = 2 * time.Second

// storedSizeHint estimates the stored size from the source's expected
// size (-1: unknown), for choosing part sizes: room is added for
// incompressible data and encryption overhead.
func storedSizeHint(expected int64) int64 {
	if expected < 0 {
		return -1
	}
	return expected + expected/64 + 1<<20
}

// uploadShare is each target's share of the upload memory budget: the
// budget divided by the targets that will be written (those whose name
// claim did not fail), so the total stays within the budget whatever
// their number.
func (b *Backup) uploadShare(unclaimed map[*Target]error) int64 {
	budget := b.UploadMemory
	if budget <= 0 {
		budget = DefaultUploadMemory
	}
	n := int64(0)
	for _, t := range b.Targets {
		if unclaimed[t] == nil {
			n++
		}
	}
	return budget / max(n, 1)
}

// countingReader counts bytes read. The count is atomic because an
// encoder goroutine may still be reading when a failed run reports it.
type countingReader struct {
	r   io.Reader
	n   atomic.Int64
	obs Observer
}

func (c *countingReader) Read(p []byte) (int, error) {
	n, err := c.r.Read(p)
	c.n.Add(int64(n))
	if n > 0 {
		c.obs.Read(n)
	}
	return n, err
}

// smallWriterOptions are the writer options of a small JSON object
// beside a backup's data (its manifest, its claim): written only if
// absent, and prepared by the target like the data, as kind.
func smallWriterOptions(t *Target, meta map[string]string, size int, kind WriteKind) (*blob.WriterOptions, error) {
	wo, _, err := writerOptions(t, meta, Write{Size: int64(size), Kind: kind})
	if err != nil {
		return nil, err
	}
	wo.ContentType = "application/json"
	return wo, nil
}

// writerOptions builds the options for an object write on t.
func writerOptions(t *Target, meta map[string]string, w Write) (*blob.WriterOptions, int64, error) {
	wo := &blob.WriterOptions{
		ContentType: "application/octet-stream",
		Metadata:    meta,
		IfNotExist:  true,
	}
	var limit int64
	if t.Prepare != nil {
		var err error
		if limit, err = t.Prepare(wo, w); err != nil {
			return nil, 0, err
		}
	}
	return wo, limit, nil
}
