//go:build unix

package main

import (
	"os"
	"os/signal"
	"syscall"
	"time"
)

// dieBy ends the process by sig, with the signal's default action, so its
// parent sees a process a signal ended: a shell running a script stops
// the script on Ctrl-C only when the command died by SIGINT, not when it
// exited with 130. It returns only if the process outlives the signal
// for a second (it never should), so the caller can exit instead.
func dieBy(sig syscall.Signal) {
	signal.Reset(sig)
	if syscall.Kill(os.Getpid(), sig) == nil {
		// The signal is pending until a thread takes it: wait for it.
		time.Sleep(time.Second)
	}
}

// ignoreBrokenPipes makes a write to a closed stdout or stderr fail with
// EPIPE instead of ending the process by SIGPIPE: a reader of the URLs
// that goes away, or a log consumer that dies, must not stop a run
// between two pipelines or leave a backup half-written. The channel is
// never read; a notified signal has no effect beyond that.
func ignoreBrokenPipes() {
	signal.Notify(make(chan os.Signal, 1), syscall.SIGPIPE)
}
