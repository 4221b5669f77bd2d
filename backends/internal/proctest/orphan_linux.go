package proctest

import (
	"os/exec"
	"syscall"
)

// orphanGuard has the kernel kill cmd when the test process dies, even
// without running its cleanups (a panic, a timeout, SIGKILL), so a test
// server never outlives the test binary.
func orphanGuard(cmd *exec.Cmd) {
	cmd.SysProcAttr = &syscall.SysProcAttr{Pdeathsig: syscall.SIGKILL}
}
