package pipeline

import (
	"errors"
	"fmt"
	"io/fs"
	"math/rand/v2"
	"os"
	"path/filepath"
	"strconv"
)

// folder is an open folder: an [os.Root] for what is done by name in it,
// and its "." open as a file for what os.Root has no method for (renameat,
// fchmod, fsync, reading its names).
type folder struct {
	root *os.Root
	file *os.File
}

// openFolder returns root as a folder, or err if opening root failed. On
// error root is closed.
func openFolder(root *os.Root, err error) (*folder, error) {
	if err != nil {
		return nil, err
	}
	f, err := root.Open(".")
	if err != nil {
		root.Close()
		return nil, err
	}
	return &folder{root: root, file: f}, nil
}

func (d *folder) close() {
	d.file.Close()
	d.root.Close()
}

// tempDir is the temporary folder a restore extracts an archive into. From
// the moment it is made it is used only through descriptors, never again
// through its path: the folder holding it may belong to another user
// (root restoring into /home/alice), who can rename it away and plant a
// symlink or a folder of their own under its name at any moment. Through
// descriptors the restore keeps working in its own folder wherever it
// went and touches nothing else; checks by identity (the folder's inode,
// as its descriptor shows it) tell when its name no longer leads to it.
type tempDir struct {
	*folder
	parent *folder
	name   string      // its name in parent: dest's once renamed there
	id     fs.FileInfo // its identity, through its descriptor
}

// tempHook, when set (by tests), is called at each step of a restore's
// use of its temporary folder or file, with the step and its path, so a
// test can do there what another user could: rename it away and plant
// something in its place. Steps: "made" (a folder created, not yet
// opened), "extracted", "renaming" (before the rename of a folder, or
// the link of a file, to a new destination) and "moved" (after each
// entry moved into an existing destination).
var tempHook func(step, path string)

// tempStep calls [tempHook], if set, for the temporary folder or file
// name in dir.
func tempStep(step string, dir *folder, name string) {
	if tempHook != nil {
		tempHook(step, filepath.Join(dir.root.Name(), name))
	}
}

// errTempReplaced is the restore's failure when the name of its
// temporary folder or file (what) no longer leads to what it made.
func errTempReplaced(what string, parent *folder, name string) error {
	return fmt.Errorf("temporary %s %s was replaced during the restore by another user; nothing restored, and what they put in its place is left as it is",
		what, filepath.Join(parent.root.Name(), name))
}

// makeTemp makes a new private folder (mode 0700) in parent, named prefix
// and a random number, and opens it. It fails with [errTempReplaced] if
// what its name leads to by the time it is opened is not the very folder
// at that name (not one reached through a symlink) or, where another user
// can rename entries in parent (see [othersCanRename]), not one this
// process's user owns, private (see [private]): that user renamed it and
// put something of theirs there, which is left alone. Where nobody else
// can rename entries in parent, ownership and modes are not checked, so
// file systems that make them up (FAT, exFAT, some network mounts) work.
func makeTemp(parent *folder, prefix string) (*tempDir, error) {
	pst, err := parent.file.Stat()
	if err != nil {
		return nil, err
	}
	checkOwner := othersCanRename(pst)
	name, err := newName(parent, prefix, func(name string) error {
		return parent.root.Mkdir(name, 0o700)
	})
	if err != nil {
		return nil, err
	}
	tempStep("made", parent, name)
	dir, err := openFolder(parent.root.OpenRoot(name))
	if err != nil {
		if st, lerr := parent.root.Lstat(name); lerr == nil && st.IsDir() && (!checkOwner || private(st)) {
			// Still a folder of ours at that name, which could not be
			// opened (out of descriptors, say): remove it if it is
			// empty, as ours is.
			parent.root.Remove(name)
			return nil, err
		}
		// Gone, or a symlink leading out of parent or to something
		// that is not a folder.
		return nil, errTempReplaced("folder", parent, name)
	}
	id, err := dir.file.Stat()
	if err != nil {
		dir.close()
		return nil, err
	}
	at, err := parent.root.Lstat(name)
	if err != nil || !os.SameFile(id, at) || !id.IsDir() {
		dir.close()
		return nil, errTempReplaced("folder", parent, name)
	}
	if checkOwner && !private(id) {
		dir.close()
		return nil, fmt.Errorf("temporary folder %s is %s, not a private folder of this user's: another user replaced it, or the file system does not keep owners and modes (FAT, exFAT, NFS with root_squash); nothing restored, and it is left as it is",
			filepath.Join(parent.root.Name(), name), describeOwner(id))
	}
	return &tempDir{folder: dir, parent: parent, name: name, id: id}, nil
}

// newName creates an entry in parent with create, under a name made of
// prefix and a random number, trying another number while the name is
// taken, and returns the name.
func newName(parent *folder, prefix string, create func(name string) error) (string, error) {
	for try := 0; ; try++ {
		name := prefix + strconv.FormatUint(uint64(rand.Uint32()), 10)
		err := create(name)
		if err == nil {
			return name, nil
		}
		if !errors.Is(err, fs.ErrExist) || try == 10000 {
			return "", err
		}
	}
}

// is reports whether the entry name in d is id itself (not a symlink to
// it, nor something else put in its place).
func (d *folder) is(name string, id fs.FileInfo) bool {
	st, err := d.root.Lstat(name)
	return err == nil && os.SameFile(st, id)
}

// holdsIt reports whether the entry name in the parent is the temporary
// folder itself.
func (t *tempDir) holdsIt(name string) bool {
	return t.parent.is(name, t.id)
}

// remove removes the temporary folder's tree through its descriptors,
// even where the archive made folders in it read-only, which a user
// other than root cannot empty, or made it deeper than the limit on open
// descriptors (ulimit -n), which RemoveAll, holding one per level, runs
// out of: emptyTree removes what is left. Then it removes the folder's
// name from the parent if that name still leads to it; a folder renamed
// away by another user is left where they put it, empty.
func (t *tempDir) remove() {
	// A fresh "." to read from: t.file may have been read already.
	var names []string
	left := true
	if dir, err := t.root.Open("."); err == nil {
		names, err = dir.Readdirnames(-1)
		left = err != nil
		dir.Close()
	}
	for _, n := range names {
		if t.root.RemoveAll(n) != nil {
			left = true
		}
	}
	if left {
		emptyTree(t.root, ".")
	}
	if t.holdsIt(t.name) {
		t.parent.root.Remove(t.name)
	}
	t.close()
}

// joinName is the path of name in the open folder dir, for messages.
func joinName(dir *os.File, name string) string {
	return filepath.Join(dir.Name(), name)
}
