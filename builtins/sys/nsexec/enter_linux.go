package nsexec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nshlab/nsh/builtins/sys/userns/join"
	"golang.org/x/sys/unix"
)

// A Target is a running container: commands run in it enter every
// namespace of its init process, as `nsenter --target PID --all` does,
// its user namespace included (see do), and start in its cgroup.
type Target struct {
	// Name names the container in messages.
	Name string
	// Pidfile records the container's init process (StartContainer).
	Pidfile string
	// Cgroup is the container's cgroup v2 directory, or "".
	Cgroup string
}

func (t Target) own() bool           { return false }
func (t Target) flags() []string     { return []string{"-enter"} }
func (t Target) cloneflags() uintptr { return 0 }
func (t Target) cgroup() string      { return t.Cgroup }
func (t Target) String() string      { return fmt.Sprintf("container %q", t.Name) }

// ErrNotRunning is wrapped by the error for a container whose init process
// is gone.
var ErrNotRunning = errors.New("its init process is not running")

// enterOrder is the order in which the thread joins the target's
// namespaces: the mount namespace last, as it changes the thread's root.
var enterOrder = []struct {
	file string
	flag int
}{
	{"ipc", unix.CLONE_NEWIPC},
	{"uts", unix.CLONE_NEWUTS},
	{"net", unix.CLONE_NEWNET},
	{"pid", unix.CLONE_NEWPID},
	{"mnt", unix.CLONE_NEWNS},
}

// do runs fn, which forks the child cmd, on a new thread that has joined
// the namespaces of the container's init process: its IPC, UTS, network
// and mount namespaces, and its PID namespace for the processes the
// thread forks. The thread takes the root and working directory of the
// container's mount namespace, and is never reused: it ends with fn.
//
// A thread cannot join a user namespace: the kernel lets only a
// single-threaded process do that, and a Go program never is one. So if
// the container has a user namespace of its own, do puts join.EnvEnter in
// cmd's environment, and the child (nsh again) joins that user namespace
// in package join's constructor before its runtime starts, and becomes
// root there, checking first that the namespace is still the one do saw.
// The child joins it last, after the namespaces it was born in, which is
// the order nsenter takes when run by root: the container's network
// namespace belongs to the machine's user namespace, so it could not be
// joined from inside the container's.
func (t Target) do(cmd *exec.Cmd, fn func() error) error {
	pid, ok := Running(t.Pidfile)
	if !ok {
		return fmt.Errorf("container %q: %w", t.Name, ErrNotRunning)
	}
	_, start, err := readPidfile(t.Pidfile)
	if err != nil {
		return err
	}
	fds := make([]int, 0, len(enterOrder))
	defer func() {
		for _, fd := range fds {
			unix.Close(fd)
		}
	}()
	for _, ns := range enterOrder {
		fd, err := unix.Open(fmt.Sprintf("/proc/%d/ns/%s", pid, ns.file), unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("failed to open the %s namespace of container %q: %w", ns.file, t.Name, err)
		}
		fds = append(fds, fd)
	}
	userns, err := os.Open(fmt.Sprintf("/proc/%d/ns/user", pid))
	if err != nil {
		return fmt.Errorf("failed to open the user namespace of container %q: %w", t.Name, err)
	}
	defer userns.Close()
	var user, self unix.Stat_t
	if err := unix.Fstat(int(userns.Fd()), &user); err != nil {
		return fmt.Errorf("failed to open the user namespace of container %q: %w", t.Name, err)
	}
	if err := unix.Stat("/proc/self/ns/user", &self); err != nil {
		return fmt.Errorf("failed to open nsh's own user namespace: %w", err)
	}
	// The files are of the process the pidfile records, not of one that
	// took its ID since.
	if !alive(pid, start) {
		return fmt.Errorf("container %q: %w", t.Name, ErrNotRunning)
	}
	if user.Ino != self.Ino || user.Dev != self.Dev {
		if !join.Available {
			return fmt.Errorf("container %q has a user namespace, which this nsh cannot enter: it was built without cgo (CGO_ENABLED=0, or no C compiler)", t.Name)
		}
		if cmd.Env == nil {
			cmd.Env = os.Environ()
		}
		// The child inherits the file: it is born in the container's
		// PID and mount namespaces, whose /proc does not know pid.
		fd := 3 + len(cmd.ExtraFiles)
		cmd.ExtraFiles = append(cmd.ExtraFiles, userns)
		cmd.Env = append(cmd.Env, join.EnvEnter+"="+join.EnterValue(pid, user.Ino, fd))
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with us
		// If the thread is the process's main one, the runtime cannot
		// end it, only park it for good: it must not keep the
		// container's namespaces alive, so it goes back to its own.
		var back []int
		for _, ns := range enterOrder {
			if fd, err := unix.Open("/proc/thread-self/ns/"+ns.file, unix.O_RDONLY|unix.O_CLOEXEC, 0); err == nil {
				back = append(back, fd)
			}
		}
		defer func() {
			for i, fd := range back {
				if len(back) == len(enterOrder) {
					unix.Setns(fd, enterOrder[i].flag)
				}
				unix.Close(fd)
			}
		}()
		errc <- func() error {
			if err := unix.Unshare(unix.CLONE_FS); err != nil {
				return fmt.Errorf("failed to unshare the thread's fs: %w", err)
			}
			for i, ns := range enterOrder {
				if err := unix.Setns(fds[i], ns.flag); err != nil {
					return fmt.Errorf("failed to enter the %s namespace of container %q: %w", ns.file, t.Name, err)
				}
			}
			return fn()
		}()
	}()
	return <-errc
}

// inCgroup makes attr start the process in the cgroup directory dir, if
// it is not "". The caller closes the file it returns after the start.
func inCgroup(attr *syscall.SysProcAttr, dir string) (*os.File, error) {
	if dir == "" {
		return nil, nil
	}
	f, err := os.Open(dir)
	if err != nil {
		return nil, fmt.Errorf("failed to open cgroup %s: %w", dir, err)
	}
	attr.UseCgroupFD, attr.CgroupFD = true, int(f.Fd())
	return f, nil
}

// RunIn runs c in every namespace of the container t and waits for it to
// finish, as Run does in a network namespace.
func RunIn(ctx context.Context, t Target, c Cmd) (Result, error) {
	return runAt(ctx, t, c)
}

// StartIn starts c in every namespace of the container t as a detached
// process, as Start does in a network namespace. The process is recorded
// in pidfile by its ID outside the container (nsh writes the pidfile
// before the process does anything: if nsh dies first, the process
// exits), and its output goes to logfile, which nsh opens: neither file
// need be visible inside the container. The process is the child of the
// container's init process, which reaps it, so ExitCode never knows its
// exit status.
func StartIn(t Target, c Cmd, pidfile, logfile string) (pid int, err error) {
	if len(c.Argv) == 0 {
		return 0, errors.New("failed to start a command: the command is empty")
	}
	if pidfile, err = filepath.Abs(pidfile); err == nil {
		logfile, err = filepath.Abs(logfile)
	}
	if err != nil {
		return 0, fmt.Errorf("failed to start %q: %w", c, err)
	}
	if pid, ok := Running(pidfile); ok {
		return 0, fmt.Errorf("failed to start %q: %s records process %d, which is still running", c, pidfile, pid)
	}
	for _, f := range []string{pidfile, exitFile(pidfile)} {
		if err := os.Remove(f); err != nil && !errors.Is(err, os.ErrNotExist) {
			return 0, fmt.Errorf("failed to start %q: failed to remove the old %s: %w", c, f, err)
		}
	}
	log, err := os.OpenFile(logfile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
	if err != nil {
		return 0, fmt.Errorf("failed to start %q: the log file: %w", c, err)
	}
	defer log.Close()
	goR, goW, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("failed to start %q: %w", c, err)
	}
	defer goR.Close()
	defer goW.Close()
	r, w, err := os.Pipe()
	if err != nil {
		return 0, fmt.Errorf("failed to start %q: %w", c, err)
	}
	defer r.Close()

	cmd := exec.Command(selfExe)
	cmd.Args = []string{os.Args[0], childArg, "-enter", "-gofd=3", "-logfd=4", "--"}
	cmd.Args = append(cmd.Args, c.Argv...)
	cmd.Env = c.environ(os.Environ)
	cmd.Stdout, cmd.Stderr = w, w
	cmd.ExtraFiles = []*os.File{goR, log}
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	cg, err := inCgroup(cmd.SysProcAttr, t.Cgroup)
	if err != nil {
		return 0, fmt.Errorf("failed to start %q in %s: %w", c, t, err)
	}
	defer cg.Close()
	err = t.do(cmd, cmd.Start)
	w.Close()
	goR.Close()
	if err != nil {
		return 0, fmt.Errorf("failed to start %q in %s: %w", c, t, err)
	}
	// The child starts the command as its own child, says so, and exits
	// once the command is recorded here.
	exited := make(chan struct{})
	go func() {
		cmd.Wait()
		close(exited)
	}()
	fail := func(err error) (int, error) {
		unix.Kill(cmd.Process.Pid, unix.SIGKILL)
		<-exited
		os.Remove(pidfile)
		return 0, err
	}
	msg := &capBuffer{max: 64 << 10}
	r.SetReadDeadline(time.Now().Add(startTimeout))
	buf := make([]byte, 4096)
	for !strings.HasSuffix(msg.String(), startedMsg) {
		n, rerr := r.Read(buf)
		msg.Write(buf[:n])
		if rerr != nil {
			<-exited
			if errors.Is(rerr, os.ErrDeadlineExceeded) {
				return fail(fmt.Errorf("failed to start %q: the process did not start within %v", c, startTimeout))
			}
			why := strings.TrimSpace(strings.TrimPrefix(msg.String(), "nsh: "))
			if why == "" {
				why = cmd.ProcessState.String()
			}
			return fail(fmt.Errorf("failed to start %q: %s", c, why))
		}
	}
	pid, err = onlyChild(cmd.Process.Pid)
	var st procStat
	if err == nil {
		st, err = readProcStat(pid)
	}
	if err == nil {
		err = writePidfileOf(pidfile, pid, st.start)
	}
	if err == nil {
		_, err = goW.Write([]byte{1})
	}
	if err != nil {
		return fail(fmt.Errorf("failed to start %q in %s: %w", c, t, err))
	}
	goW.Close()
	<-exited
	return pid, nil
}

// onlyChild returns the process ID, as nsh sees it, of the one child of
// the process pid: the PID namespace of the container gives it another.
func onlyChild(pid int) (int, error) {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/task/%d/children", pid, pid))
	if err == nil {
		if f := strings.Fields(string(b)); len(f) == 1 {
			return strconv.Atoi(f[0])
		}
	}
	// Without CONFIG_PROC_CHILDREN: look for it.
	ents, err := os.ReadDir("/proc")
	if err != nil {
		return 0, err
	}
	for _, e := range ents {
		p, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile("/proc/" + e.Name() + "/stat")
		if err != nil {
			continue
		}
		if i := bytes.LastIndexByte(b, ')'); i >= 0 {
			if f := strings.Fields(string(b[i+1:])); len(f) > 1 && f[1] == strconv.Itoa(pid) {
				return p, nil
			}
		}
	}
	return 0, fmt.Errorf("the command's process is gone")
}
