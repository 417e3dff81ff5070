package session

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"golang.org/x/sys/unix"
)

// lockDir takes the session's exclusive lock without waiting. The lock file
// records the holder's PID and command line so that a second nsh can say
// who holds it. Go opens files close-on-exec, so processes nsh starts never
// inherit the lock.
func lockDir(dir, name string) (*os.File, error) {
	path := dir + "/lock"
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("failed to open lock of session %q: %w", name, err)
	}
	if err := unix.Flock(int(f.Fd()), unix.LOCK_EX|unix.LOCK_NB); err != nil {
		f.Close()
		if errors.Is(err, unix.EWOULDBLOCK) {
			return nil, fmt.Errorf("session %q is in use by %s; wait for it to finish or stop it", name, Holder(dir))
		}
		return nil, fmt.Errorf("failed to lock session %q: %w", name, err)
	}
	args, _ := os.ReadFile("/proc/self/cmdline")
	cmd := strings.TrimSpace(strings.ReplaceAll(string(args), "\x00", " "))
	f.Truncate(0)
	fmt.Fprintf(f, "%d %s\n", os.Getpid(), cmd)
	return f, nil
}

// Holder describes the process that last took a session's lock.
func Holder(dir string) string {
	b, err := os.ReadFile(dir + "/lock")
	if err != nil {
		return "another process"
	}
	pid, cmd, _ := strings.Cut(strings.TrimSpace(string(b)), " ")
	if pid == "" {
		return "another process"
	}
	if cmd == "" {
		return "process " + pid
	}
	return fmt.Sprintf("process %s (%s)", pid, cmd)
}

// locked reports whether some process holds the session's lock.
func locked(dir string) bool {
	f, err := os.Open(dir + "/lock")
	if err != nil {
		return false
	}
	defer f.Close()
	if err := unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB); err != nil {
		return true
	}
	unix.Flock(int(f.Fd()), unix.LOCK_UN)
	return false
}
