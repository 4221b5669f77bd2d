// Command sluice backs up files, directories and streams: it compresses,
// encrypts and stores them in one or more object stores, and restores
// them. See README.md for the command-line contract.
package main

import (
	"cmp"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"

	"github.com/spf13/cobra"

	"github.com/sluice-backup/sluice/pipeline"
)

func main() {
	tuneGC()
	ignoreBrokenPipes()
	exitProcess(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// exitProcess ends the process with status code. A status a signal set
// (see [signalStatus]) ends it by that signal instead, once everything is
// cleaned up, as a command the signal had ended outright: the shell
// reports the same status, and a script stops on Ctrl-C.
func exitProcess(code int) {
	if sig := syscall.Signal(code - 128); code > 128 && slices.Contains(stopSignals, os.Signal(sig)) {
		dieBy(sig)
	}
	os.Exit(code)
}

// run executes the command line and returns the process exit status:
// 0 success, 1 failure, 2 usage or config error, 3 some targets failed,
// 128 + the signal's number when stopped by one of [stopSignals]
// (everything open aborted and cleaned up; a second signal exits at once
// without cleaning up).
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var asJSON atomic.Bool // set once the command's flags are parsed
	ctx, caught, stop := interruptContext(context.Background(), stderr, exitProcess, asJSON.Load)
	defer stop()
	out := &stickyWriter{w: stdout}
	root := newRootCmd(&env{stdin: stdin, stdout: out, stderr: stderr, json: &asJSON})
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if out.err != nil && storesObjects(cmd) && (err == nil || errors.Is(err, pipeline.ErrPartial)) {
		// The backups are done, but the URLs of the objects stored did
		// not all reach stdout, which scripts read them from. (Help or a
		// listing cut short by `| head` is what its reader asked for.)
		err = fmt.Errorf("write to standard output: %w (the URLs of the objects stored are not all printed)", out.err)
	}
	if err == nil {
		return exitOK
	}
	err = blameEnv(cmd, err)
	code := exitCode(err)
	sig := caught()
	if sig != nil {
		code = signalStatus(sig)
	}
	msg := pipeline.HideSecrets(err.Error())
	if jsonMode(cmd) || jsonRequested(cmd, args) {
		// --json promises stderr of JSON lines, to the last one.
		ev := errorEvent{eventHeader: header("error"), Error: msg, ExitCode: code}
		if sig != nil {
			ev.Signal = sig.String()
		}
		writeJSONEvent(stderr, ev)
		return code
	}
	if sig != nil {
		fmt.Fprintf(stderr, "sluice: interrupted by %v: %s\n", sig, msg)
		return code
	}
	fmt.Fprintln(stderr, "sluice:", msg)
	return code
}

// jsonMode reports whether cmd ran with --json set. The flag may be
// malformed or the command unknown; then it is not.
func jsonMode(cmd *cobra.Command) bool {
	if cmd == nil {
		return false
	}
	on, err := cmd.Flags().GetBool("json")
	return err == nil && on
}

// jsonRequested reports whether the command line or SLUICE_JSON asks
// cmd for --json when its flags could not be parsed: parsing stops at the
// first bad flag, before a --json after it is read, and the environment
// is applied only once parsing succeeded.
func jsonRequested(cmd *cobra.Command, args []string) bool {
	if cmd == nil || cmd.Flags().Lookup("json") == nil {
		return false
	}
	given := ""
	for _, a := range args {
		if a == "--" {
			break
		}
		if v, ok := strings.CutPrefix(a, "--json"); ok && (v == "" || v[0] == '=') {
			given = cmp.Or(strings.TrimPrefix(v, "="), "true") // the last one wins
		}
	}
	on, err := strconv.ParseBool(cmp.Or(given, os.Getenv("SLUICE_JSON")))
	return err == nil && on
}

// Exit statuses.
const (
	exitOK      = 0
	exitFailure = 1
	exitUsage   = 2
	exitPartial = 3
)

// exitError carries an exit status with an error.
type exitError struct {
	code int
	err  error
}

func (e *exitError) Error() string { return e.err.Error() }
func (e *exitError) Unwrap() error { return e.err }

func usageErrorf(format string, args ...any) error {
	return &exitError{code: exitUsage, err: fmt.Errorf(format, args...)}
}

func usageError(err error) error {
	if err == nil {
		return nil
	}
	return &exitError{code: exitUsage, err: err}
}

func exitCode(err error) int {
	var e *exitError
	if errors.As(err, &e) {
		return e.code
	}
	return exitFailure
}

// stickyWriter passes writes on to w until one fails, then fails every
// later one with that first error, which it keeps for the caller. It lets
// a run finish its work when stdout goes away (a reader that quit), and
// still end in an error saying that stdout is incomplete.
type stickyWriter struct {
	mu  sync.Mutex
	w   io.Writer
	err error
}

func (s *stickyWriter) Write(p []byte) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.err != nil {
		return 0, s.err
	}
	n, err := s.w.Write(p)
	s.err = err
	return n, err
}

// storesObjects reports whether cmd is a command whose stdout carries the
// URLs of the objects it stores: backup and run, not their help.
func storesObjects(cmd *cobra.Command) bool {
	if cmd == nil || !cmd.HasParent() || cmd.Parent().HasParent() {
		return false
	}
	if help, err := cmd.Flags().GetBool("help"); err == nil && help {
		return false
	}
	return cmd.Name() == "backup" || cmd.Name() == "run"
}
