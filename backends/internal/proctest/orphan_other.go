//go:build !linux

package proctest

import "os/exec"

// orphanGuard does nothing here: only Linux kills a child with its parent.
func orphanGuard(*exec.Cmd) {}
