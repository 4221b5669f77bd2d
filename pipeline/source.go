package pipeline

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"

	"github.com/sluice-backup/sluice/pipeline/archive"
)

// A Source is what a backup reads: a file, a directory (read as a tar
// stream) or an arbitrary stream such as stdin.
type Source struct {
	// Name fills the {source} name placeholder: the base name of the path,
	// or "stdin"; "" when the path's name means nothing, as for a
	// process substitution's /dev/fd/N (see [PathSource]).
	Name string
	// Archive is true when the stream is a tar archive of a directory.
	Archive bool
	// Size is the stream's length when known in advance, else -1.
	Size int64

	// open starts reading; see [Source.OpenWith].
	open    func(ctx context.Context, o ReadOptions) (io.ReadCloser, error)
	measure func(ctx context.Context) (archive.Size, error) // directories only
}

// A SkipFunc is told of an entry of a directory source the archive leaves
// out for a reason other than the exclude patterns: a socket, device or
// named pipe, or an entry that vanished while the tree was read. path is
// the entry's path; reason says why.
type SkipFunc func(path, reason string)

// ReadOptions say how a directory source reads its tree; other sources
// ignore them.
type ReadOptions struct {
	// OnSkip, if set, is told of every entry left out for a reason other
	// than the exclude patterns.
	OnSkip SkipFunc
	// OnChange, if set, makes a file that changes while it is read be
	// archived as read (see [archive.Options.OnChange]) and reported to
	// it, instead of failing the read.
	OnChange func(path, what string)
}

// Open starts reading the source. The caller closes the reader.
func (s *Source) Open(ctx context.Context) (io.ReadCloser, error) {
	return s.open(ctx, ReadOptions{})
}

// OpenWith is [Source.Open] with o.
func (s *Source) OpenWith(ctx context.Context, o ReadOptions) (io.ReadCloser, error) {
	return s.open(ctx, o)
}

// Measure walks a directory source's metadata, without reading file data,
// and returns what its archive would hold as the tree is now (see
// [archive.Measure]); the tree may still change before or while it is
// read. ok is false for other sources, which have nothing to walk.
func (s *Source) Measure(ctx context.Context) (size archive.Size, ok bool, err error) {
	if s.measure == nil {
		return archive.Size{}, false, nil
	}
	size, err = s.measure(ctx)
	return size, true, err
}

// PathSource returns a source for a file, a directory or a named pipe. A
// directory is read as a tar archive built with exclude patterns (see
// [archive.Options]). Patterns given for a file are an error: they match
// paths inside a directory, so the caller asked for something that cannot
// apply. (A pipeline whose exclude list serves several sources reads its
// files with [PipelineConfig.SourceExcluding], which leaves them whole.) A named
// pipe (a FIFO, or a process substitution such as <(pg_dump db)) is read
// as a stream of unknown size, like stdin; opening it waits for a writer.
// Other files (devices, sockets) are refused. The source's Name is the
// path's base name, without leading dots, except for /dev/fd/N and
// /proc/PID/fd/N, whose names mean nothing: it is "" there, so a name
// template needs no {source}. Errors name the path.
func PathSource(path string, exclude []string) (*Source, error) {
	return pathSource(path, exclude, true)
}

// pathSource is [PathSource]; with strict false, exclude patterns are
// ignored for a file instead of refused.
func pathSource(path string, exclude []string, strict bool) (*Source, error) {
	st, err := os.Stat(path)
	if err != nil {
		return nil, fmt.Errorf("source: %w", err)
	}
	if err := archive.CheckPatterns(exclude); err != nil {
		return nil, fmt.Errorf("source %s: %w", path, err)
	}
	name := sourceName(path)
	switch {
	case st.IsDir():
		opts := archive.Options{Exclude: exclude}
		return &Source{Name: name, Archive: true, Size: -1, open: func(ctx context.Context, o ReadOptions) (io.ReadCloser, error) {
			opts := opts
			opts.OnSkip, opts.OnChange = o.OnSkip, o.OnChange
			return PipeProducer(ctx, func(ctx context.Context, w io.Writer) error {
				// The tar writer makes a write per header and per file;
				// batching them saves a goroutine hand-off through the
				// pipe for each, which dominated trees of small files.
				bw := bufio.NewWriterSize(w, copyBufferSize)
				if err := archive.Write(ctx, bw, path, opts); err != nil {
					return err
				}
				return bw.Flush()
			}), nil
		}, measure: func(ctx context.Context) (archive.Size, error) {
			return archive.Measure(ctx, path, opts)
		}}, nil
	case st.Mode().IsRegular():
		if strict && len(exclude) > 0 {
			return nil, fmt.Errorf("source %s: exclude patterns apply to directories only, and this is a file", path)
		}
		return &Source{Name: name, Size: st.Size(), open: openFile(path)}, nil
	case st.Mode()&os.ModeNamedPipe != 0:
		if strict && len(exclude) > 0 {
			return nil, fmt.Errorf("source %s: exclude patterns apply to directories only, and this is a named pipe", path)
		}
		return &Source{Name: name, Size: -1, open: openPipe(path)}, nil
	}
	return nil, fmt.Errorf("source %s: not a regular file, directory or named pipe", path)
}

// openFile opens path for a source. The file is read directly: a pipe's
// reads are cancelled by closing it, which the backup does on failure.
func openFile(path string) func(context.Context, ReadOptions) (io.ReadCloser, error) {
	return func(context.Context, ReadOptions) (io.ReadCloser, error) {
		f, err := os.Open(path)
		if err != nil {
			return nil, fmt.Errorf("source: %w", err)
		}
		return f, nil
	}
}

// openPipe opens the named pipe path for a source. Opening a pipe waits
// for a writer, which may never come (a producer that failed to start),
// so the wait ends with ctx: a signal still stops the backup, which then
// cleans up. The open left waiting is then ended by opening the pipe for
// writing, without blocking, and closing both ends. Reads go through
// Go's poller; closing the file, which the backup does on failure,
// cancels them.
func openPipe(path string) func(context.Context, ReadOptions) (io.ReadCloser, error) {
	return func(ctx context.Context, _ ReadOptions) (io.ReadCloser, error) {
		type opened struct {
			f   *os.File
			err error
		}
		done := make(chan opened, 1)
		go func() {
			f, err := os.Open(path)
			done <- opened{f, err}
		}()
		select {
		case o := <-done:
			if o.err != nil {
				return nil, fmt.Errorf("source: %w", o.err)
			}
			return o.f, nil
		case <-ctx.Done():
			if w, err := os.OpenFile(path, os.O_WRONLY|syscall.O_NONBLOCK, 0); err == nil {
				w.Close()
			}
			go func() {
				if o := <-done; o.f != nil {
					o.f.Close()
				}
			}()
			return nil, fmt.Errorf("source %s: no writer opened the pipe: %w", path, context.Cause(ctx))
		}
	}
}

// StreamSource returns a source over r, such as stdin. size is the
// expected length or -1. The source never closes r.
func StreamSource(name string, r io.Reader, size int64) *Source {
	return &Source{Name: name, Size: size, open: func(ctx context.Context, _ ReadOptions) (io.ReadCloser, error) {
		return ReaderFunc(ContextReader(ctx, r), nil), nil
	}}
}

// fdPathRE matches the paths of open file descriptors, which a shell's
// process substitution passes (<(cmd) is /dev/fd/63): their base names
// are numbers that say nothing of what is read.
var fdPathRE = regexp.MustCompile(`^(/dev/fd|/proc/(self|thread-self|[0-9]+)(/task/[0-9]+)?/fd)/[0-9]+$`)

// sourceName is the {source} name of path (see [PathSource]): its base
// name without leading dots, so that an object is not a hidden file;
// "root" for "/"; "source" for a name of dots only ("..."), which would
// otherwise leave "" or ".."; "" for a file descriptor's path.
func sourceName(path string) string {
	abs, err := filepath.Abs(path)
	if err == nil {
		path = abs
	}
	path = filepath.Clean(path)
	if fdPathRE.MatchString(filepath.ToSlash(path)) {
		return ""
	}
	base := filepath.Base(path)
	if base == "/" || base == "." || base == "" {
		return "root"
	}
	if name := strings.TrimLeft(base, "."); name != "" {
		return name
	}
	return "source"
}
