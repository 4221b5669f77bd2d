package pipeline

import (
	"bufio"
	"context"
	"crypto/sha256"
	"encoding/hex"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync/atomic"
	"unicode/utf8"

	"gocloud.dev/gcerrors"

	"github.com/sluice-backup/sluice/pipeline/archive"
	"github.com/sluice-backup/sluice/pipeline/fsync"
	"github.com/sluice-backup/sluice/pipeline/sparse"
)

// ErrNotFound marks an object that does not exist.
var ErrNotFound = errors.New("object not found")

// Keys holds the options each stage needs to decode, by stage name: for
// example {"age": {"identity_file": [...]}}. Stages without an entry are
// built with no options.
type Keys map[string]map[string]any

// A Decoder opens stored objects and undoes their stages.
type Decoder struct {
	// Registry resolves stage names; nil means Default.
	Registry *Registry
	// Keys are the decoding options per stage.
	Keys Keys
	// Extract controls what archive extraction allows beyond the safe
	// default: device nodes, setuid/setgid bits, external symlinks. Its
	// Sparse applies to a single stream restored to a file too.
	Extract archive.ExtractOptions
	// Opened, if set, is called by RestoreTo once the object is open and
	// its stages are known, before its data is read: a progress display
	// keeps the object to poll its counters. It must return quickly and
	// must not read from the object.
	Opened func(*Decoded)
	// Lifted, if set, makes VerifyDecoded accept an archive entry that a
	// restore under Extract refuses only because a restore flag is off (an
	// external symlink, a device node), and is called with the refusal,
	// which names the entry and the flag: the archive is intact, and a
	// restore with that flag restores it.
	Lifted func(error)
}

// Decoded is an object's decoded stream. Read it to the end, then call
// Verify before trusting (committing) what was read; Close always.
type Decoded struct {
	io.Reader
	// Archive reports that the decoded stream is a tar archive.
	Archive bool
	// Stages are the stages found, in backup order ("tar" first if
	// archived).
	Stages []string
	// Manifest is the object's manifest, nil for objects sluice did not
	// make.
	Manifest *Manifest
	// StoredSize is the stored object's size in bytes, as its store
	// reports it.
	StoredSize int64

	name     string
	named    []string // the stages name's extensions promise
	recorded bool     // Stages come from metadata or the manifest, not detection
	raw      io.ReadCloser
	hashed   *hashAhead
	cancel   context.CancelFunc // stops reads of raw
	closers  []io.Closer
	decoded  atomic.Int64 // bytes returned by Read
}

// Read reads the decoded stream.
func (o *Decoded) Read(p []byte) (int, error) {
	n, err := o.Reader.Read(p)
	o.decoded.Add(int64(n))
	return n, err
}

// DecodedBytes returns how many decoded bytes Read has returned so far.
// It is safe to call from any goroutine.
func (o *Decoded) DecodedBytes() int64 { return o.decoded.Load() }

// Open opens object name on t and sets up its decoding. Stages are taken
// from the object's metadata, else its manifest, else detected from magic
// bytes layer by layer, so objects written by other tools (tar | zstd |
// age, gzip) decode too. Detected stages must include every stage the
// name's extensions promise (".tar.zst.age": tar, zstd, age), so an object
// whose header was damaged, or that was emptied, fails rather than
// restoring as raw bytes when no metadata or manifest says otherwise.
//
// Neither metadata nor the manifest is authenticated, so recorded stages
// are checked too: against the name here (see [checkRecordedStages]), and
// by [Decoded.Verify] against the byte count the manifest records, which
// a stage list cut short (".zst.age" recorded as just age) cannot match.
func (d *Decoder) Open(ctx context.Context, t *Target, name string) (*Decoded, error) {
	reg := d.Registry
	if reg == nil {
		reg = Default
	}
	key := t.Key(name)
	attrs, err := t.Bucket.Attributes(ctx, key)
	if gcerrors.Code(err) == gcerrors.NotFound {
		return nil, fmt.Errorf("%w: %s", ErrNotFound, t.ObjectURL(name))
	}
	if err != nil {
		return nil, fmt.Errorf("open %s: %w", t.ObjectURL(name), err)
	}
	man, err := ReadManifest(ctx, t, name)
	if errors.Is(err, ErrManifestUnusable) {
		// The manifest guards the decoding (its stages, size and
		// checksum), so a damaged one stops it; the object may well be
		// intact, and decodes without it.
		return nil, fmt.Errorf("%w; the object is not decoded past a manifest that cannot be used: if the object is intact, move the manifest (%s) aside and run this again, which decodes the object by its metadata or its name's extensions and magic bytes, with no checksum to check it against", err, t.ObjectURL(name+ManifestSuffix))
	}
	if err != nil {
		return nil, err
	}
	recorded, from := StagesFromMetadata(attrs.Metadata), "metadata"
	if recorded == nil && man != nil {
		recorded, from = man.Stages, "manifest"
	}
	if recorded == nil && (man != nil || attrs.Metadata[MetaFormat] != "") {
		// sluice records no stage list (a manifest's "stages": null, no
		// sluice-stages metadata) for an object it stored with no stage:
		// its bytes are what was backed up, even when they happen to be
		// gzip or zstd data, so they are not detected and decoded.
		recorded = []string{}
	}
	named := StagesFromName(reg, name)
	if recorded != nil {
		if err := checkRecordedStages(t.ObjectURL(name), from, named, recorded); err != nil {
			return nil, err
		}
	}
	readCtx, cancel := context.WithCancel(ctx)
	raw, err := openResuming(readCtx, t.Bucket, key, attrs.Size)
	if err != nil {
		cancel()
		return nil, fmt.Errorf("open %s: %w", t.ObjectURL(name), err)
	}
	out := &Decoded{name: name, raw: raw, Manifest: man, StoredSize: attrs.Size, cancel: cancel, named: named, recorded: recorded != nil}
	out.hashed = newHashAhead(raw, sha256.New())
	var stream io.Reader = out.hashed
	if recorded != nil {
		err = out.decodeRecorded(ctx, reg, d.Keys, recorded, stream)
	} else {
		err = out.decodeDetected(ctx, reg, d.Keys, stream)
		if err == nil {
			err = checkNamedStages(reg, t.ObjectURL(name), name, out.Stages)
		}
	}
	if err != nil {
		out.Close()
		return nil, err
	}
	return out, nil
}

func (o *Decoded) decodeRecorded(ctx context.Context, reg *Registry, keys Keys, recorded []string, stream io.Reader) error {
	for i := len(recorded) - 1; i >= 0; i-- {
		name := recorded[i]
		if name == StageArchive {
			if i != 0 {
				return fmt.Errorf("recorded stages %q: tar must come first", strings.Join(recorded, ","))
			}
			o.Archive = true
			continue
		}
		dec, err := openDecode(ctx, reg, keys, name, stream)
		if err != nil {
			return err
		}
		o.closers = append(o.closers, dec)
		stream = dec
	}
	o.Stages = recorded
	o.Reader = stream
	return nil
}

// maxLayers bounds detection so a crafted object cannot nest forever.
const maxLayers = 4

func (o *Decoded) decodeDetected(ctx context.Context, reg *Registry, keys Keys, stream io.Reader) error {
	var found []string
	br := bufio.NewReaderSize(stream, 64<<10)
	for range maxLayers {
		head, err := br.Peek(DetectLen)
		if err != nil && err != io.EOF && err != bufio.ErrBufferFull {
			return fmt.Errorf("detect format: %w", err)
		}
		if archive.IsTar(head) {
			o.Archive = true
			found = append(found, StageArchive)
			break
		}
		spec, ok := reg.Detect(head)
		if !ok {
			// An archive with no entries is only its end-of-archive
			// marker: zeros, which prove nothing by themselves. They are
			// taken for tar where the name promises tar.
			if len(o.named) > 0 && o.named[0] == StageArchive && archive.IsEndMarker(head) {
				o.Archive = true
				found = append(found, StageArchive)
			}
			break
		}
		dec, err := openDecode(ctx, reg, keys, spec.Name, br)
		if err != nil {
			return err
		}
		o.closers = append(o.closers, dec)
		found = append(found, spec.Name)
		br = bufio.NewReaderSize(dec, 64<<10)
	}
	// Record in backup order.
	for i, j := 0, len(found)-1; i < j; i, j = i+1, j-1 {
		found[i], found[j] = found[j], found[i]
	}
	o.Stages = found
	o.Reader = br
	return nil
}

// openDecode starts stage name's decoder on src. Its errors name the
// stage, unless the decoder failed because src did: a decoder that reads
// its header when it starts (gzip) passes on the layer below's error
// (a damaged age chunk), which must not be blamed on this stage.
func openDecode(ctx context.Context, reg *Registry, keys Keys, name string, src io.Reader) (io.ReadCloser, error) {
	st, err := reg.NewStage(name, keys[name])
	if err != nil {
		return nil, err
	}
	below := &readErr{r: src}
	dec, err := st.Decode(ctx, below)
	if err != nil {
		if below.err != nil && errors.Is(err, below.err) {
			return nil, err
		}
		return nil, fmt.Errorf("stage %q: %w", name, err)
	}
	return dec, nil
}

// readErr remembers the first error other than io.EOF its reader returned.
type readErr struct {
	r   io.Reader
	err error
}

func (e *readErr) Read(p []byte) (int, error) {
	n, err := e.r.Read(p)
	if err != nil && err != io.EOF && e.err == nil {
		e.err = err
	}
	return n, err
}

// Verify decodes what remains of the decoded stream (an archive's
// padding, the stages' trailers), drains the stored object, and checks it
// against the manifest, if there is one: the stored size and SHA-256, and,
// when the stages were recorded rather than detected, that decoding gave
// as many bytes as the backup read from its source. Call it after the
// decoded stream has been read to its end.
func (o *Decoded) Verify() error {
	if _, err := io.Copy(io.Discard, o); err != nil {
		return fmt.Errorf("%s: %w", o.name, err)
	}
	if _, err := io.Copy(io.Discard, o.hashed); err != nil {
		return fmt.Errorf("read %s: %w", o.name, err)
	}
	m := o.Manifest
	if m == nil {
		return nil
	}
	if n := o.hashed.Total(); n != m.Size {
		return fmt.Errorf("%s: %w: stored size %d, manifest says %d", o.name, ErrIntegrity, n, m.Size)
	}
	if got := hex.EncodeToString(o.hashed.Sum()); got != m.SHA256 {
		return fmt.Errorf("%s: %w: SHA-256 %s, manifest says %s", o.name, ErrIntegrity, got, m.SHA256)
	}
	// The stored bytes are intact, so a wrong length here means the
	// recorded stages are not the ones the backup applied.
	if n := o.DecodedBytes(); o.recorded && n != m.BytesIn {
		return fmt.Errorf("%s: %w: the stages recorded for it (%s) decode it to %d bytes, but the backup read %d; its name says %s (damaged manifest or metadata)",
			o.name, ErrIntegrity, stageList(o.Stages), n, m.BytesIn, stageList(o.named))
	}
	return nil
}

// StoredBytes returns how many stored bytes the decoders have read so far.
// It is safe to call from any goroutine.
func (o *Decoded) StoredBytes() int64 { return o.hashed.Consumed() }

// Close releases the decoders and the object reader.
func (o *Decoded) Close() error {
	for i := len(o.closers) - 1; i >= 0; i-- {
		o.closers[i].Close()
	}
	o.closers = nil
	if o.raw != nil {
		o.cancel()
		o.hashed.Close()
		err := o.raw.Close()
		o.raw = nil
		return err
	}
	return nil
}

// RestoreTo decodes object name on t to dest: an archive is extracted into
// directory dest, a single stream is written to file dest, and "-" writes
// the decoded stream to stdout.
//
// When dest is an existing directory, or ends in a path separator (a
// directory, created with its parents if missing), a single stream is
// written to a file inside it named after the object without the
// extensions of the stages that were decoded ("dump.sql.gz.zst.age" →
// "dump.sql.gz"), and an archive is extracted into it (an existing one
// must be empty; a symlink to one is followed only when dest ends in a
// separator). When dest is a character device or a named pipe
// (/dev/null, a FIFO), the decoded stream is written to it as to stdout,
// archive or not. The destination is checked before the object is read.
//
// Nothing appears at dest unless the whole object decoded and verified:
// output goes to a temporary name and is moved into place at the end. An
// existing empty directory is never replaced: the archive is extracted
// into a temporary folder inside it, so it keeps its inode, mode and
// owner and stays on its filesystem (a mount point), and it is left empty
// if the restore fails, whatever modes the archive gives its folders. It
// returns the final path written ("-" for stdout). An [ErrNoIdentity]
// error tells, for an object with a manifest, how to check whether the
// object is damaged rather than the key wrong.
func (d *Decoder) RestoreTo(ctx context.Context, t *Target, name, dest string, stdout io.Writer) (_ string, err error) {
	defer func() { err = hintDamage(ctx, t, name, err) }()
	kind, err := destKind(dest)
	if err != nil {
		return "", err
	}
	obj, err := d.Open(ctx, t, name)
	if err != nil {
		return "", err
	}
	defer obj.Close()
	if d.Opened != nil {
		d.Opened(obj)
	}
	switch kind {
	case destStdout:
		if _, err := CopyContext(ctx, stdout, obj); err != nil {
			return "", err
		}
		return "-", obj.Verify()
	case destStream:
		return dest, restoreStream(ctx, obj, dest)
	}
	if obj.Archive {
		return dest, restoreArchive(ctx, obj, dest, d.Extract)
	}
	if kind == destDir {
		dest = filepath.Join(dest, restoredName(d.registry(), filepath.Base(name), obj.Stages))
	}
	return dest, restoreFile(ctx, obj, dest, d.Extract.Sparse)
}

// What a restore destination is, as far as it can be told before the
// object is read.
const (
	destPath   = iota // a new path, file or directory as the object needs
	destDir           // a directory, existing or to be created
	destStdout        // "-"
	destStream        // a character device or named pipe, written in place
)

// destKind tells what dest is, failing for an existing destination that
// no object could be restored to: a file, or a trailing separator on
// something that is not a directory.
func destKind(dest string) (int, error) {
	if dest == "-" {
		return destStdout, nil
	}
	slash := endsInSeparator(dest)
	st, err := os.Stat(dest)
	switch {
	case errors.Is(err, fs.ErrNotExist):
		// Without the separator, which would make lstat follow it.
		if _, err := os.Lstat(filepath.Clean(dest)); err == nil {
			return 0, danglingLink(dest)
		}
		if slash {
			return destDir, nil
		}
		return destPath, nil
	case err != nil:
		return 0, fmt.Errorf("destination: %w", err)
	case st.IsDir():
		return destDir, nil
	case st.Mode()&(fs.ModeCharDevice|fs.ModeNamedPipe) != 0:
		return destStream, nil
	case slash:
		return 0, fmt.Errorf("destination %s is not a directory", dest)
	}
	return 0, fmt.Errorf("destination %s already exists; restore never overwrites, choose another path", dest)
}

// restoreStream writes obj's decoded stream to dest, a character device
// or named pipe, which is opened for writing as it is: nothing is created
// or truncated.
func restoreStream(ctx context.Context, obj *Decoded, dest string) error {
	f, err := os.OpenFile(dest, os.O_WRONLY, 0)
	if err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	if _, err := CopyContext(ctx, f, obj); err != nil {
		f.Close()
		return err
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	return obj.Verify()
}

func (d *Decoder) registry() *Registry {
	if d.Registry == nil {
		return Default
	}
	return d.Registry
}

// StagesFromName returns the stages an object name's extensions promise,
// in backup order ("x.tar.zst.age": tar, zstd, age), reading known stage
// extensions (and .tar) from the end of the name; nil if it ends in none.
func StagesFromName(reg *Registry, name string) []string {
	var stages []string
	for {
		ext := filepath.Ext(name)
		if ext == "" || ext == name {
			break
		}
		if ext == ".tar" {
			stages = append(stages, StageArchive)
		} else if spec, ok := reg.StageByExtension(ext); ok {
			stages = append(stages, spec.Name)
		} else {
			break
		}
		name = strings.TrimSuffix(name, ext)
	}
	slices.Reverse(stages)
	return stages
}

// checkRecordedStages fails with [ErrIntegrity] unless the stages
// recorded (backup order) for an object, from its metadata or manifest,
// are the last stages its name promises (named). A backup appends one
// extension per recorded stage to the name it was given, and that name
// may itself end in one ("{source}" of "dump.sql.gz" stored with zstd
// and age is "dump.sql.gz.zst.age", recorded as zstd, age), so the name
// may promise more than was recorded, never other or fewer stages. A name
// that promises none (renamed, or copied to a name without extensions) is
// not checked.
func checkRecordedStages(url, from string, named, recorded []string) error {
	if len(named) == 0 || (len(recorded) <= len(named) && slices.Equal(recorded, named[len(named)-len(recorded):])) {
		return nil
	}
	return fmt.Errorf("open %s: %w: its name says %s but its %s records %s (damaged, or misnamed)",
		url, ErrIntegrity, stageList(named), from, stageList(recorded))
}

// stageList renders stages for messages: "tar,zstd,age", or "none".
func stageList(stages []string) string {
	if len(stages) == 0 {
		return "none"
	}
	return strings.Join(stages, ",")
}

// checkNamedStages fails with [ErrIntegrity] unless every stage name's
// extensions promise was detected, in the same order (backup order).
// Detection may find more than the name says, never less: "x.gz" holding
// a tar, or a gzip'd tar named "backup.tar", restores; "x.tar.zst" whose
// content shows no tar, or shows gzip instead of zstd, does not. It
// serves objects without a manifest or metadata (foreign ones), whose
// names nothing else checks.
func checkNamedStages(reg *Registry, url, name string, detected []string) error {
	named := StagesFromName(reg, name)
	if isSubsequence(named, detected) {
		return nil
	}
	found := strings.Join(detected, ",")
	if found == "" {
		found = "no known format"
	}
	return fmt.Errorf("open %s: %w: its name says %s but its content shows %s (damaged, or misnamed)",
		url, ErrIntegrity, strings.Join(named, ","), found)
}

// restoredName is the name a single stream restored into a directory
// gets: object name without the extensions of stages, the stages that
// were decoded (backup order), read from the end of the name, each
// matching a decoded stage earlier than the one before (detection may
// find stages the name does not tell). Extensions the backup did not add
// stay: "dump.sql.gz.zst.age" decoded with zstd and age is
// "dump.sql.gz", "arch.tar" stored with no stage is "arch.tar".
func restoredName(reg *Registry, name string, stages []string) string {
	left := stages
	for {
		ext := filepath.Ext(name)
		if ext == "" || ext == name {
			return name
		}
		spec, ok := reg.StageByExtension(ext)
		if !ok {
			return name
		}
		i := -1
		for j := len(left) - 1; j >= 0; j-- {
			if left[j] == spec.Name {
				i = j
				break
			}
		}
		if i < 0 {
			return name
		}
		left = left[:i]
		name = strings.TrimSuffix(name, ext)
	}
}

// tmpPrefix begins the name of the temporary folder an archive is
// extracted into inside an existing empty destination.
const tmpPrefix = ".sluice-tmp-"

// tempPrefixFor is the start of the name of the temporary file or folder
// a restore to dest fills beside it: "." and dest's base name, cut so
// that with tmpPrefix and the random number [newName] adds it stays
// within the 255 bytes a name may have (dest's own name may use them
// all), then tmpPrefix.
func tempPrefixFor(dest string) string {
	base := filepath.Base(dest)
	if room := 255 - len(".") - len(tmpPrefix) - len("4294967295"); len(base) > room {
		base = base[:room]
		for !utf8.ValidString(base) { // not in the middle of a character
			base = base[:len(base)-1]
		}
	}
	return "." + base + tmpPrefix
}

// restoreArchive extracts obj into dest: a new directory, or an existing
// empty one (see [restoreIntoEmpty]). dest ending in a separator follows
// a symlink to a directory; without one, a symlink is not a directory.
// On failure nothing is left: the temporary tree is removed, folders the
// archive made read-only included. On success the tree is on the disk,
// flushed before it appears at dest (see [fsync.TreeRoot]), and so are
// the names that lead to it.
//
// dest's parent may belong to another user, who can rename entries in it
// at any time: the temporary folder is used only through descriptors
// (see [tempDir]), and the rename that makes it appear at dest is checked
// to have moved that very folder. If its name was given to something
// else, the restore fails and leaves that where it is.
func restoreArchive(ctx context.Context, obj *Decoded, dest string, opts archive.ExtractOptions) error {
	stat := os.Lstat
	if endsInSeparator(dest) {
		stat = os.Stat
	}
	clean := filepath.Clean(dest)
	st, err := stat(clean)
	if err == nil {
		if !st.IsDir() {
			return fmt.Errorf("destination %s exists and is not a directory", clean)
		}
		dir, err := openFolder(os.OpenRoot(clean))
		if err != nil {
			return fmt.Errorf("destination: %w", err)
		}
		defer dir.close()
		entries, err := dir.file.ReadDir(-1)
		if err != nil {
			return fmt.Errorf("destination: %w", err)
		}
		slices.SortFunc(entries, func(a, b fs.DirEntry) int { return strings.Compare(a.Name(), b.Name()) })
		if len(entries) > 0 {
			return notEmpty(clean, entries)
		}
		return restoreIntoEmpty(ctx, obj, dir, opts)
	}
	if _, err := os.Lstat(clean); err == nil {
		return danglingLink(dest)
	}
	dest = clean
	parent := filepath.Dir(dest)
	made, err := mkdirParents(parent)
	if err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			removeEmptyDirs(made)
		}
	}()
	dir, err := openFolder(os.OpenRoot(parent))
	if err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	defer dir.close()
	tmp, err := makeTemp(dir, tempPrefixFor(dest))
	if err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	defer func() {
		if committed {
			tmp.close()
		} else {
			tmp.remove()
		}
	}()
	if err := archive.ExtractRoot(ctx, obj, tmp.root, opts); err != nil {
		return err
	}
	tempStep("extracted", dir, tmp.name)
	if err := obj.Verify(); err != nil {
		return err
	}
	// It was made 0700; give it the mode mkdir would have.
	if err := tmp.file.Chmod(0o777 &^ processUmask()); err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	if err := fsync.TreeRoot(tmp.root); err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	// The flush may take long on a busy file system: an interrupt that
	// came meanwhile still stops the restore before it appears.
	if err := ctx.Err(); err != nil {
		return err
	}
	name := filepath.Base(dest)
	tempStep("renaming", dir, tmp.name)
	if err := renameAt(dir.file, tmp.name, dir.file, name); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("destination %s appeared during the restore; left untouched", dest)
		}
		return fmt.Errorf("destination: %w", err)
	}
	if !tmp.holdsIt(name) {
		// What moved to dest is what another user had put under the
		// temporary name: theirs, in their folder, left as it is.
		return fmt.Errorf("destination: %w", errTempReplaced("folder", dir, tmp.name))
	}
	tmp.name = name
	if err := flushNames(dir, made); err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	// Interrupted while flushing: it said it stops and cleans up.
	if err := ctx.Err(); err != nil {
		return err
	}
	committed = true
	return nil
}

// danglingLink is the error for dest, a symlink whose target does not
// exist: with a trailing separator it names a folder that is not there;
// without, restoring to it would replace the link.
func danglingLink(dest string) error {
	if endsInSeparator(dest) {
		return fmt.Errorf("destination %s is a symlink to a folder that does not exist; create the folder first, or choose another path", dest)
	}
	return fmt.Errorf("destination %s is a symlink to a missing path; restore never overwrites, choose another path", dest)
}

// notEmpty is the error for an archive's destination that holds entries.
// It names the temporary folders of restores into it, which a crash or a
// second interrupt leaves behind hidden: alone, or beside the entries a
// restore killed while moving them into place had moved already.
func notEmpty(dest string, entries []fs.DirEntry) error {
	var left []string
	others := 0
	for _, e := range entries {
		if strings.HasPrefix(e.Name(), tmpPrefix) {
			left = append(left, e.Name())
		} else {
			others++
		}
	}
	switch {
	case len(left) == 0:
		return fmt.Errorf("destination %s exists and is not empty; restore into a new or empty directory", dest)
	case others > 0:
		return fmt.Errorf("destination %s is not empty: it holds %s, left by a restore into it that was interrupted (or still runs) while moving its entries into place, so the rest of what it holds is a partial restore; empty %s (chmod -R u+w first if rm is refused) and restore again",
			dest, strings.Join(left, ", "), dest)
	}
	them := "it"
	if len(left) > 1 {
		them = "them"
	}
	return fmt.Errorf("destination %s is not empty: it holds only %s, left by an interrupted restore (or one still running); remove %s (chmod -R u+w first if rm is refused) and restore again",
		dest, strings.Join(left, ", "), them)
}

// restoreIntoEmpty extracts obj into dest, an existing empty directory,
// without replacing it: into a temporary folder inside dest (same
// filesystem, so moves are renames, and no write to dest's parent), whose
// entries move up into dest once the object verified. dest keeps its
// inode, mode and owner, which matters for a mount point or a directory
// made for someone else. Nothing in dest is replaced: an entry that
// appears there during the restore fails it. On failure dest is left
// empty, as it was.
//
// dest may belong to another user, who can rename its entries at any
// time: the temporary folder is used only through descriptors (see
// [tempDir]), entries move between the two folders' descriptors, and an
// entry moved back on failure is first checked to be the one moved up.
// A restore whose temporary folder's name was given to something else
// fails, and leaves that where it is.
func restoreIntoEmpty(ctx context.Context, obj *Decoded, dest *folder, opts archive.ExtractOptions) error {
	tmp, err := makeTemp(dest, tmpPrefix)
	if err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	defer tmp.remove() // empty, its name gone, once committed
	if err := archive.ExtractRoot(ctx, obj, tmp.root, opts); err != nil {
		return err
	}
	tempStep("extracted", dest, tmp.name)
	if err := obj.Verify(); err != nil {
		return err
	}
	if err := fsync.TreeRoot(tmp.root); err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	if !tmp.holdsIt(tmp.name) {
		return fmt.Errorf("destination: %w", errTempReplaced("folder", dest, tmp.name))
	}
	names, err := tmp.file.Readdirnames(-1)
	if err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	destPath := dest.root.Name()
	var moved []fs.FileInfo
	undo := func(into *tempDir) {
		for _, id := range moved {
			moveBack(dest, into.folder, id)
		}
	}
	for _, name := range names {
		// The temporary folder's random name is chosen after the archive
		// was made, so an entry can only share it by chance; it cannot
		// move onto its own parent.
		if name == tmp.name {
			undo(tmp)
			return fmt.Errorf("destination %s: the archive has an entry named %s, the name of the temporary folder; restore again", destPath, name)
		}
		id, err := moveUp(tmp.folder, dest, name)
		if id != nil {
			moved = append(moved, id)
		}
		if err != nil {
			undo(tmp)
			// dest was empty, so an entry there now was put there by
			// someone else during the restore.
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("destination %s: %s appeared during the restore; left untouched", destPath, filepath.Join(destPath, name))
			}
			return fmt.Errorf("destination: %w", err)
		}
		tempStep("moved", dest, tmp.name)
	}
	// The temporary folder is empty now. It goes before dest is flushed,
	// so that a crash cannot bring it back beside the restored entries
	// (where the next restore would take it for an interrupted one).
	// Another user may have given its name to something of theirs
	// meanwhile: that fails the restore, and stays.
	if !tmp.holdsIt(tmp.name) {
		undo(tmp)
		return fmt.Errorf("destination: %w", errTempReplaced("folder", dest, tmp.name))
	}
	dest.root.Remove(tmp.name)
	err = fsync.FolderFile(dest.file)
	if err == nil && ctx.Err() == nil {
		return nil
	}
	if back, terr := makeTemp(dest, tmpPrefix); terr == nil {
		undo(back)
		back.remove()
	}
	if err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	return ctx.Err()
}

// moveUp moves the entry name from tmp, the private temporary folder,
// into dest with [renameAt], and returns its identity if it moved. A
// folder moved to another parent must be writable by the mover (its ".."
// changes), so a folder the archive made read-only is made writable for
// the move and given its mode back after, through a descriptor opened
// before the move. Inside tmp nobody else can change a name, so doing it
// by name there is safe.
func moveUp(tmp, dest *folder, name string) (fs.FileInfo, error) {
	st, err := tmp.root.Lstat(name)
	if err != nil {
		return nil, err
	}
	mode := st.Mode()
	if !st.IsDir() || mode.Perm()&0o200 != 0 {
		if err := renameAt(tmp.file, name, dest.file, name); err != nil {
			return nil, err
		}
		return st, nil
	}
	if err := tmp.root.Chmod(name, mode|0o700); err != nil {
		return nil, err
	}
	f, err := tmp.root.Open(name)
	if err != nil {
		tmp.root.Chmod(name, mode)
		return nil, err
	}
	defer f.Close()
	err = renameAt(tmp.file, name, dest.file, name)
	if cerr := f.Chmod(mode); cerr != nil && err == nil {
		return st, fmt.Errorf("restore the mode of %s: %w", joinName(dest.file, name), cerr)
	}
	if err != nil {
		return nil, err
	}
	return st, nil
}

// moveBack moves the entry id, which [moveUp] moved into dest, back into
// the private temporary folder tmp, to be removed with it. dest may
// belong to another user, who may have replaced the entry: it moves only
// if the name still leads to that very entry (a read-only folder is made
// writable through a descriptor checked to be it), and what is found in
// tmp after the move is given back to dest unless it is that entry. Best
// effort: what cannot be moved back stays in dest.
func moveBack(dest, tmp *folder, id fs.FileInfo) {
	name := id.Name()
	st, err := dest.root.Lstat(name)
	if err != nil || !os.SameFile(st, id) {
		return
	}
	mode := st.Mode()
	if st.IsDir() && mode.Perm()&0o200 == 0 {
		f, err := dest.root.Open(name)
		if err != nil {
			return
		}
		defer f.Close()
		if fst, err := f.Stat(); err != nil || !os.SameFile(fst, id) {
			return
		}
		if f.Chmod(mode|0o700) != nil {
			return
		}
		defer f.Chmod(mode)
	}
	if renameAt(dest.file, name, tmp.file, name) != nil {
		return
	}
	if st, err := tmp.root.Lstat(name); err != nil || !os.SameFile(st, id) {
		// Replaced between the check and the move: not ours.
		renameAt(tmp.file, name, dest.file, name)
	}
}

// emptyTree removes what the folder name in root holds, giving it and
// every folder under it owner read, write and search permission first so
// its entries can be removed. It never follows a symlink out of root, and
// holds no descriptor while it descends (each call walks name from root),
// so it empties a tree of any depth.
func emptyTree(root *os.Root, name string) {
	st, err := root.Lstat(name)
	if err != nil || !st.IsDir() {
		return
	}
	if st.Mode().Perm()&0o700 != 0o700 {
		if root.Chmod(name, st.Mode()|0o700) != nil {
			return
		}
	}
	f, err := root.Open(name)
	if err != nil {
		return
	}
	names, _ := f.Readdirnames(-1)
	f.Close()
	for _, n := range names {
		p := filepath.Join(name, n)
		emptyTree(root, p)
		root.Remove(p)
	}
}

// copyToFile copies r to the empty file f, with holes where r has blocks
// of zeros if holes is set.
func copyToFile(ctx context.Context, f *os.File, r io.Reader, holes bool) error {
	if !holes {
		_, err := CopyContext(ctx, f, r)
		return err
	}
	w := sparse.NewWriter(f)
	if _, err := CopyContext(ctx, w, r); err != nil {
		return err
	}
	return w.Finish()
}

// restoreFile writes obj's decoded stream to the new file dest, with
// holes where it has blocks of zeros if holes is set. The file is flushed
// to disk before it appears at dest, and the folders that hold its name
// after.
//
// dest's folder may belong to another user, who can rename entries in it
// at any time: the temporary file is written, and linked to dest, through
// descriptors, and dest is checked to be that very file after. If the
// temporary name was given to something else, the restore fails and
// leaves that where it is.
func restoreFile(ctx context.Context, obj *Decoded, dest string, holes bool) error {
	if _, err := os.Lstat(dest); err == nil {
		return fmt.Errorf("destination %s already exists; restore never overwrites, choose another path", dest)
	}
	dir := filepath.Dir(dest)
	made, err := mkdirParents(dir)
	if err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	committed := false
	defer func() {
		if !committed {
			removeEmptyDirs(made)
		}
	}()
	parent, err := openFolder(os.OpenRoot(dir))
	if err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	defer parent.close()
	// Mode 0600 keeps the partial plaintext private; the finished file
	// gets its final mode just before it appears at dest.
	var f *os.File
	tmpName, err := newName(parent, tempPrefixFor(dest), func(name string) (err error) {
		f, err = parent.root.OpenFile(name, os.O_RDWR|os.O_CREATE|os.O_EXCL, 0o600)
		return err
	})
	if err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	name := filepath.Base(dest)
	var id fs.FileInfo // the file's identity, once written
	defer func() {
		if id == nil && !committed {
			id, _ = f.Stat()
		}
		f.Close()
		if committed {
			return
		}
		// Only names that lead to the file: another user's entry put
		// in the place of either stays.
		if id != nil {
			for _, n := range []string{tmpName, name} {
				if parent.is(n, id) {
					parent.root.Remove(n)
				}
			}
		}
	}()
	if err := copyToFile(ctx, f, obj, holes); err != nil {
		return err
	}
	if err := obj.Verify(); err != nil {
		return err
	}
	if err := f.Chmod(0o666 &^ processUmask()); err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	if err := fsync.File(f); err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	if id, err = f.Stat(); err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	if err := f.Close(); err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	tempStep("renaming", parent, tmpName)
	// Link rather than rename, so a file created at dest meanwhile is
	// never replaced. Neither follows a symlink at the temporary name.
	if err := parent.root.Link(tmpName, name); err != nil {
		if errors.Is(err, fs.ErrExist) {
			return fmt.Errorf("destination %s appeared during the restore; left untouched", dest)
		}
		// Some filesystems have no hard links: fall back to rename.
		if err := renameAt(parent.file, tmpName, parent.file, name); err != nil {
			if errors.Is(err, fs.ErrExist) {
				return fmt.Errorf("destination %s appeared during the restore; left untouched", dest)
			}
			return fmt.Errorf("destination: %w", err)
		}
	}
	if !parent.is(name, id) {
		// What now is at dest is what another user had put under the
		// temporary name: theirs, in their folder, left as it is.
		return fmt.Errorf("destination: %w", errTempReplaced("file", parent, tmpName))
	}
	// The temporary name goes before the folder is flushed, so that a
	// crash cannot bring it back beside the restored file.
	if parent.is(tmpName, id) {
		parent.root.Remove(tmpName)
	}
	if err := flushNames(parent, made); err != nil {
		return fmt.Errorf("destination: %w", err)
	}
	if err := ctx.Err(); err != nil {
		return err
	}
	committed = true
	return nil
}

// flushNames makes the name of a restored file or folder in parent
// durable, and the names of the folders made to hold it: made lists them
// deepest first (see [mkdirParents]), up from parent's path.
func flushNames(parent *folder, made []string) error {
	if err := fsync.FolderFile(parent.file); err != nil || len(made) == 0 {
		return err
	}
	return fsync.Folders(filepath.Dir(parent.root.Name()), filepath.Dir(made[len(made)-1]))
}

// mkdirParents creates dir and its missing parents like os.MkdirAll (mode
// 0755 before the umask) and returns the folders it created, deepest
// first, so a failed restore can remove them again.
func mkdirParents(dir string) ([]string, error) {
	var missing []string
	for d := filepath.Clean(dir); ; d = filepath.Dir(d) {
		if _, err := os.Stat(d); err == nil {
			break
		} else if !errors.Is(err, fs.ErrNotExist) {
			return nil, err
		}
		missing = append(missing, d)
		if filepath.Dir(d) == d {
			break
		}
	}
	var made []string
	for i := len(missing) - 1; i >= 0; i-- {
		err := os.Mkdir(missing[i], 0o755)
		if errors.Is(err, fs.ErrExist) {
			continue // made meanwhile by someone else: not ours to remove
		}
		if err != nil {
			removeEmptyDirs(made)
			return nil, err
		}
		made = slices.Insert(made, 0, missing[i])
	}
	return made, nil
}

// removeEmptyDirs removes dirs in order, each only if it is empty: folders
// a failed restore created, deepest first. A folder something else has
// put a file in meanwhile stays, and so do its parents.
func removeEmptyDirs(dirs []string) {
	for _, d := range dirs {
		if os.Remove(d) != nil {
			return
		}
	}
}

// isSubsequence reports whether every element of sub appears in list, in
// the same order.
func isSubsequence(sub, list []string) bool {
	i := 0
	for _, x := range list {
		if i < len(sub) && x == sub[i] {
			i++
		}
	}
	return i == len(sub)
}

// endsInSeparator reports whether path ends in a path separator, which
// makes a restore destination a directory.
func endsInSeparator(path string) bool {
	return strings.HasSuffix(path, "/") || strings.HasSuffix(path, string(filepath.Separator))
}
