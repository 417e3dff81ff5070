package userns

import (
	"errors"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// holderArg is the hidden first argument of the holder: `nsh
// __nsh-holder DIR`.
const holderArg = "__nsh-holder"

// holderMain is the holder: it sets up the namespaces it was born in,
// records itself in the pid file, says it is ready by closing fd 3 (or
// writes why it is not), and then waits until no session is left and no
// nsh runs. It returns the exit status.
func holderMain(args []string) int {
	ready := os.NewFile(3, "ready")
	if len(args) != 1 || ready == nil {
		fmt.Fprintln(os.Stderr, "nsh: the holder is started by nsh itself")
		return 2
	}
	d := args[0]
	if err := holderSetup(d); err != nil {
		fmt.Fprint(ready, err.Error())
		return 1
	}
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, unix.SIGTERM, unix.SIGINT, unix.SIGHUP)
	ended := make(chan error, 1)
	go func() { ended <- holderWait(d) }()
	ready.Close()
	select {
	case <-sigs:
	case <-ended:
	}
	holderEnd(d)
	return 0
}

// holderSetup prepares the holder's namespaces: the loopback of its
// network namespace, which stands in for the machine's, is up; the
// machine's /run/xtables.lock, which iptables takes and only root may
// open, is replaced by one of the user's; and the pid file says who the
// holder is.
func holderSetup(d string) error {
	lo, err := netlink.LinkByName("lo")
	if err == nil {
		err = netlink.LinkSetUp(lo)
	}
	if err != nil {
		return fmt.Errorf("failed to bring up lo in the new network namespace: %w", err)
	}
	// Mounts made here stay in the holder's mount namespace.
	if err := unix.Mount("", "/", "", unix.MS_REC|unix.MS_SLAVE, ""); err != nil {
		return fmt.Errorf("failed to make the new mount namespace private: %w", err)
	}
	const xlock = "/run/xtables.lock"
	if _, err := os.Stat(xlock); err == nil {
		mine := filepath.Join(d, "xtables.lock")
		if err := os.WriteFile(mine, nil, 0o600); err != nil {
			return err
		}
		if err := unix.Mount(mine, xlock, "", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("failed to bind %s over %s: %w", mine, xlock, err)
		}
	}
	var st unix.Stat_t
	if err := unix.Stat("/proc/self/ns/user", &st); err != nil {
		return fmt.Errorf("failed to read the new user namespace: %w", err)
	}
	return writePidFile(d, holder{pid: os.Getpid(), ino: st.Ino})
}

// holderWait returns once no nsh runs (it can take clients.lock
// exclusively) and no session is left; it looks again whenever the
// sessions directory changes.
func holderWait(d string) error {
	sdir := filepath.Join(d, SessionsDir)
	in, err := unix.InotifyInit1(unix.IN_CLOEXEC)
	if err != nil {
		return err
	}
	if _, err := unix.InotifyAddWatch(in, sdir, unix.IN_CREATE|unix.IN_DELETE|unix.IN_MOVED_FROM|unix.IN_MOVED_TO|unix.IN_DELETE_SELF); err != nil {
		return err
	}
	buf := make([]byte, 4096)
	for {
		f, err := flock(filepath.Join(d, clientsLock), unix.LOCK_EX)
		if err != nil {
			return err
		}
		if !anySession(sdir) {
			// Ends holding the lock: an nsh that comes now waits for it,
			// then finds the holder gone and starts another.
			return nil
		}
		f.Close()
		if _, err := unix.Read(in, buf); err != nil && err != unix.EINTR {
			return err
		}
	}
}

// anySession reports whether the sessions directory holds a session (a
// directory with a journal).
func anySession(sdir string) bool {
	ents, err := os.ReadDir(sdir)
	if err != nil {
		return false
	}
	for _, e := range ents {
		if _, err := os.Stat(filepath.Join(sdir, e.Name(), "journal")); err == nil {
			return true
		}
	}
	return false
}

// holderEnd removes the pid file, if it is still this holder's, and stops
// pasta.
func holderEnd(d string) {
	if h, _ := readHolder(d); h.pid == os.Getpid() {
		os.Remove(filepath.Join(d, pidFile))
	}
	stopPasta(d)
}

// forbidden turns the failure to start a holder into an error that says
// which setting of the machine forbids user namespaces, and how to allow
// them, or to run nsh as root instead.
func forbidden(err error) error {
	const root = "or run nsh as root (sudo nsh ...)"
	if v, ok := readSysctl("kernel/unprivileged_userns_clone"); ok && v == "0" {
		return fmt.Errorf("this machine forbids user namespaces to normal users (kernel.unprivileged_userns_clone = 0), and nsh without root needs one: allow them with `sudo sysctl -w kernel.unprivileged_userns_clone=1`, %s", root)
	}
	if v, ok := readSysctl("user/max_user_namespaces"); ok && v == "0" {
		return fmt.Errorf("this machine allows no user namespaces (user.max_user_namespaces = 0), and nsh without root needs one: allow them with `sudo sysctl -w user.max_user_namespaces=15000`, %s", root)
	}
	if v, ok := readSysctl("kernel/apparmor_restrict_unprivileged_userns"); ok && v == "1" {
		return fmt.Errorf("AppArmor gives user namespaces of normal users no privileges (kernel.apparmor_restrict_unprivileged_userns = 1), and nsh without root needs them: allow them with `sudo sysctl -w kernel.apparmor_restrict_unprivileged_userns=0`, or give nsh an AppArmor profile with the `userns,` rule, %s (%v)", root, err)
	}
	if errors.Is(err, unix.ENOSPC) {
		return fmt.Errorf("failed to create a user namespace: you have as many as user.max_user_namespaces allows (%v): end some, raise it with sudo sysctl, %s", err, root)
	}
	if errors.Is(err, unix.EPERM) || errors.Is(err, unix.EACCES) || errors.Is(err, unix.EINVAL) {
		return fmt.Errorf("failed to create a user namespace (%v): this machine does not let normal users create them (a container, seccomp, or a security module may forbid it); run nsh as root (sudo nsh ...)", err)
	}
	return fmt.Errorf("failed to start the holder of your labs: %w", err)
}

// readSysctl reads /proc/sys/KEY, trimmed; ok is false if it has none.
func readSysctl(key string) (string, bool) {
	b, err := os.ReadFile("/proc/sys/" + key)
	if err != nil {
		return "", false
	}
	return strings.TrimSpace(string(b)), true
}
