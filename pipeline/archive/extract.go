package archive

import (
	"archive/tar"
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"maps"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"

	"github.com/sluice-backup/sluice/pipeline/sparse"
)

// ExtractOptions controls [Extract].
type ExtractOptions struct {
	// Devices allows restoring character device, block device and named
	// pipe (FIFO) entries. Off by default: such entries are refused with an
	// error naming the entry.
	Devices bool

	// SetID keeps the setuid and setgid bits of files and directories. Off
	// by default: the bits are cleared, and SetIDCleared, if set, is told
	// the name of each entry that had them.
	SetID        bool
	SetIDCleared func(name string)

	// ExternalSymlinks allows symlinks whose target is absolute or leads
	// outside the destination, which ordinary home directories contain
	// (a link to /etc/hosts, to ../shared). They are created as they are.
	// This stays safe because Extract never follows a link while
	// extracting: an entry whose path goes through any symlink is still
	// refused, and every write goes through the [os.Root] of dest. Off by
	// default: such links are refused with an error matching
	// [ErrExternalSymlink].
	ExternalSymlinks bool

	// Owners gives each entry the numeric owner and group its header
	// records (the archive's user and group names are not looked up, and
	// sluice's archives hold none). Giving files away takes privileges
	// (root): without them Extract fails, naming the entry, with an error
	// matching [ErrOwner]. Hard links share their target's owner. Off by
	// default: entries belong to whoever runs Extract.
	Owners bool

	// Sparse makes holes of the blocks of zeros in every regular file, as
	// `cp --sparse=always` does (see [sparse.Writer]), so disk images and
	// preallocated files take the space of their data. Off by default:
	// files are written in full, except those the archive stores as
	// sparse (GNU tar -S), which always keep their holes.
	Sparse bool
}

// Extract reads a tar stream from r and creates its entries under dest,
// which must be an existing, empty directory.
//
// Nothing is ever written outside dest: every filesystem operation goes
// through an [os.Root] for dest, and Extract never follows a symlink while
// extracting. It refuses, with an error naming the entry that matches
// [ErrUnsafe]:
//
//   - absolute names and names whose ".." components escape dest (names are
//     cleaned lexically first, so "a/../b" is b and "./x" is x);
//   - entries whose path goes through a symlink or a non-directory;
//   - unless opts.ExternalSymlinks is set, symlinks whose target is
//     absolute, escapes dest when resolved from the link's directory, or
//     has a ".." after a name ("a/.."), which the system resolves through
//     whatever a is, not lexically (these match [ErrExternalSymlink]);
//   - hard links whose target escapes dest, does not exist yet or is not a
//     regular file or symlink, and hard links to a symlink whose target,
//     resolved from the link's own directory, would be refused for a
//     symlink made there (those to an external one match
//     [ErrExternalSymlink] unless opts.ExternalSymlinks is set);
//   - device nodes and named pipes, unless opts.Devices is set (these match
//     [ErrDevice]);
//   - a non-directory entry for a path where an earlier entry made a
//     directory that is not empty.
//
// A later entry for a path an earlier one created replaces it, as GNU tar
// does (tar -r and tar -u append changed files; a path given twice is
// archived twice): the earlier file, symlink or empty directory is removed
// first (a symlink itself, never what it points to), and a directory
// repeated as a directory is kept, its later mode and time winning. A hard
// link that names its own target (GNU tar's way of storing a file given
// twice) changes nothing.
//
// Supported entry types are regular files (sparse ones are written with
// holes), directories (GNU incremental dumpdirs too, whose listing is
// ignored), symlinks and hard links (to regular files and to symlinks, which
// are linked themselves, as rsnapshot and cp -al leave them), plus devices and named pipes with
// opts.Devices; GNU and PAX long names and PAX records are read by
// archive/tar. GNU volume labels and PAX global headers are skipped. Other
// types are an error. A directory entry naming dest itself ("./") is
// skipped: dest keeps its own mode and times.
//
// Permission bits and the sticky bit are restored; setuid and setgid only
// with opts.SetID. Modification times are restored on files, devices and
// directories (directories last, deepest first, once nothing more is
// written into them), not on symlinks, whatever the year; a time the file
// system cannot store becomes the nearest one it can (ext4 keeps 1901 to
// 2446). Owners are changed only with
// opts.Owners (before the mode, since a change of owner clears setuid and
// setgid bits). Directories
// are created writable and get their final mode at the end, so read-only
// directories still receive their contents.
//
// The stream must end with the end-of-archive marker: a stream cut anywhere,
// even between entries, fails with an error wrapping
// [io.ErrUnexpectedEOF]. After the marker, r is read to EOF and the bytes
// are discarded, so outer layers (decompression, authentication) see their
// whole input and report their own errors, which Extract returns. When ctx
// is done Extract stops and returns ctx.Err().
//
// Extract does not clean up on error: the caller extracts into a temporary
// directory and removes it on failure.
//
// Extract opens dest by its path, once. A caller whose destination others
// may rename or replace (a folder in another user's directory) opens it
// itself, checks what it opened, and uses [ExtractRoot].
func Extract(ctx context.Context, r io.Reader, dest string, opts ExtractOptions) error {
	root, err := os.OpenRoot(dest)
	if err != nil {
		return fmt.Errorf("archive: open destination: %w", err)
	}
	defer root.Close()
	return ExtractRoot(ctx, r, root, opts)
}

// ExtractRoot is [Extract] into the folder root was opened on, which
// must be empty. Every operation goes through root, so the entries go
// into that folder wherever it is moved meanwhile, and nothing renamed or
// planted at its former path is touched. root stays open.
func ExtractRoot(ctx context.Context, r io.Reader, root *os.Root, opts ExtractOptions) error {
	if err := checkEmpty(root); err != nil {
		return fmt.Errorf("archive: destination %q: %w", root.Name(), err)
	}
	x := &extractor{
		ctx:     ctx,
		root:    root,
		folders: newFolders(root),
		opts:    opts,
		rules:   newRules(opts),
		dirs:    map[string]dirMeta{},
		buf:     make([]byte, copyBufferSize),
	}
	defer x.folders.forget()
	err := walk(ctx, r, x.entry)
	if err == nil {
		err = x.finishDirs()
	}
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// Check reads a tar stream from r as [Extract] would and returns the error
// Extract would return for it, without writing anything: the same
// refusals under the same opts, the same errors for a damaged, truncated
// or unsupported stream, and the errors of the layers below r. What only
// the filesystem can refuse (space, permissions, owners without
// privileges) is not predicted. Like Extract, Check reads r to EOF and
// returns ctx.Err() when ctx is done.
//
// If lifted is not nil, an entry that Extract under opts refuses only
// because an option is off (an external symlink without ExternalSymlinks,
// a device node or pipe without Devices: the errors matching
// [ErrExternalSymlink] and [ErrDevice]) is passed to lifted, as the error
// Extract would return for it, and then checked as if the option were on.
func Check(ctx context.Context, r io.Reader, opts ExtractOptions, lifted func(error)) error {
	rl := newRules(opts)
	err := walk(ctx, r, func(_ *tar.Reader, hdr *tar.Header) error {
		_, err := rl.next(hdr)
		var optIn optInError
		if err != nil && lifted != nil && errors.As(err, &optIn) {
			lifted(fmt.Errorf("archive: entry %q: %w", hdr.Name, err))
			rl.opts.ExternalSymlinks, rl.opts.Devices = true, true
			_, err = rl.next(hdr)
			rl.opts.ExternalSymlinks, rl.opts.Devices = opts.ExternalSymlinks, opts.Devices
		}
		return err
	})
	if err != nil && ctx.Err() != nil {
		return ctx.Err()
	}
	return err
}

// checkEmpty returns an error if root's directory has any entry.
func checkEmpty(root *os.Root) error {
	f, err := root.Open(".")
	if err != nil {
		return err
	}
	defer f.Close()
	names, err := f.Readdirnames(1)
	if len(names) > 0 {
		return errors.New("not empty")
	}
	if err != nil && err != io.EOF {
		return err
	}
	return nil
}

// walk reads the tar stream r and calls entry for each header, which may
// read the entry's data; walk discards the rest. It fails for a stream
// without the end-of-archive marker, and after the marker reads r to EOF.
// An error of entry is returned wrapped with the entry's name.
func walk(ctx context.Context, r io.Reader, entry func(*tar.Reader, *tar.Header) error) error {
	// The buffer lets archive/tar's 512-byte header reads stay cheap on
	// pipes; it reads ahead only bytes that are drained anyway.
	cr := &ctxReader{ctx: ctx, r: bufio.NewReaderSize(r, 64<<10)}
	tr := tar.NewReader(cr)
	buf := make([]byte, copyBufferSize)
	var (
		last string // raw name of the previous entry
		next int64  // offset where the next header starts
	)
	for {
		hdr, err := tr.Next()
		if err == io.EOF {
			// archive/tar reports a stream that stops at an entry boundary
			// exactly like one that ends with the end-of-archive marker (two
			// zero blocks; GNU tar accepts one). Tell them apart by position.
			if cr.n < next+blockSize {
				if last == "" {
					return fmt.Errorf("archive: no end-of-archive marker: %w", io.ErrUnexpectedEOF)
				}
				return fmt.Errorf("archive: no end-of-archive marker after entry %q: %w", last, io.ErrUnexpectedEOF)
			}
			break
		}
		// With GODEBUG=tarinsecurepath=0 archive/tar flags non-local names
		// itself; the header is still returned and refused below.
		if err != nil && !(hdr != nil && errors.Is(err, tar.ErrInsecurePath)) {
			if last == "" {
				return fmt.Errorf("archive: read header: %w", err)
			}
			return fmt.Errorf("archive: read header after entry %q: %w", last, err)
		}
		if err := ctx.Err(); err != nil {
			return err
		}
		if err := entry(tr, hdr); err != nil {
			return fmt.Errorf("archive: entry %q: %w", hdr.Name, err)
		}
		// Read what the entry did not consume so a truncation is reported
		// against this entry, and the next header's offset is known. The
		// holes of a sparse entry cost no input, so ctx is checked here too.
		if err := discard(ctx, tr, buf); err != nil {
			return fmt.Errorf("archive: entry %q: %w", hdr.Name, err)
		}
		next = (cr.n + blockSize - 1) / blockSize * blockSize
		last = hdr.Name
	}

	if last == "" {
		// An archive of no entries is zeros to its end (the marker, then
		// the record's padding). Data after them is an archive whose
		// first header was zeroed: damaged, not empty.
		return zerosToEnd(cr, buf)
	}
	if _, err := io.Copy(io.Discard, cr); err != nil {
		return fmt.Errorf("archive: read after end of archive: %w", err)
	}
	return nil
}

// zerosToEnd reads r to EOF into buf and fails, as a damaged header, at
// the first byte that is not zero.
func zerosToEnd(r io.Reader, buf []byte) error {
	for {
		n, err := r.Read(buf)
		for _, c := range buf[:n] {
			if c != 0 {
				return fmt.Errorf("archive: no entries, but data after the end-of-archive marker (a damaged first header?): %w", tar.ErrHeader)
			}
		}
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return fmt.Errorf("archive: read after end of archive: %w", err)
		}
	}
}

// discard reads r to EOF into buf, stopping when ctx is done.
func discard(ctx context.Context, r io.Reader, buf []byte) error {
	for {
		if err := ctx.Err(); err != nil {
			return err
		}
		_, err := r.Read(buf)
		if err == io.EOF {
			return nil
		}
		if err != nil {
			return err
		}
	}
}

// extractor holds the state of one Extract.
type extractor struct {
	ctx     context.Context
	root    *os.Root
	folders *folders // the last entry's folder, kept open
	opts    ExtractOptions
	rules   *rules
	// dirs are the directory entries whose mode and time are set at the
	// end, by cleaned name: a repeated directory's later entry wins.
	dirs map[string]dirMeta
	buf  []byte
}

type dirMeta struct {
	mode         fs.FileMode
	atime, mtime time.Time
}

// finishDirs sets the mode and times of directory entries, deepest first so
// setting a child does not disturb its parent's time, and a parent that
// becomes read-only has already had its children done.
func (x *extractor) finishDirs() error {
	names := slices.Collect(maps.Keys(x.dirs))
	slices.SortFunc(names, func(a, b string) int {
		if d := strings.Count(b, "/") - strings.Count(a, "/"); d != 0 {
			return d
		}
		return strings.Compare(a, b)
	})
	for _, name := range names {
		if err := x.ctx.Err(); err != nil {
			return err
		}
		d := x.dirs[name]
		if err := x.root.Chmod(name, d.mode); err != nil {
			return fmt.Errorf("archive: directory %q: %w", name, err)
		}
		if err := x.folders.setTimes(name, d.atime, d.mtime); err != nil {
			return fmt.Errorf("archive: directory %q: %w", name, err)
		}
	}
	return nil
}

// entry carries out what the rules decide for the entry hdr.
func (x *extractor) entry(tr *tar.Reader, hdr *tar.Header) error {
	s, err := x.rules.next(hdr)
	if err != nil || s.skip {
		return err
	}
	for _, p := range s.parents {
		if err := exists(x.root.Mkdir(p, 0o755)); err != nil {
			return err
		}
	}
	if s.old != none && !(s.old == isDir && s.kind == isDir) {
		// Remove does not follow a symlink; the rules removed only an
		// empty directory.
		x.folders.forget()
		if err := x.root.Remove(s.name); err != nil {
			return fmt.Errorf("replace earlier entry: %w", err)
		}
		delete(x.dirs, s.name)
	}
	name := s.name
	if !x.opts.SetID && x.opts.SetIDCleared != nil && s.link == "" && s.kind != isSymlink && hdr.Mode&(modeSetuid|modeSetgid) != 0 {
		x.opts.SetIDCleared(name)
	}
	if s.link != "" {
		// os.Root.Link is linkat without AT_SYMLINK_FOLLOW: a link to a
		// symlink is a link to the symlink itself, never to its target.
		// The new name shares the target's owner, mode and times.
		return exists(x.root.Link(s.link, name))
	}
	switch s.kind {
	case isFile:
		return x.file(tr, hdr, name)
	case isDir:
		return x.dir(hdr, name, s.old == isDir)
	case isSymlink:
		if err := exists(x.root.Symlink(hdr.Linkname, name)); err != nil {
			return err
		}
		return x.chown(name, hdr)
	default:
		if err := exists(mknod(x.folders, name, hdr.Typeflag, x.mode(hdr), hdr.Devmajor, hdr.Devminor)); err != nil {
			return err
		}
		if err := x.chown(name, hdr); err != nil {
			return err
		}
		// The mode given to mknod went through the umask.
		if err := x.root.Chmod(name, x.mode(hdr)); err != nil {
			return err
		}
		return x.folders.setTimes(name, atime(hdr), hdr.ModTime)
	}
}

// file creates a regular file with the entry's data.
func (x *extractor) file(tr *tar.Reader, hdr *tar.Header, name string) error {
	f, err := x.folders.create(name)
	if err := exists(err); err != nil {
		return err
	}
	err = x.copyData(f, tr, x.opts.Sparse || isSparse(hdr))
	if err == nil && x.opts.Owners {
		if err = f.Chown(hdr.Uid, hdr.Gid); err != nil {
			err = ownerError{hdr.Uid, hdr.Gid, err}
		}
	}
	if err == nil {
		err = f.Chmod(x.mode(hdr))
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return err
	}
	return x.folders.setTimes(name, atime(hdr), hdr.ModTime)
}

// copyData copies the entry's data from tr to f, checking for cancellation
// between chunks (a sparse entry's holes produce data without reading the
// stream). If holes, blocks of zeros are skipped rather than written (see
// [sparse.Writer]) so holes stay holes instead of filling the disk.
func (x *extractor) copyData(f *os.File, tr io.Reader, holes bool) error {
	var w io.Writer = f
	var sw *sparse.Writer
	if holes {
		sw = sparse.NewWriter(f)
		w = sw
	}
	for {
		if err := x.ctx.Err(); err != nil {
			return err
		}
		n, rerr := tr.Read(x.buf)
		if n > 0 {
			if _, err := w.Write(x.buf[:n]); err != nil {
				return err
			}
		}
		if rerr == io.EOF {
			break
		}
		if rerr != nil {
			return rerr
		}
	}
	if sw != nil {
		return sw.Finish()
	}
	return nil
}

// isSparse reports whether hdr describes a GNU sparse file, in the old GNU
// format or as PAX records.
func isSparse(hdr *tar.Header) bool {
	if hdr.Typeflag == tar.TypeGNUSparse {
		return true
	}
	for k := range hdr.PAXRecords {
		if strings.HasPrefix(k, "GNU.sparse.") {
			return true
		}
	}
	return false
}

// dir creates a directory entry, unless an earlier entry made it (again).
// It is created accessible to the owner; its own mode and time are applied
// by finishDirs.
func (x *extractor) dir(hdr *tar.Header, name string, again bool) error {
	if !again {
		if err := exists(x.root.Mkdir(name, 0o700)); err != nil {
			return err
		}
	}
	x.dirs[name] = dirMeta{mode: x.mode(hdr), atime: atime(hdr), mtime: hdr.ModTime}
	return x.chown(name, hdr)
}

// chown gives the entry name the owner and group hdr records, with
// opts.Owners; a symlink itself, never its target.
func (x *extractor) chown(name string, hdr *tar.Header) error {
	if !x.opts.Owners {
		return nil
	}
	if err := x.root.Lchown(name, hdr.Uid, hdr.Gid); err != nil {
		return ownerError{hdr.Uid, hdr.Gid, err}
	}
	return nil
}

// mode returns the mode to give the entry: permission and sticky bits, and
// setuid and setgid only if allowed.
func (x *extractor) mode(hdr *tar.Header) fs.FileMode {
	m := fs.FileMode(hdr.Mode) & fs.ModePerm
	if hdr.Mode&modeSticky != 0 {
		m |= fs.ModeSticky
	}
	if x.opts.SetID {
		if hdr.Mode&modeSetuid != 0 {
			m |= fs.ModeSetuid
		}
		if hdr.Mode&modeSetgid != 0 {
			m |= fs.ModeSetgid
		}
	}
	return m
}

// atime returns the access time to set: the recorded one, or the
// modification time.
func atime(hdr *tar.Header) time.Time {
	if hdr.AccessTime.IsZero() {
		return hdr.ModTime
	}
	return hdr.AccessTime
}

// exists turns the error of creating something where something already is
// into a refusal. The rules removed what earlier entries left there, so
// whatever is there was made by someone else meanwhile: it is not replaced.
func exists(err error) error {
	if errors.Is(err, fs.ErrExist) {
		return unsafeError("path already exists")
	}
	return err
}

// cleanName returns name cleaned lexically to a slash-separated path relative
// to the destination ("." for the destination itself), or an error if it is
// absolute or escapes.
func cleanName(name string) (string, error) {
	switch {
	case name == "":
		return "", unsafeError("empty name")
	case strings.IndexByte(name, 0) >= 0:
		return "", unsafeError("name contains a NUL byte")
	case path.IsAbs(name) || filepath.IsAbs(name) || filepath.VolumeName(name) != "":
		return "", unsafeError("absolute path")
	}
	clean := path.Clean(name)
	if clean == ".." || strings.HasPrefix(clean, "../") {
		return "", unsafeError("path escapes destination")
	}
	if clean != "." && !filepath.IsLocal(filepath.FromSlash(clean)) {
		// Reserved names and separators of other systems.
		return "", unsafeError("path is not local")
	}
	for c := range strings.SplitSeq(clean, "/") {
		if len(c) > maxNameBytes {
			// No restore could write it; refusing it before keeping the
			// path also bounds what a hostile archive's names cost.
			return "", fmt.Errorf("a name in its path is %d bytes, more than the %d file systems take", len(c), maxNameBytes)
		}
	}
	return clean, nil
}

// maxNameBytes is the longest name of one file or folder that file
// systems store (NAME_MAX: ext4, XFS, Btrfs, APFS, ZFS), and maxLinkBytes
// the longest symlink target (Linux's PATH_MAX less its NUL).
const (
	maxNameBytes = 255
	maxLinkBytes = 4095
)

// checkSymlink returns an error unless target, the target of a symlink
// named name (cleaned), stays inside the destination.
//
// The lexical check is sound only for targets of the form "../../a/b": the
// system resolves "x/.." by going to the parent of whatever x resolves to,
// which may be a symlink going elsewhere, so a ".." after a name is refused.
// Leading ".." steps start from the link's own directory, which Extract
// made and knows to be real, and later steps descend from there through
// directories or symlinks that passed this same check.
//
// With external set, only malformed targets (empty, NUL) are refused.
func checkSymlink(name, target string, external bool) error {
	switch {
	case target == "":
		return unsafeError("empty symlink target")
	case strings.IndexByte(target, 0) >= 0:
		return unsafeError("symlink target contains a NUL byte")
	case len(target) > maxLinkBytes:
		return fmt.Errorf("symlink target is %d bytes, more than the %d a symlink holds", len(target), maxLinkBytes)
	case external:
		return nil
	case path.IsAbs(target) || filepath.IsAbs(target) || filepath.VolumeName(target) != "":
		return externalError(fmt.Sprintf("symlink target %q is absolute", target))
	case filepath.Separator != '/' && strings.ContainsRune(target, filepath.Separator):
		return unsafeError(fmt.Sprintf("symlink target %q contains %q", target, filepath.Separator))
	}
	named := false
	for _, c := range strings.Split(target, "/") {
		switch c {
		case "", ".":
		case "..":
			if named {
				return externalError(fmt.Sprintf("symlink target %q has \"..\" after a name", target))
			}
		default:
			named = true
		}
	}
	resolved := path.Join(path.Dir(name), target)
	if resolved == ".." || strings.HasPrefix(resolved, "../") {
		return externalError(fmt.Sprintf("symlink target %q escapes destination", target))
	}
	return nil
}
