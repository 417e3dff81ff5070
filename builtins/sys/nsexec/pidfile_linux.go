package nsexec

import (
	"bytes"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"strconv"
	"strings"
	"syscall"
	"time"

	"golang.org/x/sys/unix"
)

// pollInterval is how often Stop and Wait look at /proc.
const pollInterval = 10 * time.Millisecond

// killWait bounds how long Stop waits for a process to die of SIGKILL.
const killWait = 2 * time.Second

// procStat holds the fields of /proc/PID/stat that identify a process.
type procStat struct {
	state byte   // field 3: R, S, D, Z, ...
	start uint64 // field 22: start time in clock ticks after boot
}

// readProcStat reads /proc/PID/stat.
func readProcStat(pid int) (procStat, error) {
	b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/stat")
	if err != nil {
		return procStat{}, err
	}
	// The command name (field 2) is in parentheses and may itself hold
	// spaces and parentheses: the fields that follow begin after the last ')'.
	i := bytes.LastIndexByte(b, ')')
	if i < 0 {
		return procStat{}, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	fields := strings.Fields(string(b[i+1:]))
	if len(fields) < 20 || len(fields[0]) != 1 {
		return procStat{}, fmt.Errorf("malformed /proc/%d/stat", pid)
	}
	start, err := strconv.ParseUint(fields[19], 10, 64)
	if err != nil {
		return procStat{}, fmt.Errorf("malformed /proc/%d/stat: %w", pid, err)
	}
	return procStat{state: fields[0][0], start: start}, nil
}

// readPidfile returns the process ID and start time recorded in a pidfile.
// A missing pidfile gives an error wrapping fs.ErrNotExist.
func readPidfile(path string) (pid int, start uint64, err error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, err
	}
	f := strings.Fields(string(b))
	if len(f) == 2 {
		pid, err = strconv.Atoi(f[0])
		if err == nil && pid > 0 {
			start, err = strconv.ParseUint(f[1], 10, 64)
			if err == nil {
				return pid, start, nil
			}
		}
	}
	return 0, 0, fmt.Errorf("pidfile %s is malformed: want \"PID STARTTIME\", have %q", path, b)
}

// alive reports whether the process pid with the given start time exists
// and has not exited. A zombie has exited; a process with another start
// time is a different process that reuses the ID.
func alive(pid int, start uint64) bool {
	// A zombie may be a main thread whose other thread is in the middle
	// of an exec; look again a few times before calling it dead.
	for try := 0; try < 4; try++ {
		st, err := readProcStat(pid)
		if err != nil || st.start != start {
			return false
		}
		if !exited(st.state) || liveThread(pid) {
			return true
		}
		time.Sleep(time.Duration(try+1) * time.Millisecond)
	}
	return false
}

// liveThread reports whether any thread of pid has not exited. While a
// thread other than the main one execs, the kernel shows the main thread
// as a zombie until the exec'ing thread takes over its ID.
func liveThread(pid int) bool {
	tasks, err := os.ReadDir("/proc/" + strconv.Itoa(pid) + "/task")
	if err != nil {
		return false
	}
	for _, t := range tasks {
		b, err := os.ReadFile("/proc/" + strconv.Itoa(pid) + "/task/" + t.Name() + "/stat")
		if err != nil {
			continue
		}
		if i := bytes.LastIndexByte(b, ')'); i >= 0 && i+2 < len(b) && !exited(b[i+2]) {
			return true
		}
	}
	return false
}

// exited reports whether a state of /proc/PID/stat is that of a task
// that has exited: zombie or dead.
func exited(state byte) bool { return state == 'Z' || state == 'X' }

// Running reports whether the process recorded in pidfile is running, and
// its process ID if it is. It is false, with pid 0, if the pidfile is
// missing or unreadable, or the process has exited.
func Running(pidfile string) (pid int, running bool) {
	pid, start, err := readPidfile(pidfile)
	if err != nil {
		return 0, false
	}
	if !alive(pid, start) {
		// Once Running is false, ExitCode knows the status.
		awaitReaper(pidfile)
		return 0, false
	}
	return pid, true
}

// Wait waits up to timeout for the process recorded in pidfile to exit,
// and reports whether it has. A missing pidfile counts as exited.
func Wait(pidfile string, timeout time.Duration) (exited bool) {
	deadline := time.Now().Add(timeout)
	for {
		if _, running := Running(pidfile); !running {
			return true
		}
		if !time.Now().Before(deadline) {
			return false
		}
		time.Sleep(min(pollInterval, time.Until(deadline)))
	}
}

// Stop stops the process recorded in pidfile, which Start wrote: it sends
// sig to the process's group, waits up to grace for the process to exit,
// then kills what remains of the group with SIGKILL, and removes the
// pidfile (but not the exit status that ExitCode reads). Stop may be
// called from any process. It does nothing if the pidfile is missing or
// the process has already exited, so it may be called more than once.
func Stop(pidfile string, sig syscall.Signal, grace time.Duration) error {
	pid, start, err := readPidfile(pidfile)
	if errors.Is(err, fs.ErrNotExist) {
		return nil
	}
	if err != nil {
		return fmt.Errorf("failed to stop the process of %s: %w", pidfile, err)
	}
	if alive(pid, start) {
		if err := signalGroup(pid, sig); err != nil && err != unix.ESRCH {
			return fmt.Errorf("failed to signal process %d: %w", pid, err)
		}
		deadline := time.Now().Add(grace)
		for alive(pid, start) && time.Now().Before(deadline) {
			time.Sleep(pollInterval)
		}
		// The group's ID cannot be reused while the group has members,
		// so this kills only what the process left behind.
		if err := signalGroup(pid, unix.SIGKILL); err != nil && err != unix.ESRCH {
			return fmt.Errorf("failed to kill process %d: %w", pid, err)
		}
		deadline = time.Now().Add(killWait)
		for alive(pid, start) {
			if !time.Now().Before(deadline) {
				return fmt.Errorf("failed to stop process %d: it is still running after SIGKILL", pid)
			}
			time.Sleep(pollInterval)
		}
		awaitReaper(pidfile)
	}
	if err := os.Remove(pidfile); err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("failed to remove pidfile: %w", err)
	}
	return nil
}

// signalGroup sends sig to the process group led by pid, or to pid alone
// if it no longer leads a group. ESRCH means neither exists.
func signalGroup(pid int, sig syscall.Signal) error {
	err := unix.Kill(-pid, sig)
	if err == unix.ESRCH {
		err = unix.Kill(pid, sig)
	}
	return err
}
