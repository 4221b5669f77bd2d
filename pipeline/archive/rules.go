package archive

import (
	"archive/tar"
	"fmt"
	"path"
	"strings"
)

// GNU tar entry types archive/tar has no names for.
const (
	// typeGNUDumpDir is a directory of a GNU incremental archive; its data
	// lists the directory's contents, which plain extraction ignores.
	typeGNUDumpDir = 'D'
	// typeGNUVolume is a volume label (tar -V): no file, only a name.
	typeGNUVolume = 'V'
)

// kind is what a path holds.
type kind uint8

const (
	none kind = iota
	isDir
	isFile // a regular file, also when made by a hard link
	isSymlink
	isSpecial // a device node or named pipe
)

// step is what one entry does to the destination, as [rules] decided it.
type step struct {
	name string // cleaned, slash-separated
	kind kind   // what the entry creates
	skip bool   // nothing to do
	// parents are the missing parent directories to create, outermost
	// first.
	parents []string
	// old is what earlier entries left at name: it is removed first,
	// unless both are directories (the directory is kept).
	old kind
	// link is a hard link's cleaned target: a regular file, or a symlink
	// (kind is then isSymlink).
	link string
}

// rules decides, entry by entry, what extracting an archive into an empty
// directory does, and refuses what is unsafe, from a model of what the
// earlier entries created. [Extract] carries the decisions out and [Check]
// only makes them, so both refuse exactly the same archives.
//
// The model is exact because the destination starts empty and only the
// extraction writes to it: every path in it was created by an earlier entry
// (or as its parent), so a directory in it is a real directory, never a
// symlink to one.
type rules struct {
	opts ExtractOptions
	// paths holds every path created so far, cleaned and slash-separated,
	// "." being the destination. Every ancestor of a path is a directory
	// in paths.
	paths map[string]kind
	// filled holds the directories something was created in.
	filled map[string]bool
	// targets holds the target of every symlink in paths.
	targets map[string]string
}

func newRules(opts ExtractOptions) *rules {
	return &rules{opts: opts, paths: map[string]kind{".": isDir}, filled: map[string]bool{}, targets: map[string]string{}}
}

// next checks the entry hdr against what the earlier entries created and
// returns what it does, updating the model as if it was done. A refusal
// matches [ErrUnsafe]; an unsupported entry type is an error too.
//
// A later entry for a path replaces the earlier one, as GNU tar does: the
// earlier file, symlink or empty directory is removed (a symlink itself,
// never what it points to), and a directory repeated as a directory is kept
// (its later mode and time win). A non-directory never replaces a directory
// that holds something, which GNU tar refuses too.
func (r *rules) next(hdr *tar.Header) (step, error) {
	switch hdr.Typeflag {
	case tar.TypeXGlobalHeader, typeGNUVolume:
		return step{skip: true}, nil
	}
	name, err := cleanName(hdr.Name)
	if err != nil {
		return step{}, err
	}
	s := step{name: name}
	switch hdr.Typeflag {
	// archive/tar reports old TypeRegA ('\x00') entries as TypeReg, or
	// TypeDir when the name ends in "/".
	case tar.TypeReg, tar.TypeGNUSparse, tar.TypeCont:
		s.kind = isFile
	case tar.TypeDir, typeGNUDumpDir:
		s.kind = isDir
	case tar.TypeSymlink:
		s.kind = isSymlink
	case tar.TypeLink:
		s.kind = isFile
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		s.kind = isSpecial
	default:
		return step{}, fmt.Errorf("unsupported entry type %q", hdr.Typeflag)
	}
	if name == "." {
		if s.kind == isDir {
			// The destination keeps its own mode and times.
			return step{skip: true}, nil
		}
		return step{}, unsafeError("non-directory entry names the destination itself")
	}
	switch hdr.Typeflag {
	case tar.TypeSymlink:
		if err := checkSymlink(name, hdr.Linkname, r.opts.ExternalSymlinks); err != nil {
			return step{}, err
		}
	case tar.TypeLink:
		if s.link, s.kind, err = r.linkTarget(hdr.Linkname); err != nil {
			return step{}, err
		}
		if s.link == name {
			// GNU tar stores a file named twice as a link to itself.
			return step{skip: true}, nil
		}
		if s.kind == isSymlink {
			// A hard link to a symlink is a second name for the same
			// symlink (cp -al and rsnapshot make them), whose target
			// resolves from the new name's directory: it must pass the
			// check a symlink made there would.
			if err := checkSymlink(name, r.targets[s.link], r.opts.ExternalSymlinks); err != nil {
				return step{}, fmt.Errorf("hard link to symlink %q: %w", hdr.Linkname, err)
			}
		}
	case tar.TypeChar, tar.TypeBlock, tar.TypeFifo:
		if !r.opts.Devices {
			return step{}, optInError{"device nodes and named pipes are not allowed", ErrDevice}
		}
	}
	if s.parents, err = r.missingParents(name); err != nil {
		return step{}, err
	}
	s.old = r.paths[name]
	if s.old == isDir && s.kind != isDir && r.filled[name] {
		return step{}, unsafeError("would replace a directory that is not empty")
	}
	for _, p := range s.parents {
		r.add(p, isDir)
	}
	r.add(name, s.kind)
	switch {
	case hdr.Typeflag == tar.TypeSymlink:
		r.targets[name] = hdr.Linkname
	case s.kind == isSymlink:
		r.targets[name] = r.targets[s.link]
	default:
		delete(r.targets, name)
	}
	return s, nil
}

func (r *rules) add(name string, k kind) {
	r.paths[name] = k
	r.filled[path.Dir(name)] = true
}

// linkTarget checks a hard link's target, which must be a regular file or
// a symlink an earlier entry created, and returns it cleaned and what it
// is. The link is made to a symlink itself, never to what it points to.
func (r *rules) linkTarget(linkname string) (string, kind, error) {
	target, err := cleanName(linkname)
	if err != nil {
		return "", none, unsafeError(fmt.Sprintf("hard link target %q: %v", linkname, err))
	}
	if _, err := r.missingParents(target); err != nil {
		return "", none, fmt.Errorf("hard link target %q: %w", linkname, err)
	}
	switch k := r.paths[target]; k {
	case isFile, isSymlink:
		return target, k, nil
	case none:
		return "", none, unsafeError(fmt.Sprintf("hard link target %q does not exist", linkname))
	default:
		return "", none, unsafeError(fmt.Sprintf("hard link target %q is not a regular file or symlink", linkname))
	}
}

// missingParents returns the parent directories of name that do not exist
// yet, outermost first, or an error if a parent is a symlink or another
// non-directory.
func (r *rules) missingParents(name string) ([]string, error) {
	dir := path.Dir(name)
	if r.paths[dir] == isDir {
		return nil, nil
	}
	var missing []string
	for i := 0; ; {
		j := strings.IndexByte(dir[i:], '/')
		p := dir
		if j >= 0 {
			p = dir[:i+j]
		}
		switch r.paths[p] {
		case isDir:
		case none:
			missing = append(missing, p)
		case isSymlink:
			return nil, unsafeError(fmt.Sprintf("path goes through symlink %q", p))
		default:
			return nil, unsafeError(fmt.Sprintf("parent %q is not a directory", p))
		}
		if j < 0 {
			return missing, nil
		}
		i += j + 1
	}
}
