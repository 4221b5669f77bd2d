package main

import (
	"errors"
	"fmt"
	"io/fs"
	"net/url"
	"os"
	"strings"

	"github.com/spf13/cobra"

	"github.com/sluice-backup/sluice/backends"
	"github.com/sluice-backup/sluice/pipeline"
	"github.com/sluice-backup/sluice/pipeline/archive"
)

type restoreFlags struct {
	to       string
	keys     keyFlags
	extract  archive.ExtractOptions
	json     bool
	progress string
}

func newRestoreCmd(e *env, g *globalFlags) *cobra.Command {
	f := &restoreFlags{}
	cmd := &cobra.Command{
		Use:   "restore OBJECT_URL --to PATH|-",
		Short: "Restore one stored object",
		Long: `Restore the object at OBJECT_URL (the URL backup printed, or any
SCHEME://bucket/path/to/object; for file:// the absolute path of the file).

The stages are read from the object's metadata, else from its manifest
(NAME.sluice.json beside it; the only record on file://), else detected
from its content, so objects made by other tools (tar | zstd | age, gzip)
restore too.
An archive is extracted into directory PATH (new or empty); a single stream
is written to file PATH, or into PATH when it is an existing directory or
ends in / (named after the object less the extensions of the stages
decoded); - writes the decoded stream to stdout, and so does a PATH that
is a character device or named pipe (/dev/null, a FIFO). Nothing appears
at PATH unless the whole object decoded and verified; an existing file is
never overwritten.`,
		Example: `  sluice restore s3://my-backups/photos/photos-20261129T042500Z.tar.zst.age --to ./photos -i key.txt`,
		Args:    usageArgs(cobra.ExactArgs(1)),
		RunE: func(cmd *cobra.Command, args []string) error {
			return runRestore(cmd, e, g, f, args[0])
		},
	}
	cmd.Flags().StringVar(&f.to, "to", "", "destination path, or - for stdout (required; not read from SLUICE_TO, which lists backup targets)")
	noEnv(cmd.Flags(), "to")
	cmd.Flags().BoolVar(&f.extract.ExternalSymlinks, "allow-external-symlinks", false, "create symlinks that point outside the destination (absolute or ../) as they are; none is ever followed while extracting")
	cmd.Flags().BoolVar(&f.extract.Devices, "devices", false, "restore device nodes and named pipes (refused by default)")
	cmd.Flags().BoolVar(&f.extract.SetID, "setid", false, "keep setuid and setgid bits (cleared by default)")
	cmd.Flags().BoolVar(&f.extract.Owners, "owners", false, "give entries the numeric owner and group the archive records (needs root; by default they belong to whoever restores)")
	cmd.Flags().BoolVar(&f.extract.Sparse, "sparse", false, "leave the blocks of zeros in restored files as holes, as cp --sparse=always does, so disk images and preallocated files take only the space of their data")
	cmd.Flags().BoolVar(&f.json, "json", false, "write JSON events to stderr instead of the human summary")
	cmd.Flags().StringVar(&f.progress, "progress", "auto", "progress display on stderr: auto (on a terminal), always or never")
	f.keys.addDecrypt(cmd.Flags())
	return cmd
}

func runRestore(cmd *cobra.Command, e *env, g *globalFlags, f *restoreFlags, objectURL string) error {
	log, err := g.logger(e.stderr, f.json)
	if err != nil {
		return err
	}
	ctx := backends.WithLogger(cmd.Context(), log)
	if f.to == "" {
		return usageErrorf("restore: --to PATH or --to - is required")
	}
	if err := checkRestorePath(f.to); err != nil {
		return err
	}
	if err := checkProgressMode(f.progress); err != nil {
		return err
	}
	keys, err := decodeKeys(e.reg(), &f.keys)
	if err != nil {
		return err
	}
	t, name, err := backends.OpenObject(ctx, e.reg(), objectURL)
	if err != nil {
		// A valid URL whose store or folder cannot be reached fails the
		// restore as a decode error would, with restore_failed before
		// the error event; an invalid one is a usage error like a
		// missing --to.
		if f.json && !errors.Is(err, backends.ErrInvalidTarget) {
			writeJSONEvent(e.stderr, restoreFailedEvent{eventHeader: header("restore_failed"), Object: backends.Redact(objectURL), Error: err.Error()})
		}
		return targetOpenError(err)
	}
	defer t.Close()
	warnLooseKeyFiles(e, &f.keys, log, f.json)
	rep := newRestoreReporter(e.stderr, f.json, showBars(f.progress, f.json, e.stderr), progressInterval(f.json), t.ObjectURL(name))
	defer g.divertLogs(rep.logHandler(f.json, rep.bars, g.level))()
	// Set-id bits are cleared unless --setid: said once, at the end, for
	// a shared folder's setgid bit is usually wanted.
	extract := f.extract
	var cleared int
	var firstCleared string
	extract.SetIDCleared = func(name string) {
		if cleared == 0 {
			firstCleared = name
		}
		cleared++
	}
	dec := &pipeline.Decoder{Registry: e.reg(), Keys: keys, Extract: extract, Opened: rep.opened}
	go rep.run()
	out, err := dec.RestoreTo(ctx, t, name, f.to, newCancelWriter(ctx, e.stdout))
	rep.finish(out, err)
	if err == nil && cleared > 0 {
		log.Warn("restored without setuid and setgid bits (restore with --setid to keep them)", "entries", cleared, "first", firstCleared)
	}
	if err != nil {
		if errors.Is(err, pipeline.ErrUnknownStage) || errors.Is(err, pipeline.ErrSecretForName) {
			return usageError(fmt.Errorf("restore %s: %w", t.ObjectURL(name), err))
		}
		return fmt.Errorf("restore %s: %w", t.ObjectURL(name), withRestoreHint(err, os.Geteuid() == 0))
	}
	return nil
}

// checkRestorePath refuses a restore --to that is a URL (SCHEME://…, or
// file:/abs, which targets accept too): restore writes to a local path
// only, and taking s3://b/p as the folder ./s3:/b/p would hide the
// mistake. A local folder of such a name is still reachable as ./NAME; a
// file URL is answered with its path.
func checkRestorePath(to string) error {
	scheme, rest, ok := strings.Cut(to, "://")
	if !ok && len(to) > len("file:/") && strings.EqualFold(to[:len("file:/")], "file:/") {
		scheme, rest, ok = "file", to[len("file:"):], true
	}
	if !ok || !validScheme(scheme) {
		return nil
	}
	if u, err := url.Parse(to); err == nil && strings.EqualFold(scheme, "file") && strings.HasPrefix(rest, "/") && u.Path != "" {
		return usageErrorf("restore --to %q: restore writes to a local path, not a URL: give the path itself (--to %s)", to, shellWord(u.Path))
	}
	return usageErrorf("restore --to %q: restore writes to a local path, not a URL (to restore into a local folder of that name, write --to %s)", to, shellWord("./"+to))
}

// shellWord quotes s for a shell, for a command line a message suggests:
// as it is when it holds only characters no shell treats specially, else
// in single quotes.
func shellWord(s string) string {
	plain := s != "" && strings.IndexFunc(s, func(c rune) bool {
		return !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || strings.ContainsRune("_./:@%+=,-", c))
	}) < 0
	if plain {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// validScheme reports whether s is a URL scheme as RFC 3986 spells one:
// a letter, then letters, digits, "+", "-" or ".".
func validScheme(s string) bool {
	for i, c := range s {
		letter := c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z'
		if !letter && (i == 0 || !(c >= '0' && c <= '9' || c == '+' || c == '-' || c == '.')) {
			return false
		}
	}
	return s != ""
}

// withRestoreHint adds to the error of a restore what would let it go on:
// the flag that lifts an archive entry's refusal, or the privilege --owners
// or --devices lacked. root says whether the restore ran as root: then the
// missing privilege is a capability (CAP_CHOWN, CAP_MKNOD), as in a
// container that drops them, not root itself.
func withRestoreHint(err error, root bool) error {
	switch {
	case errors.Is(err, archive.ErrExternalSymlink):
		return fmt.Errorf("%w (to create such links as they are, restore with --allow-external-symlinks)", err)
	case errors.Is(err, archive.ErrDevice):
		return fmt.Errorf("%w (to create them, restore with --devices)", err)
	case errors.Is(err, archive.ErrOwner) && errors.Is(err, fs.ErrPermission):
		if root {
			return fmt.Errorf("%w (--owners needs the CAP_CHOWN capability, which this process lacks; without --owners entries belong to whoever restores)", err)
		}
		return fmt.Errorf("%w (--owners needs root; without it entries belong to whoever restores)", err)
	case isMknod(err) && errors.Is(err, fs.ErrPermission):
		if root {
			return fmt.Errorf("%w (making device nodes needs the CAP_MKNOD capability, which this process lacks, as in most containers; named pipes do not)", err)
		}
		return fmt.Errorf("%w (making device nodes needs root; named pipes do not)", err)
	}
	return err
}

// isMknod reports whether err is the failure to make a device node or
// named pipe.
func isMknod(err error) bool {
	var pe *fs.PathError
	return errors.As(err, &pe) && pe.Op == "mknodat"
}
