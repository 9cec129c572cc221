package main

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
)

// proc is a subprocess (bin/manager or bin/fake-connect) in its own process group, logging to a file.
type proc struct {
	name    string
	cmd     *exec.Cmd
	logPath string
	started time.Time
	done    chan struct{} // closed when the process has exited
	err     error         // its exit status, once done is closed
}

// startProc starts path with args in its own process group. The kernel SIGKILLs it if the
// benchmark dies without cleaning up (Pdeathsig), so a crash leaves no orphan behind.
func startProc(dir, name, path string, args ...string) (*proc, error) {
	if _, err := os.Stat(path); err != nil {
		return nil, fmt.Errorf("%s not found: run 'make build' first", path)
	}
	logPath := filepath.Join(dir, name+".log")
	logFile, err := os.OpenFile(logPath, os.O_CREATE|os.O_WRONLY|os.O_APPEND, 0o600)
	if err != nil {
		return nil, err
	}
	defer func() { _ = logFile.Close() }() // the child keeps its own descriptor
	cmd := exec.Command(path, args...)
	cmd.Stdout, cmd.Stderr = logFile, logFile
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true, Pdeathsig: syscall.SIGKILL}
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("starting %s: %w", name, err)
	}
	p := &proc{name: name, cmd: cmd, logPath: logPath, started: time.Now(), done: make(chan struct{})}
	go func() { p.err = cmd.Wait(); close(p.done) }()
	return p, nil
}

func (p *proc) pid() int { return p.cmd.Process.Pid }

// stop sends SIGTERM to the process group, waits up to timeout, then SIGKILLs the group.
// It reports whether the process exited on SIGTERM (graceful).
func (p *proc) stop(timeout time.Duration) bool {
	select {
	case <-p.done:
		return true
	default:
	}
	_ = syscall.Kill(-p.pid(), syscall.SIGTERM)
	select {
	case <-p.done:
		return true
	case <-time.After(timeout):
		_ = syscall.Kill(-p.pid(), syscall.SIGKILL)
		<-p.done
		return false
	}
}

// exitedErr returns an error when the process has already exited.
func (p *proc) exitedErr() error {
	select {
	case <-p.done:
		return fmt.Errorf("%s exited early (%v); last log lines:\n%s", p.name, p.err, p.tail(20))
	default:
		return nil
	}
}

// tail returns the last n lines of the process's log.
func (p *proc) tail(n int) string {
	b, err := os.ReadFile(p.logPath)
	if err != nil {
		return ""
	}
	lines := strings.Split(strings.TrimRight(string(b), "\n"), "\n")
	if len(lines) > n {
		lines = lines[len(lines)-n:]
	}
	return "    " + strings.Join(lines, "\n    ")
}

// waitLog waits until the process's log contains substr.
func (p *proc) waitLog(ctx context.Context, substr string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		if b, err := os.ReadFile(p.logPath); err == nil && bytes.Contains(b, []byte(substr)) {
			return nil
		}
		if err := p.exitedErr(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not log %q within %s; last log lines:\n%s", p.name, substr, timeout, p.tail(20))
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// rssBytes returns the resident set size (VmRSS of /proc/<pid>/status).
func rssBytes(pid int) (int64, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/status", pid))
	if err != nil {
		return 0, err
	}
	for _, line := range strings.Split(string(b), "\n") {
		if rest, ok := strings.CutPrefix(line, "VmRSS:"); ok {
			f := strings.Fields(rest)
			if len(f) == 0 {
				break
			}
			kb, err := strconv.ParseInt(f[0], 10, 64)
			return kb * 1024, err
		}
	}
	return 0, errors.New("no VmRSS in /proc status")
}

// clockTicks is USER_HZ, the unit of utime and stime in /proc/<pid>/stat: 100 on every Linux
// architecture Go supports (sysconf(_SC_CLK_TCK) is not reachable without cgo).
const clockTicks = 100

// cpuSeconds returns utime+stime of the process from /proc/<pid>/stat.
func cpuSeconds(pid int) (float64, error) {
	st, err := readStat(pid)
	return st.cpu, err
}

// procStat is what the benchmark reads of /proc/<pid>/stat.
type procStat struct {
	comm string
	ppid int
	cpu  float64 // utime+stime, seconds
}

func readStat(pid int) (procStat, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return procStat{}, err
	}
	// The command name (field 2) is in parentheses and may contain spaces: split around it.
	s := string(b)
	open, end := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
	if open < 0 || end < open {
		return procStat{}, errors.New("malformed /proc stat")
	}
	f := strings.Fields(s[end+1:])
	// f[0] is field 3 (state), f[1] field 4 (ppid); utime and stime are fields 14 and 15.
	if len(f) < 13 {
		return procStat{}, errors.New("short /proc stat")
	}
	ppid, err0 := strconv.Atoi(f[1])
	utime, err1 := strconv.ParseInt(f[11], 10, 64)
	stime, err2 := strconv.ParseInt(f[12], 10, 64)
	if err := errors.Join(err0, err1, err2); err != nil {
		return procStat{}, err
	}
	return procStat{comm: s[open+1 : end], ppid: ppid, cpu: float64(utime+stime) / clockTicks}, nil
}

// processCPU returns the CPU seconds used so far by this process ("bench") and by each of its
// children (etcd, kube-apiserver, manager, fake-connect), by command name: where a phase's CPU
// went on a machine that all of them share.
func processCPU() counts {
	self := os.Getpid()
	out := counts{}
	entries, _ := os.ReadDir("/proc")
	for _, e := range entries {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		st, err := readStat(pid)
		switch {
		case err != nil:
		case pid == self:
			out["bench"] += st.cpu
		case st.ppid == self:
			out[st.comm] += st.cpu
		}
	}
	return out
}

func freeAddr() (string, error) {
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return "", err
	}
	defer func() { _ = l.Close() }()
	return l.Addr().String(), nil
}

// waitHTTP waits until url answers 200.
func waitHTTP(ctx context.Context, p *proc, url string, timeout time.Duration) error {
	deadline := time.Now().Add(timeout)
	for {
		req, _ := http.NewRequestWithContext(ctx, http.MethodGet, url, nil)
		if resp, err := http.DefaultClient.Do(req); err == nil {
			_ = resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return nil
			}
		}
		if err := p.exitedErr(); err != nil {
			return err
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("%s did not answer within %s", url, timeout)
		}
		if err := sleep(ctx, 100*time.Millisecond); err != nil {
			return err
		}
	}
}

// sleep waits d or until ctx is done.
func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-ctx.Done():
		return ctx.Err()
	case <-t.C:
		return nil
	}
}
