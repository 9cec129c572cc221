package e2e

import "syscall"

// sysProcAttr puts a subprocess in its own process group (so the whole group can be signalled)
// and has the kernel SIGKILL it if the test binary dies without cleaning up (a -test.timeout
// panic skips deferred calls).
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
}
