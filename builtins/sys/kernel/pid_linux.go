package kernel

import (
	"errors"
	"fmt"
	"strconv"

	"golang.org/x/sys/unix"
)

// NameOfPid implements Kernel: it compares the namespace of
// /proc/PID/ns/net with host's and with the named ones nsh has open or
// finds in /run/netns.
func (k *Linux) NameOfPid(pid int) (string, error) {
	if pid <= 0 {
		return "", fmt.Errorf("bad pid %d", pid)
	}
	var want unix.Stat_t
	if err := unix.Stat("/proc/"+strconv.Itoa(pid)+"/ns/net", &want); err != nil {
		if errors.Is(err, unix.ENOENT) || errors.Is(err, unix.ESRCH) {
			return "", fmt.Errorf("no process %d", pid)
		}
		return "", fmt.Errorf("failed to open the network namespace of process %d: %w", pid, err)
	}
	same := func(ns *linuxNamespace) bool {
		if ns == nil {
			return false
		}
		ns.mu.Lock()
		defer ns.mu.Unlock()
		var st unix.Stat_t
		return !ns.closed && unix.Fstat(ns.Fd(), &st) == nil && st.Dev == want.Dev && st.Ino == want.Ino
	}
	if name, ok := k.findNamespace(same); ok {
		return name, nil
	}
	return "", fmt.Errorf("process %d is in a network namespace that has no name (neither host nor one in %s)", pid, NetnsRunDir)
}
