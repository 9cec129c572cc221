//go:build !linux

package e2e

import "syscall"

// sysProcAttr puts a subprocess in its own process group, so the whole group can be signalled.
func sysProcAttr() *syscall.SysProcAttr {
	return &syscall.SysProcAttr{Setpgid: true}
}
