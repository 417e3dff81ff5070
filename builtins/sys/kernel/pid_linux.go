package kernel

import (
	"errors"
	"fmt"
	"os"
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
	if same(k.hostNS()) {
		return HostName, nil
	}
	k.mu.Lock()
	var open []*linuxNamespace
	for _, ns := range k.named {
		open = append(open, ns)
	}
	k.mu.Unlock()
	for _, ns := range open {
		if same(ns) {
			return ns.name, nil
		}
	}
	ents, _ := os.ReadDir(NetnsRunDir)
	for _, e := range ents {
		if ns, err := k.named1(e.Name()); err == nil && same(ns) {
			return ns.name, nil
		}
	}
	return "", fmt.Errorf("process %d is in a network namespace that has no name (neither host nor one in %s)", pid, NetnsRunDir)
}
