package archive

import (
	"archive/tar"
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// Options controls [Write].
type Options struct {
	// Exclude lists patterns of entries to leave out. Patterns use
	// [path.Match] syntax ("*" does not match "/"; there is no "**"):
	//
	//   - A pattern without "/" matches the base name of any entry at any
	//     depth: "*.tmp" excludes a.tmp and sub/dir/b.tmp.
	//   - A pattern ending in "/" matches directories only: ".cache/"
	//     excludes every directory named .cache and everything below it, but
	//     not a file named .cache. The rest of the pattern follows the other
	//     two rules.
	//   - A pattern containing "/" anywhere else is matched against the whole
	//     slash-separated path relative to the root: "logs/*.gz" excludes
	//     logs/a.gz but neither logs/old/b.gz nor x/logs/c.gz. A leading "/"
	//     only anchors the pattern at the root: "/build" excludes build but
	//     not src/build.
	//
	// An excluded directory is not descended into. A malformed or empty
	// pattern makes Write fail before anything is written.
	Exclude []string

	// OnSkip, if set, is called for each entry Write leaves out for a reason
	// other than Exclude: sockets, devices, named pipes and other special
	// files, and entries that vanished while the tree was being read. path is
	// the entry's filesystem path (root joined with the relative path).
	OnSkip func(path, reason string)

	// OnChange, if set, makes Write archive a regular file that changes
	// while it is read (an active log) as it was read, and report it to
	// OnChange with what happened, instead of failing: the entry holds
	// exactly the size its header declares, the first bytes of a file
	// that grew, or a file that shrank padded with zeros (as GNU tar
	// does). A file that changed between the walk and its opening is
	// archived as it is when opened, unreported. The archive stays valid;
	// the entry may be a torn copy. path is as for OnSkip.
	OnChange func(path, what string)
}

// Write writes a tar archive of the directory tree at root to w.
//
// The archive holds regular files, directories (empty ones too) and
// symlinks; a symlink's target is stored as it is and never followed. Each
// entry records its permission bits with setuid, setgid and sticky, its
// modification time in whole seconds, and its numeric uid and gid (no user
// or group names). Hard-linked files are stored as independent regular
// files. Sockets, devices and named pipes are skipped and reported to
// opts.OnSkip, as are entries that disappear while Write runs.
//
// Entry names are relative to root, slash-separated, without a leading "./";
// directory names end in "/". The root itself is not an entry. Entries come
// in lexical order of their names, so a directory precedes its contents, and
// the output for an unchanged tree is byte-for-byte the same on every run.
// The archive uses the PAX format where USTAR is not enough (long names,
// large ids, times before 1970), so nothing is truncated.
//
// root may be a symlink to a directory; it is the only symlink followed.
// Write holds at most 34 descriptors open, whatever the depth of the tree.
// If a regular file changes size or modification time while it is being
// read, Write fails naming the file rather than storing a torn copy,
// unless opts.OnChange is set. When
// ctx is done Write stops and returns ctx.Err(). On success the
// end-of-archive marker has been written; on failure it has not, so a
// reader sees a truncated archive. Write never closes w.
func Write(ctx context.Context, w io.Writer, root string, opts Options) error {
	return writeTree(ctx, w, root, opts, nil)
}

// writeTree is Write with a test hook, called with event "entry" for each
// entry not excluded before it is read, and for each regular file with
// "open" before it is opened and "copy" before its data is copied.
func writeTree(ctx context.Context, w io.Writer, root string, opts Options, hook func(event, rel string)) error {
	return walkTree(ctx, &treeWriter{tw: tar.NewWriter(w), onSkip: opts.OnSkip, onChange: opts.OnChange, hook: hook}, root, opts)
}

// walkTree runs t over the tree at root: it writes the archive, or with
// t.size set, measures it.
func walkTree(ctx context.Context, t *treeWriter, root string, opts Options) error {
	excludes, err := compileExcludes(opts.Exclude)
	if err != nil {
		return err
	}
	fi, err := os.Stat(root)
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	if !fi.IsDir() {
		return fmt.Errorf("archive: %q is not a directory", root)
	}
	r, err := os.OpenRoot(root)
	if err != nil {
		return fmt.Errorf("archive: %w", err)
	}
	defer r.Close()

	t.ctx, t.rootPath, t.excludes = ctx, root, excludes
	if t.size == nil {
		t.buf = make([]byte, copyBufferSize)
	}
	if t.maxOpen == 0 {
		t.maxOpen = maxOpenDirs
	}
	if t.maxOpen < 3 {
		panic("archive: treeWriter.maxOpen below 3")
	}
	t.path = []*level{{root: r}}
	t.open = 1
	if err := t.dir(""); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		return err
	}
	if t.size != nil {
		t.size.Archive += endOfArchive
		return nil
	}
	if err := t.tw.Close(); err != nil {
		return fmt.Errorf("archive: write end of archive: %w", err)
	}
	return nil
}

// treeWriter holds the state of one Write or Measure.
type treeWriter struct {
	ctx      context.Context
	tw       *tar.Writer // nil when measuring
	size     *Size       // set when measuring: what the archive would hold
	rootPath string
	excludes []excludePattern
	onSkip   func(path, reason string)
	onChange func(path, what string)
	buf      []byte
	hook     func(event, rel string)

	// path holds the directories from the root (path[0]) down to the one
	// being walked; open counts those with an open root, never more than
	// maxOpen (see [maxOpenDirs]; 0 means that).
	path    []*level
	open    int
	maxOpen int
}

// maxOpenDirs is how many directories the walk holds open at most, its
// root included, whatever the depth of the tree, so that a tree thousands
// of levels deep, which tar archives, backs up under a low limit on open
// descriptors (macOS defaults to 256, many Linux systems to 1024) that the
// rest of the backup shares. Beyond these the walk holds at most two
// descriptors at a time: a file it reads or a folder it lists, or those
// os.Root opens on its way down a path.
//
// Ordinary trees are not that deep, and their walk never closes a
// directory. Deeper ones cost little: the walk closes the shallowest open
// directory but the root as it descends and, climbing back, reopens
// maxOpenDirs-1 closed ones at a time (see [treeWriter.current]) when it
// needs them again, for entries listed after the subdirectory it climbs
// out of. A climb from depth D then costs at most about D²/62 openat
// calls more than a walk that keeps every level open (20,000, a few
// milliseconds, for D = 1,100). Fewer open directories would make such
// trees slower for no gain worth having; more would take a larger share
// of the limit.
const maxOpenDirs = 32

// level is a directory on the walk's path: its name and the FileInfo its
// parent's Lstat gave when the walk entered it, and its root while open.
//
// A level is reopened only through the root of an open ancestor, so the
// walk never leaves the tree, and is used only if it is still the
// directory the walk entered (os.SameFile with fi); otherwise the walk
// fails with "directory replaced during backup", as it does for a
// directory swapped between its Lstat and its first opening. One no
// longer at its path (removed or renamed) leaves its remaining entries
// "vanished during backup".
type level struct {
	name string      // its name in its parent; "" for the walk's root
	rel  string      // its path relative to the walk's root
	fi   fs.FileInfo // from the parent's Lstat; its root matched it
	root *os.Root    // nil while closed
}

// osPath returns the filesystem path of the entry rel, for messages.
func (t *treeWriter) osPath(rel string) string {
	return filepath.Join(t.rootPath, filepath.FromSlash(rel))
}

func (t *treeWriter) errorf(rel string, err error) error {
	return &EntryError{Path: t.osPath(rel), Err: err}
}

// EntryError is an error of [Write] about one entry of the tree: reading
// it failed (it cannot be read, it changed while it was read, ...).
type EntryError struct {
	Path string // the entry's filesystem path
	Err  error
}

func (e *EntryError) Error() string { return fmt.Sprintf("archive: %q: %v", e.Path, e.Err) }
func (e *EntryError) Unwrap() error { return e.Err }

// readErr is Write's result for an error reading the entry rel: an entry
// that vanished since its directory was listed is reported and skipped;
// anything else is an error naming it.
func (t *treeWriter) readErr(rel string, err error) error {
	if errors.Is(err, fs.ErrNotExist) {
		t.skip(rel, "vanished during backup")
		return nil
	}
	return t.errorf(rel, err)
}

func (t *treeWriter) skip(rel, reason string) {
	if t.onSkip != nil {
		t.onSkip(t.osPath(rel), reason)
	}
}

// dir writes the entries of the directory last on t.path, just entered,
// whose path relative to the root is rel ("" for the root), and recurses
// into its subdirectories. Operations go through the os.Root of a
// directory of the path (reopened and checked if it was closed meanwhile:
// see [level]), so a directory swapped for a symlink while Write runs
// cannot lead it outside the tree.
func (t *treeWriter) dir(rel string) error {
	f, err := t.path[len(t.path)-1].root.Open(".")
	if err != nil {
		return t.errorf(rel, err)
	}
	entries, err := f.ReadDir(-1)
	f.Close()
	if err != nil {
		return t.errorf(rel, err)
	}

	// Sorting siblings by name, with "/" appended to directory names, makes
	// the depth-first walk emit entries in lexical order of their full tar
	// names: "a-b" < "a/" < "a/x".
	type child struct {
		key   string
		name  string
		isDir bool
	}
	children := make([]child, len(entries))
	for i, e := range entries {
		c := child{key: e.Name(), name: e.Name(), isDir: e.IsDir()}
		if c.isDir {
			c.key += "/"
		}
		children[i] = c
	}
	slices.SortFunc(children, func(a, b child) int { return strings.Compare(a.key, b.key) })

	for _, c := range children {
		if err := t.ctx.Err(); err != nil {
			return err
		}
		crel := path.Join(rel, c.name)
		if excluded(t.excludes, crel, c.name, c.isDir) {
			continue
		}
		d, err := t.current()
		if errors.Is(err, fs.ErrNotExist) {
			// The directory was moved or removed since it was listed.
			t.skip(crel, "vanished during backup")
			continue
		}
		if err != nil {
			return err
		}
		if t.hook != nil {
			t.hook("entry", crel)
		}
		if err := t.entry(d, c.name, crel); err != nil {
			return err
		}
	}
	return nil
}

// entry writes the entry name of directory d, whose path relative to the
// root is rel, and everything below it.
func (t *treeWriter) entry(d *os.Root, name, rel string) error {
	fi, err := d.Lstat(name)
	if err != nil {
		return t.readErr(rel, err)
	}
	switch mode := fi.Mode(); {
	case mode.IsRegular() && t.size != nil:
		// Measuring reads metadata only: the header says how much data
		// follows.
		return t.writeHeader(rel, fi, regular(fi.Size()))
	case mode.IsRegular():
		return t.file(d, name, rel, fi)
	case mode.IsDir():
		sub, err := t.openDir(len(t.path)-1, name, fi)
		if err != nil {
			return t.readErr(rel, err)
		}
		t.path = append(t.path, &level{name: name, rel: rel, fi: fi, root: sub})
		defer t.leave()
		if err := t.writeHeader(rel+"/", fi, func(h *tar.Header) { h.Typeflag = tar.TypeDir }); err != nil {
			return err
		}
		return t.dir(rel)
	case mode&fs.ModeSymlink != 0:
		target, err := d.Readlink(name)
		if err != nil {
			return t.readErr(rel, err)
		}
		return t.writeHeader(rel, fi, func(h *tar.Header) {
			h.Typeflag = tar.TypeSymlink
			h.Linkname = target
		})
	case mode&fs.ModeSocket != 0:
		t.skip(rel, "socket")
	case mode&fs.ModeNamedPipe != 0:
		t.skip(rel, "named pipe")
	case mode&fs.ModeDevice != 0:
		t.skip(rel, "device")
	default:
		t.skip(rel, "unsupported file type "+mode.Type().String())
	}
	return nil
}

// errReplaced is the error for a directory that is not the one its parent's
// listing showed.
var errReplaced = errors.New("directory replaced during backup")

// openDir opens name, a slash-free name or a relative path of several, in
// the directory t.path[from] (open) as a root, after closing another level
// if maxOpen are open, and checks that it is the directory fi describes.
// os.Root keeps the path inside t.path[from] even if it goes through
// symlinks, and the check makes sure it ends at the same directory, so a
// directory swapped for a symlink or another directory is reported
// (errReplaced) rather than archived under the name.
func (t *treeWriter) openDir(from int, name string, fi fs.FileInfo) (*os.Root, error) {
	// Close the shallowest open level but the root and t.path[from]: the
	// one the walk, climbing back, needs last.
	for i := 1; t.open >= t.maxOpen && i < len(t.path); i++ {
		if l := t.path[i]; l.root != nil && i != from {
			l.root.Close()
			l.root = nil
			t.open--
		}
	}
	r, err := t.path[from].root.OpenRoot(name)
	if err != nil {
		return nil, err
	}
	st, err := r.Stat(".")
	if err != nil {
		r.Close()
		// A directory that can be opened (read) but not searched
		// (mode 644) fails here rather than at OpenRoot.
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = fmt.Errorf("search directory: %w", pe.Err)
		}
		return nil, err
	}
	if !os.SameFile(fi, st) {
		r.Close()
		return nil, errReplaced
	}
	t.open++
	return r, nil
}

// current returns the root of the directory last on t.path, reopening it
// if openDir closed it while the walk was deeper. Its closed ancestors
// are reopened with it, as many as maxOpen allows: the first by its path
// from the deepest open ancestor, each next by its name from the one
// before, every one checked by openDir against the FileInfo the walk
// found when it entered it. A directory that is no longer at its path is
// an error matching fs.ErrNotExist; one replaced, errReplaced; each
// names the directory.
func (t *treeWriter) current() (*os.Root, error) {
	top := len(t.path) - 1
	if r := t.path[top].root; r != nil {
		return r, nil
	}
	from := top - 1
	for t.path[from].root == nil {
		from--
	}
	n := max(1, t.maxOpen-t.open) // how many levels may be opened
	lo := max(from+1, top-n+1)
	names := make([]string, 0, lo-from)
	for _, l := range t.path[from+1 : lo+1] {
		names = append(names, l.name)
	}
	name := filepath.Join(names...)
	for i := lo; i <= top; i++ {
		l := t.path[i]
		r, err := t.openDir(from, name, l.fi)
		if err != nil {
			return nil, t.errorf(l.rel, err)
		}
		l.root = r
		if i < top {
			from, name = i, t.path[i+1].name
		}
	}
	return t.path[top].root, nil
}

// leave takes the directory last on t.path off it, closing its root.
func (t *treeWriter) leave() {
	l := t.path[len(t.path)-1]
	t.path = t.path[:len(t.path)-1]
	if l.root != nil {
		l.root.Close()
		t.open--
	}
}

// file writes the regular file name of directory d. The header's size is
// fixed before the data is copied, so a file that changes while it is read
// is an error rather than a silently torn entry.
func (t *treeWriter) file(d *os.Root, name, rel string, fi fs.FileInfo) error {
	if t.hook != nil {
		t.hook("open", rel)
	}
	f, err := d.Open(name)
	if err != nil {
		return t.readErr(rel, err)
	}
	defer f.Close()

	st, err := f.Stat()
	if err != nil {
		return t.errorf(rel, err)
	}
	if t.onChange != nil {
		// Archive the file as it is now, opened.
		fi = st
	}
	if !os.SameFile(fi, st) {
		return t.errorf(rel, markChanged(errors.New("file replaced during backup")))
	}
	if err := unchanged(fi, st); err != nil {
		return t.errorf(rel, markChanged(err))
	}
	size := fi.Size()
	if err := t.writeHeader(rel, fi, regular(size)); err != nil {
		return err
	}

	if t.hook != nil {
		t.hook("copy", rel)
	}
	src := &ctxReader{ctx: t.ctx, r: f}
	n, err := io.CopyBuffer(t.tw, io.LimitReader(src, size), t.buf)
	if err != nil {
		if t.ctx.Err() != nil {
			return t.ctx.Err()
		}
		return t.errorf(rel, err)
	}
	if n < size {
		if t.onChange != nil {
			if err := t.pad(size - n); err != nil {
				return err
			}
		}
		return t.changed(rel, fmt.Errorf("file shrank while being read (%d bytes expected, %d read)", size, n), "padded with zeros")
	}
	var one [1]byte
	if k, err := f.Read(one[:]); k > 0 {
		return t.changed(rel, fmt.Errorf("file grew while being read (%d bytes expected)", size), "stored its first bytes")
	} else if err != nil && err != io.EOF {
		return t.errorf(rel, err)
	}
	if st, err = f.Stat(); err != nil {
		return t.errorf(rel, err)
	}
	if err := unchanged(fi, st); err != nil {
		return t.changed(rel, err, "")
	}
	return nil
}

// changed handles the entry rel, which changed while it was read (err
// says how): without [Options.OnChange] it is the backup's error, marked
// [ErrChanged]; with it, it is reported, with note on what was archived,
// and the archive goes on.
func (t *treeWriter) changed(rel string, err error, note string) error {
	if t.onChange == nil {
		return t.errorf(rel, markChanged(err))
	}
	msg := err.Error()
	if note != "" {
		msg += "; " + note
	}
	t.onChange(t.osPath(rel), msg)
	return nil
}

// pad writes n zero bytes to the archive: the rest of an entry whose file
// shrank while it was read.
func (t *treeWriter) pad(n int64) error {
	clear(t.buf)
	for n > 0 {
		k := min(n, int64(len(t.buf)))
		if _, err := t.tw.Write(t.buf[:k]); err != nil {
			return err
		}
		n -= k
	}
	return nil
}

// ErrChanged is wrapped by Write's errors about a file that changed while
// it was read (without [Options.OnChange]).
var ErrChanged = errors.New("file changed while being read")

// markChanged makes err match [ErrChanged], its message unchanged.
func markChanged(err error) error { return changedError{err} }

type changedError struct{ err error }

func (e changedError) Error() string   { return e.err.Error() }
func (e changedError) Unwrap() []error { return []error{e.err, ErrChanged} }

// unchanged reports an error if the file described by now differs in size or
// modification time from before.
func unchanged(before, now fs.FileInfo) error {
	if now.Size() != before.Size() {
		return fmt.Errorf("file changed size while being read (%d bytes, now %d)", before.Size(), now.Size())
	}
	if !now.ModTime().Equal(before.ModTime()) {
		return errors.New("file modified while being read")
	}
	return nil
}

// writeHeader writes the header for the entry name described by fi, after
// set has filled in the type-specific fields. Only stable metadata goes in,
// so output is deterministic: no access or change times, no user names.
func (t *treeWriter) writeHeader(name string, fi fs.FileInfo, set func(*tar.Header)) error {
	h := &tar.Header{
		Name:    name,
		Mode:    tarMode(fi.Mode()),
		ModTime: time.Unix(fi.ModTime().Unix(), 0),
		Format:  tar.FormatPAX,
	}
	h.Uid, h.Gid = owner(fi)
	set(h)
	var err error
	if t.size != nil {
		err = t.size.add(h)
	} else {
		err = t.tw.WriteHeader(h)
	}
	if err != nil {
		return t.errorf(strings.TrimSuffix(name, "/"), err)
	}
	return nil
}

// regular sets a header up for a regular file of size bytes.
func regular(size int64) func(*tar.Header) {
	return func(h *tar.Header) {
		h.Typeflag = tar.TypeReg
		h.Size = size
	}
}

// Unix mode bits as stored in a tar header.
const (
	modeSetuid = 0o4000
	modeSetgid = 0o2000
	modeSticky = 0o1000
)

// tarMode returns the permission, setuid, setgid and sticky bits of m in
// tar's Unix encoding.
func tarMode(m fs.FileMode) int64 {
	mode := int64(m.Perm())
	if m&fs.ModeSetuid != 0 {
		mode |= modeSetuid
	}
	if m&fs.ModeSetgid != 0 {
		mode |= modeSetgid
	}
	if m&fs.ModeSticky != 0 {
		mode |= modeSticky
	}
	return mode
}

// CheckPatterns reports whether every exclude pattern is well formed (see
// Options.Exclude), so callers can refuse bad patterns before any I/O.
func CheckPatterns(patterns []string) error {
	_, err := compileExcludes(patterns)
	return err
}

// excludePattern is one compiled Options.Exclude entry.
type excludePattern struct {
	glob     string // path.Match pattern without the trailing "/" or leading "/"
	dirOnly  bool   // pattern ended in "/"
	fullPath bool   // matched against the relative path rather than the base name
}

// compileExcludes validates and compiles patterns (see Options.Exclude).
func compileExcludes(patterns []string) ([]excludePattern, error) {
	out := make([]excludePattern, 0, len(patterns))
	for _, p := range patterns {
		var e excludePattern
		e.glob, e.dirOnly = strings.CutSuffix(p, "/")
		if g, ok := strings.CutPrefix(e.glob, "/"); ok {
			e.glob, e.fullPath = g, true
		}
		if strings.Contains(e.glob, "/") {
			e.fullPath = true
		}
		if e.glob == "" {
			return nil, fmt.Errorf("archive: exclude pattern %q: empty pattern", p)
		}
		// path.Match checks the whole pattern even when the name does not match.
		if _, err := path.Match(e.glob, ""); err != nil {
			return nil, fmt.Errorf("archive: exclude pattern %q: %w", p, err)
		}
		out = append(out, e)
	}
	return out, nil
}

// excluded reports whether the entry at rel (relative, slash-separated) with
// base name base is excluded by patterns.
func excluded(patterns []excludePattern, rel, base string, isDir bool) bool {
	for _, p := range patterns {
		if p.dirOnly && !isDir {
			continue
		}
		name := base
		if p.fullPath {
			name = rel
		}
		if ok, _ := path.Match(p.glob, name); ok {
			return true
		}
	}
	return false
}
