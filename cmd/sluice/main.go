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
	"strconv"
	"strings"
	"sync/atomic"

	"github.com/spf13/cobra"
)

func main() {
	tuneGC()
	os.Exit(run(os.Args[1:], os.Stdin, os.Stdout, os.Stderr))
}

// run executes the command line and returns the process exit status:
// 0 success, 1 failure, 2 usage or config error, 3 some targets failed,
// 130 or 143 stopped by SIGINT or SIGTERM (everything open aborted and
// cleaned up; a second signal exits at once without cleaning up).
func run(args []string, stdin io.Reader, stdout, stderr io.Writer) int {
	var asJSON atomic.Bool // set once the command's flags are parsed
	ctx, caught, stop := interruptContext(context.Background(), stderr, os.Exit, asJSON.Load)
	defer stop()
	root := newRootCmd(&env{stdin: stdin, stdout: stdout, stderr: stderr, json: &asJSON})
	root.SetArgs(args)
	cmd, err := root.ExecuteContextC(ctx)
	if err == nil {
		return exitOK
	}
	err = blameEnv(cmd, err)
	code := exitCode(err)
	sig := caught()
	if sig != nil {
		code = signalStatus(sig)
	}
	if jsonMode(cmd) || jsonRequested(cmd, args) {
		// --json promises stderr of JSON lines, to the last one.
		ev := errorEvent{eventHeader: header("error"), Error: err.Error(), ExitCode: code}
		if sig != nil {
			ev.Signal = sig.String()
		}
		writeJSONEvent(stderr, ev)
		return code
	}
	if sig != nil {
		fmt.Fprintf(stderr, "sluice: interrupted by %v: %v\n", sig, err)
		return code
	}
	fmt.Fprintln(stderr, "sluice:", err)
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
