//go:build !unix

package main

import "syscall"

// dieBy does nothing where a process cannot end itself by a signal; the
// caller exits with the status instead.
func dieBy(syscall.Signal) {}

// ignoreBrokenPipes does nothing where writes to a closed pipe fail
// without a signal.
func ignoreBrokenPipes() {}
