// Package archive writes directory trees as tar streams and extracts tar
// streams safely.
//
// [Write] produces a deterministic POSIX (PAX) tar stream of a directory
// tree that standard tar tools read (the tests check GNU tar).
// [Extract] restores a tar stream, from sluice or from another tool, into an
// empty directory and refuses every entry that could write outside it or
// follow a symlink; [Check] applies the same rules without writing anything.
// [IsTar] recognises a tar header for format detection.
//
// The package only speaks the tar format; compression, encryption and
// storage are layered around the streams by the caller.
package archive

import (
	"context"
	"errors"
	"fmt"
	"io"
	"strconv"
	"strings"
)

// ErrUnsafe is matched (with [errors.Is]) by every error [Extract] returns
// because it refused an entry: a path that escapes the destination or goes
// through a symlink, a symlink or hard link pointing outside, a device node
// that was not allowed, a file that would replace a directory that is not
// empty. [Check] returns the same errors. Errors for damaged or truncated
// streams do not match it.
var ErrUnsafe = errors.New("archive: unsafe entry")

// unsafeError is the reason an entry was refused. Its message stays short
// (it is wrapped with the entry name), yet it matches [ErrUnsafe].
type unsafeError string

func (e unsafeError) Error() string        { return string(e) }
func (e unsafeError) Is(target error) bool { return target == ErrUnsafe }

// ErrExternalSymlink is matched by the error [Extract] returns for a
// symlink whose target is absolute or leads outside the destination, when
// [ExtractOptions.ExternalSymlinks] is off. Such errors match [ErrUnsafe]
// too.
var ErrExternalSymlink = errors.New("archive: symlink points outside the destination")

// ErrDevice is matched by the error [Extract] returns for a device node or
// named pipe when [ExtractOptions.Devices] is off. Such errors match
// [ErrUnsafe] too.
var ErrDevice = errors.New("archive: device nodes and named pipes are not allowed")

// ErrOwner is matched by the error [Extract] returns when, with
// [ExtractOptions.Owners], an entry cannot be given the owner and group
// its header records; giving files away takes privileges (root), and the
// error wraps the system's (matching fs.ErrPermission then).
var ErrOwner = errors.New("archive: cannot give an entry its recorded owner")

// ownerError is the failure to give an entry uid and gid.
type ownerError struct {
	uid, gid int
	err      error
}

func (e ownerError) Error() string {
	return fmt.Sprintf("give it owner %d and group %d: %v", e.uid, e.gid, e.err)
}
func (e ownerError) Is(target error) bool { return target == ErrOwner }
func (e ownerError) Unwrap() error        { return e.err }

// optInError is an [unsafeError] that an [ExtractOptions] field would lift;
// it matches that field's sentinel too.
type optInError struct {
	msg      string
	sentinel error
}

func (e optInError) Error() string { return e.msg }
func (e optInError) Is(target error) bool {
	return target == ErrUnsafe || target == e.sentinel
}

// externalError is the refusal of an external symlink.
func externalError(msg string) error { return optInError{msg, ErrExternalSymlink} }

// blockSize is the tar record unit: headers start at multiples of it.
const blockSize = 512

// copyBufferSize is the chunk in which file data is copied; cancellation is
// checked between chunks.
const copyBufferSize = 128 << 10

// ctxReader reads from r until ctx is done and counts the bytes read.
type ctxReader struct {
	ctx context.Context
	r   io.Reader
	n   int64
}

func (c *ctxReader) Read(p []byte) (int, error) {
	if err := c.ctx.Err(); err != nil {
		return 0, err
	}
	n, err := c.r.Read(p)
	c.n += int64(n)
	return n, err
}

// IsEndMarker reports whether header, the first bytes of a stream, starts
// with a whole zero block: the end-of-archive marker, which is all that an
// archive holding no entries contains (tar -cf - -T /dev/null). [IsTar]
// does not recognise it, since zeros alone are no sign of tar; a caller
// that expects tar for another reason (the object's name says so) may take
// it for an empty archive, and [Extract] and [Check] then fail unless the
// marker is whole and only zeros follow it (an archive whose first header
// was zeroed has data after them).
func IsEndMarker(header []byte) bool {
	if len(header) < blockSize {
		return false
	}
	for _, c := range header[:blockSize] {
		if c != 0 {
			return false
		}
	}
	return true
}

// IsTar reports whether header, the first bytes of a stream (up to 512 are
// used), starts with a tar header: the "ustar" magic at offset 257 (POSIX
// and GNU archives), or, for old-style v7 archives, a full 512-byte block
// whose checksum field matches the block as archive/tar computes it. An
// archive that holds no entries at all (only the end-of-archive marker) is
// not recognised: see [IsEndMarker].
func IsTar(header []byte) bool {
	const magicOff = 257
	if len(header) >= magicOff+5 && string(header[magicOff:magicOff+5]) == "ustar" {
		return true
	}
	if len(header) < blockSize {
		return false
	}
	blk := header[:blockSize]
	// The checksum is parsed exactly like archive/tar does, so that every
	// block archive/tar accepts is recognised here.
	field := strings.Trim(string(blk[148:156]), " \x00")
	var want uint64
	if field != "" {
		field, _, _ = strings.Cut(field, "\x00")
		v, err := strconv.ParseUint(field, 8, 64)
		if err != nil {
			return false
		}
		want = v
	}
	var unsigned, signed int64
	for i, c := range blk {
		if 148 <= i && i < 156 {
			c = ' '
		}
		unsigned += int64(c)
		signed += int64(int8(c))
	}
	return int64(want) == unsigned || int64(want) == signed
}
