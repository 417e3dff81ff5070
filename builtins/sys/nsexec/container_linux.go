package nsexec

import (
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"
	"unsafe"

	"github.com/nshlab/nsh/builtins/sys/kernel"
	"golang.org/x/sys/unix"
)

// initArg is the hidden first argument that makes Init run a container's
// init process: `BINARY __nsh-init SPEC-JSON`.
const initArg = "__nsh-init"

// Descriptors that StartContainer hands its init process, after the
// standard three.
const (
	initGoFd    = 3 // read: one byte once the pidfile is written; EOF if nsh died first
	initLogFd   = 4 // the log file, opened by nsh
	initSysfsFd = 5 // with User: a detached sysfs of the network namespace
)

// InitName is the command name (comm) of a container's init process.
const InitName = "nsh-init"

// HostNameMax is the longest hostname the kernel takes (HOST_NAME_MAX).
const HostNameMax = 64

// A ContainerSpec describes a container: the namespaces its init process
// holds besides the network namespace it is started in, and how it sets
// them up.
type ContainerSpec struct {
	// Name names the container in messages.
	Name string `json:"name"`
	// Netns is the name of its network namespace in /run/netns, whose
	// files in /etc/netns/NAME are bound over /etc as `ip netns exec`
	// does; "" for none.
	Netns string `json:"netns,omitempty"`
	// Hostname is set in its UTS namespace, if it has one.
	Hostname string `json:"hostname,omitempty"`
	// PID, UTS, IPC, Mount and User ask for a namespace of each kind.
	PID   bool `json:"pid,omitempty"`
	UTS   bool `json:"uts,omitempty"`
	IPC   bool `json:"ipc,omitempty"`
	Mount bool `json:"mount,omitempty"`
	User  bool `json:"user,omitempty"`
	// UID and GID are the ids outside to which root inside maps, with User.
	UID int `json:"uid,omitempty"`
	GID int `json:"gid,omitempty"`
	// Rootfs, if not "", is the directory that becomes its root.
	Rootfs string `json:"rootfs,omitempty"`
	// Cgroup, if not "", is the cgroup v2 directory the init process
	// starts in (see CgroupCreate).
	Cgroup string `json:"cgroup,omitempty"`
	// Pidfile records the init process as Start's pidfiles do, and
	// Logfile receives what it and its orphans write.
	Pidfile string `json:"-"`
	Logfile string `json:"-"`
}

// cloneflags returns the namespaces the init process is born in.
func (s ContainerSpec) cloneflags() uintptr {
	var f uintptr
	for _, c := range []struct {
		on   bool
		flag uintptr
	}{{s.Mount, unix.CLONE_NEWNS}, {s.PID, unix.CLONE_NEWPID}, {s.UTS, unix.CLONE_NEWUTS}, {s.IPC, unix.CLONE_NEWIPC}, {s.User, unix.CLONE_NEWUSER}} {
		if c.on {
			f |= c.flag
		}
	}
	return f
}

// ErrUserNS is wrapped by the error of a container with a user namespace
// on a machine that does not allow one.
var ErrUserNS = errors.New("user namespaces are disabled on this machine")

// UserNSAllowed returns nil if the machine lets nsh create a user
// namespace, or an error wrapping ErrUserNS that says why not.
func UserNSAllowed() error {
	return userNSAllowed("/proc/sys/user/max_user_namespaces")
}

func userNSAllowed(sysctl string) error {
	b, err := os.ReadFile(sysctl)
	if errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("%w: the kernel has no user namespaces (%s is missing)", ErrUserNS, sysctl)
	}
	if err == nil && strings.TrimSpace(string(b)) == "0" {
		return fmt.Errorf("%w: user.max_user_namespaces is 0 (allow them with sysctl -w user.max_user_namespaces=15000)", ErrUserNS)
	}
	return nil
}

// StartContainer starts the init process of a container in ns: nsh
// itself, re-executed, in new namespaces as spec says. It is PID 1 of its
// PID namespace, reaps the orphans there, and passes SIGTERM, SIGINT,
// SIGHUP, SIGUSR1 and SIGUSR2 on to every process of the namespace; on
// SIGTERM it exits once they have (or after a second), and the kernel
// kills what is left. Like Start's processes it runs in a session of its
// own, outlives nsh, and is recorded in spec.Pidfile (written by nsh
// before the process does anything: if nsh dies before, the process
// exits), so that Stop, Running and Target find it from any process.
// StartContainer returns once the namespaces are set up, or with the
// reason they could not be.
func StartContainer(ns kernel.Namespace, spec ContainerSpec) (pid int, err error) {
	fail := func(err error) (int, error) {
		return 0, fmt.Errorf("failed to start container %q: %w", spec.Name, err)
	}
	if spec.Pidfile == "" || spec.Logfile == "" {
		return fail(errors.New("a pidfile and a log file are required"))
	}
	if pid, ok := Running(spec.Pidfile); ok {
		return fail(fmt.Errorf("%s records process %d, which is still running", spec.Pidfile, pid))
	}
	os.Remove(spec.Pidfile)
	os.Remove(exitFile(spec.Pidfile))
	if spec.User {
		if err := UserNSAllowed(); err != nil {
			return fail(err)
		}
	}
	js, err := json.Marshal(spec)
	if err != nil {
		return fail(err)
	}
	log, err := os.OpenFile(spec.Logfile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return fail(fmt.Errorf("the log file: %w", err))
	}
	defer log.Close()
	goR, goW, err := os.Pipe()
	if err != nil {
		return fail(err)
	}
	defer goR.Close()
	defer goW.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return fail(err)
	}
	defer r.Close()

	cmd := exec.Command(selfExe)
	cmd.Args = []string{os.Args[0], initArg, string(js)}
	cmd.Env = []string{"PATH=" + defaultPathEnv()}
	cmd.Stdout, cmd.Stderr = w, w
	cmd.ExtraFiles = []*os.File{goR, log}
	attr := &syscall.SysProcAttr{Cloneflags: spec.cloneflags(), Setsid: true}
	if spec.User {
		attr.UidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: spec.UID, Size: 1}}
		attr.GidMappings = []syscall.SysProcIDMap{{ContainerID: 0, HostID: spec.GID, Size: 1}}
		attr.GidMappingsEnableSetgroups = false
	}
	if spec.Cgroup != "" {
		cg, err := os.Open(spec.Cgroup)
		if err != nil {
			return fail(fmt.Errorf("the cgroup: %w", err))
		}
		defer cg.Close()
		attr.UseCgroupFD, attr.CgroupFD = true, int(cg.Fd())
	}
	cmd.SysProcAttr = attr
	err = ns.Do(func() error {
		if spec.User && spec.Mount {
			// Root of a user namespace may not mount the sysfs of a
			// network namespace that the machine's root owns: nsh makes
			// it, here in that namespace, and the init process moves it
			// into place.
			fd, err := detachedSysfs()
			if err != nil {
				return err
			}
			sysfs := os.NewFile(uintptr(fd), "sysfs")
			defer sysfs.Close()
			cmd.ExtraFiles = append(cmd.ExtraFiles, sysfs)
		}
		return cmd.Start()
	})
	w.Close()
	if err != nil {
		return fail(startError(err, spec))
	}
	pid = cmd.Process.Pid
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	kill := func() {
		unix.Kill(pid, unix.SIGKILL)
		<-exited
		os.Remove(spec.Pidfile)
	}
	st, err := readProcStat(pid)
	if err == nil {
		err = writePidfileOf(spec.Pidfile, pid, st.start)
	}
	if err != nil {
		kill()
		return fail(err)
	}
	if _, err := goW.Write([]byte{1}); err != nil {
		kill()
		return fail(err)
	}
	goW.Close()
	msg := &capBuffer{max: 64 << 10}
	r.SetReadDeadline(time.Now().Add(startTimeout))
	_, rerr := io.Copy(msg, r)
	if rerr != nil {
		kill()
		return fail(fmt.Errorf("its init process did not set up within %v", startTimeout))
	}
	select {
	case <-exited:
		os.Remove(spec.Pidfile)
		why := strings.TrimSpace(strings.TrimPrefix(msg.String(), "nsh: "))
		if why == "" {
			why = "its init process exited: " + cmd.ProcessState.String()
		}
		return fail(errors.New(why))
	default:
	}
	if !alive(pid, st.start) {
		os.Remove(spec.Pidfile)
		return fail(fmt.Errorf("its init process exited: %s", strings.TrimSpace(msg.String())))
	}
	return pid, nil
}

// startError words a failure to fork the init process.
func startError(err error, spec ContainerSpec) error {
	if spec.User && (errors.Is(err, unix.ENOSPC) || errors.Is(err, unix.EPERM) || errors.Is(err, unix.EUSERS)) {
		return fmt.Errorf("%w (%v)", ErrUserNS, err)
	}
	return err
}

// defaultPathEnv is the PATH of a container's init process.
func defaultPathEnv() string {
	return "/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"
}

// detachedSysfs makes a sysfs of the calling thread's network namespace
// that is mounted nowhere yet, and returns its descriptor (fsmount).
func detachedSysfs() (int, error) {
	fs, err := unix.Fsopen("sysfs", unix.FSOPEN_CLOEXEC)
	if err != nil {
		return -1, fmt.Errorf("failed to make a sysfs (fsopen): %w", err)
	}
	defer unix.Close(fs)
	if err := unix.FsconfigCreate(fs); err != nil {
		return -1, fmt.Errorf("failed to make a sysfs: %w", err)
	}
	fd, err := unix.Fsmount(fs, unix.FSMOUNT_CLOEXEC, unix.MOUNT_ATTR_NOSUID|unix.MOUNT_ATTR_NODEV|unix.MOUNT_ATTR_NOEXEC)
	if err != nil {
		return -1, fmt.Errorf("failed to make a sysfs (fsmount): %w", err)
	}
	return fd, nil
}

// writePidfileOf records pid and its start time in path, as writePidfile
// does for the calling process.
func writePidfileOf(path string, pid int, start uint64) error {
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("failed to create %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.WriteString(strconv.Itoa(pid) + " " + strconv.FormatUint(start, 10) + "\n")
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		os.Remove(tmp)
		return fmt.Errorf("failed to write %s: %w", path, err)
	}
	return nil
}

// containerInit is the container's init process. It returns only if the
// set-up fails, with the exit status to use.
func containerInit(arg string) int {
	// ps shows the init process as nsh-init rather than exe.
	unix.Prctl(unix.PR_SET_NAME, uintptr(unsafe.Pointer(&[]byte(InitName + "\x00")[0])), 0, 0, 0)
	var spec ContainerSpec
	if err := json.Unmarshal([]byte(arg), &spec); err != nil {
		fmt.Fprintf(os.Stderr, "%sthe container: %v\n", setupPrefix, err)
		return exitSetup
	}
	// Wait for nsh to record this process: if nsh dies first, nothing
	// would ever stop it.
	var b [1]byte
	if n, _ := unix.Read(initGoFd, b[:]); n != 1 {
		return exitSetup
	}
	unix.Close(initGoFd)
	if err := setupContainer(spec); err != nil {
		fmt.Fprintf(os.Stderr, "%s%v\n", setupPrefix, err)
		return exitSetup
	}
	// The log file takes over standard output and error, which closes
	// the pipe to nsh: the container is ready.
	null, err := unix.Open("/dev/null", unix.O_RDONLY, 0)
	if err == nil {
		unix.Dup3(null, 0, 0)
		unix.Close(null)
	}
	for _, fd := range []int{1, 2} {
		if err := unix.Dup3(initLogFd, fd, 0); err != nil {
			fmt.Fprintf(os.Stderr, "%sthe log file: %v\n", setupPrefix, err)
			return exitSetup
		}
	}
	unix.Close(initLogFd)
	closeOnExec()
	return initLoop(spec.PID)
}

// setupContainer prepares the namespaces the init process was born in:
// the mounts, the root and the hostname.
func setupContainer(spec ContainerSpec) error {
	if spec.Mount {
		if err := unix.Mount("", "/", "", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("the mount namespace: failed to make / a recursive slave mount: %w", err)
		}
		if err := mountSysfs(spec.User); err != nil {
			return fmt.Errorf("the mount namespace: %w", err)
		}
		if spec.PID {
			if err := mountProc("/proc"); err != nil {
				return fmt.Errorf("the mount namespace: %w", err)
			}
		}
		if spec.Netns != "" {
			bindEtc(spec.Netns, os.Stderr)
		}
		if spec.Rootfs != "" {
			if err := pivot(spec.Rootfs); err != nil {
				return fmt.Errorf("the root %s: %w", spec.Rootfs, err)
			}
		}
	}
	if spec.UTS && spec.Hostname != "" {
		if err := unix.Sethostname([]byte(spec.Hostname)); err != nil {
			return fmt.Errorf("the hostname %q: %w", spec.Hostname, err)
		}
	}
	return nil
}

// mountSysfs puts a sysfs of the network namespace on /sys: the one nsh
// handed over (user namespace), or a new one.
func mountSysfs(user bool) error {
	if user {
		// Mounts inherited from the machine are locked in a user
		// namespace: stack the new sysfs over the old one.
		if err := unix.MoveMount(initSysfsFd, "", unix.AT_FDCWD, "/sys", unix.MOVE_MOUNT_F_EMPTY_PATH); err != nil {
			return fmt.Errorf("failed to mount sysfs on /sys: %w", err)
		}
		unix.Close(initSysfsFd)
		return nil
	}
	var flags uintptr
	if err := unix.Unmount("/sys", unix.MNT_DETACH); err != nil {
		var st unix.Statfs_t
		if unix.Statfs("/sys", &st) == nil && st.Flags&unix.ST_RDONLY != 0 {
			flags = unix.MS_RDONLY
		}
	}
	if err := unix.Mount("sysfs", "/sys", "sysfs", flags|unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("failed to mount sysfs on /sys: %w", err)
	}
	return nil
}

// mountProc mounts a proc of the process's PID namespace on dir, as
// `unshare --mount-proc` does.
func mountProc(dir string) error {
	if err := unix.Mount("proc", dir, "proc", unix.MS_NOSUID|unix.MS_NODEV|unix.MS_NOEXEC, ""); err != nil {
		return fmt.Errorf("failed to mount proc on %s: %w", dir, err)
	}
	return nil
}

// pivot makes rootfs the root of the mount namespace, with /proc, /sys
// and /dev of the container mounted in it, and the old root detached, as
// container runtimes do (pivot_root(".", ".")).
func pivot(rootfs string) error {
	if err := unix.Mount(rootfs, rootfs, "", unix.MS_BIND|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("failed to bind it on itself: %w", err)
	}
	for _, m := range []struct {
		src, dir string
		flags    uintptr
	}{{"/proc", "proc", unix.MS_BIND | unix.MS_REC}, {"/sys", "sys", unix.MS_BIND | unix.MS_REC}, {"/dev", "dev", unix.MS_BIND | unix.MS_REC}} {
		dst := filepath.Join(rootfs, m.dir)
		if err := os.MkdirAll(dst, 0o755); err != nil {
			return fmt.Errorf("failed to make /%s: %w", m.dir, err)
		}
		if err := unix.Mount(m.src, dst, "", m.flags, ""); err != nil {
			return fmt.Errorf("failed to mount /%s: %w", m.dir, err)
		}
	}
	if err := unix.Chdir(rootfs); err != nil {
		return err
	}
	if err := unix.PivotRoot(".", "."); err != nil {
		return fmt.Errorf("pivot_root: %w", err)
	}
	if err := unix.Unmount(".", unix.MNT_DETACH); err != nil {
		return fmt.Errorf("failed to detach the old root: %w", err)
	}
	return unix.Chdir("/")
}

// forwarded are the signals the init process passes on to its PID
// namespace.
var forwarded = []os.Signal{unix.SIGTERM, unix.SIGINT, unix.SIGHUP, unix.SIGUSR1, unix.SIGUSR2, unix.SIGQUIT}

// initLoop reaps orphans and forwards signals until SIGTERM. With ownPID
// (the process is PID 1 of its own namespace) a signal goes to every
// process of the namespace; without, the init process has no one to
// pass it to.
func initLoop(ownPID bool) int {
	sigs := make(chan os.Signal, 16)
	signal.Notify(sigs, append(forwarded, unix.SIGCHLD)...)
	for sig := range sigs {
		s := sig.(syscall.Signal)
		if s == unix.SIGCHLD {
			reap()
			continue
		}
		if ownPID {
			unix.Kill(-1, s) // every process of the namespace but this one
		}
		if s == unix.SIGTERM {
			if ownPID {
				// Give them a second to go; the kernel kills the rest
				// when PID 1 exits.
				for i := 0; i < 100 && unix.Kill(-1, 0) == nil; i++ {
					reap()
					time.Sleep(10 * time.Millisecond)
				}
			}
			return 0
		}
	}
	return 0
}

// reap waits for every child that has exited: orphans of the namespace
// become the init process's children.
func reap() {
	for {
		var ws unix.WaitStatus
		pid, err := unix.Wait4(-1, &ws, unix.WNOHANG, nil)
		if pid <= 0 || err != nil {
			return
		}
	}
}
