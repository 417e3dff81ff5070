package nsexec

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nshlab/nsh/builtins/sys/kernel"
	"golang.org/x/sys/unix"
)

// A helper is a warm helper process of one network namespace: this
// binary in its hidden helper mode (helperMain), born in the namespace
// with a mount namespace of its own that it prepared once as the child
// of `ip netns exec` does. Run and Start ask it to fork each command,
// which then costs a fork and an exec rather than the re-execution of
// nsh.
//
// The client talks to it on a control socket (SOCK_SEQPACKET) whose other
// end is the helper's descriptor 3: each request is one message, the
// command (helperRequest) with descriptors: a socket of the request's own
// and, for Run, the command's standard input, output and error, so that
// capture and input work as they would with a child of nsh. A request to
// kill the command's group, and its exit status (and for Start its
// process ID first), go over the request's socket. nsh's end of the control socket is close-on-exec, so
// that only nsh holds it: when nsh exits or dies the helper reads EOF,
// kills the process group of every command still running, and exits.
type helper struct {
	key  helperKey
	ctrl *os.File // nsh's end of the control socket
	pid  int
	done chan struct{} // closed once the helper is reaped
}

// helperKey identifies the namespace a helper serves: the network
// namespace's inode, and the name whose /etc/netns files it binds.
type helperKey struct {
	dev, ino uint64
	name     string
}

// helpers holds the helpers this process started, by namespace.
var helpers = struct {
	sync.Mutex
	m map[helperKey]*helper
}{m: map[helperKey]*helper{}}

// HelperDir is the directory in which every helper records itself, as
// "INODE.PID" holding "PID STARTTIME", so that StopHelpers, in any nsh
// process, can find the helpers of a namespace before it is deleted:
// next to the directory of namespace pins (/run/nsh-helpers for
// /run/netns).
func HelperDir() string {
	return filepath.Join(filepath.Dir(kernel.NetnsRunDir), "nsh-helpers")
}

// helperFor returns the helper of the namespace p, starting it on first
// use.
func helperFor(p netnsPlace) (*helper, error) {
	var st unix.Stat_t
	if err := unix.Fstat(p.ns.Fd(), &st); err != nil {
		return nil, fmt.Errorf("failed to read namespace %q: %w", p.ns.Name(), err)
	}
	key := helperKey{dev: st.Dev, ino: st.Ino}
	if f := p.flags(); len(f) > 0 {
		key.name = p.ns.Name()
	}
	helpers.Lock()
	defer helpers.Unlock()
	if h := helpers.m[key]; h != nil {
		select {
		case <-h.done:
			h.ctrl.Close()
			delete(helpers.m, key)
		default:
			return h, nil
		}
	}
	h, err := startHelper(p, key)
	if err != nil {
		return nil, err
	}
	helpers.m[key] = h
	return h, nil
}

// startHelper starts the helper of p and waits until it is ready.
func startHelper(p netnsPlace, key helperKey) (*helper, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_SEQPACKET|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	unix.SetNonblock(fds[0], true)
	ctrl := os.NewFile(uintptr(fds[0]), "helper")
	theirs := os.NewFile(uintptr(fds[1]), "helper")
	defer theirs.Close()
	cmd := exec.Command(selfExe)
	cmd.Args = append(append([]string{os.Args[0], helperArg}, p.flags()...), "-dir="+HelperDir())
	cmd.Stderr = os.Stderr
	cmd.ExtraFiles = []*os.File{theirs}
	// A process group of its own: Ctrl-C at nsh's terminal is for nsh.
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS, Setpgid: true}
	if err := p.do(cmd, cmd.Start); err != nil {
		ctrl.Close()
		return nil, err
	}
	theirs.Close()
	h := &helper{key: key, ctrl: ctrl, pid: cmd.Process.Pid, done: make(chan struct{})}
	go func() {
		cmd.Wait()
		close(h.done)
	}()
	buf := make([]byte, 4096)
	ctrl.SetReadDeadline(time.Now().Add(startTimeout))
	n, err := ctrl.Read(buf)
	ctrl.SetReadDeadline(time.Time{})
	if err == nil && string(buf[:n]) == helperReady {
		return h, nil
	}
	h.stop()
	if err != nil {
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return nil, fmt.Errorf("the helper did not start within %v", startTimeout)
		}
		return nil, fmt.Errorf("the helper died: %s", cmd.ProcessState)
	}
	return nil, errors.New(string(buf[:n]))
}

// stop makes the helper exit, as if nsh had, and waits for it: it kills
// the groups of the commands it still runs.
func (h *helper) stop() {
	h.ctrl.Close()
	select {
	case <-h.done:
	case <-time.After(killWait):
		unix.Kill(h.pid, unix.SIGKILL)
		<-h.done
	}
}

// request sends a request with the descriptors files to the helper, and
// returns the request's socket.
func (h *helper) request(req helperRequest, files ...int) (*os.File, error) {
	fd, err := h.requestFd(req, files...)
	if err != nil {
		return nil, err
	}
	return os.NewFile(uintptr(fd), "request"), nil
}

// requestFd is request, returning the request's socket as a descriptor,
// non-blocking and close-on-exec, for the caller to close.
func (h *helper) requestFd(req helperRequest, files ...int) (int, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return -1, err
	}
	unix.SetNonblock(fds[0], true) // the helper's end stays blocking
	rights := append([]int{fds[1]}, files...)
	// The request goes with the descriptors, unless it is too large for
	// one message: then it follows on the request's socket.
	msg, after := req.marshal(), []byte(nil)
	if len(msg) > maxInline {
		msg, after = []byte("S"), msg
	}
	rc, err := h.ctrl.SyscallConn()
	if err == nil {
		werr := rc.Write(func(fd uintptr) bool {
			err = unix.Sendmsg(int(fd), msg, unix.UnixRights(rights...), nil, 0)
			return err != unix.EAGAIN
		})
		if err == nil {
			err = werr
		}
	}
	unix.Close(fds[1])
	if err == nil && after != nil {
		err = writeAll(fds[0], after)
	}
	if err != nil {
		unix.Close(fds[0])
		return -1, fmt.Errorf("the helper is gone: %w", err)
	}
	return fds[0], nil
}

// writeAll writes b to the non-blocking descriptor fd, waiting for room.
func writeAll(fd int, b []byte) error {
	for len(b) > 0 {
		n, err := unix.Write(fd, b)
		switch {
		case err == unix.EAGAIN:
			unix.Poll([]unix.PollFd{{Fd: int32(fd), Events: unix.POLLOUT}}, -1)
		case err == unix.EINTR:
		case err != nil:
			return err
		default:
			b = b[n:]
		}
	}
	return nil
}

// forget drops h from the registry if it is still there.
func (h *helper) forget() {
	helpers.Lock()
	if helpers.m[h.key] == h {
		delete(helpers.m, h.key)
	}
	helpers.Unlock()
	h.stop()
}

// devNull is /dev/null, open for the standard input of commands that
// have none.
var devNull = sync.OnceValues(func() (*os.File, error) { return os.Open(os.DevNull) })

// workDir is the directory commands start in: nsh's own, as for a child.
func workDir() string {
	d, err := unix.Getwd()
	if err != nil {
		return ""
	}
	return d
}

// capturePipe returns a pipe for a command's output: the read end,
// non-blocking, for collect to poll, and the write end, to pass to the
// helper, left blocking, as a command expects. Both are close-on-exec.
func capturePipe() (r, w int, err error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return -1, -1, err
	}
	unix.SetNonblock(p[0], true)
	return p[0], p[1], nil
}

// closeAll closes the descriptors fds that are open (not negative).
func closeAll(fds ...int) {
	for _, fd := range fds {
		if fd >= 0 {
			unix.Close(fd)
		}
	}
}

// runHelper runs c in the netns p through its helper, as runAt does
// through a child.
func runHelper(ctx context.Context, p netnsPlace, c Cmd) (Result, error) {
	if err := ctx.Err(); err != nil {
		return Result{}, interrupted(ctx, c)
	}
	h, err := helperFor(p)
	if err != nil {
		return Result{}, fmt.Errorf("failed to start %q in %s: %w", c, p, err)
	}
	fail := func(err error, fds ...int) (Result, error) {
		closeAll(fds...)
		return Result{}, fmt.Errorf("failed to start %q in %s: %w", c, p, err)
	}
	outR, outW, err := capturePipe()
	if err != nil {
		return fail(err)
	}
	errR, errW, err := capturePipe()
	if err != nil {
		return fail(err, outR, outW)
	}
	inR, inW := -1, -1
	if c.Stdin != nil {
		var in [2]int
		err = unix.Pipe2(in[:], unix.O_CLOEXEC)
		inR, inW = in[0], in[1]
	} else {
		var null *os.File
		if null, err = devNull(); err == nil {
			inR = int(null.Fd())
		}
	}
	if err != nil {
		return fail(err, outR, outW, errR, errW)
	}
	req := helperRequest{Argv: c.Argv, Env: c.environ(os.Environ), Dir: workDir()}
	conn, err := h.requestFd(req, inR, outW, errW)
	if inW >= 0 {
		unix.Close(inR)
	}
	closeAll(outW, errW)
	if err != nil {
		h.forget()
		return fail(err, inW, outR, errR)
	}
	if inW >= 0 {
		go func() {
			// Blocking writes: the command may read slowly.
			for b := c.Stdin; len(b) > 0; {
				n, err := unix.Write(inW, b)
				if err == unix.EINTR {
					continue
				}
				if err != nil {
					break
				}
				b = b[n:]
			}
			unix.Close(inW)
		}()
	}
	stdout := &capBuffer{max: MaxOutput}
	stderr := &capBuffer{max: MaxOutput}
	r, gone, killed := collect(ctx, conn, outR, errR, stdout, stderr)
	closeAll(conn, outR, errR)
	code := -1
	if !gone {
		code = r.Code
	}
	res := Result{Code: code, Stdout: stdout.String(), Stderr: stderr.String()}
	switch {
	case killed || (gone && ctx.Err() != nil):
		return res, interrupted(ctx, c)
	case gone:
		return res, fmt.Errorf("failed to wait for %q: the helper process of %s died", c, p)
	case res.Code == exitSetup && strings.HasPrefix(res.Stderr, setupPrefix):
		return res, fmt.Errorf("failed to start %q in %s: %s", c, p,
			strings.TrimSpace(strings.TrimPrefix(res.Stderr, "nsh: ")))
	}
	return res, nil
}

// collect reads a command's standard output and error from outR and errR
// into stdout and stderr, and the helper's reply from conn, in one poll
// loop on the calling thread: one wake-up when the command ends, rather
// than one per descriptor through Go's poller and three goroutines, which
// is most of what a call costs beyond the command's own fork and exec.
// Cancelling ctx asks the helper to kill the command's group (killed).
// Once the reply is in, output still held open by a background process
// the command left behind is read for at most waitDelay more, as
// exec.Cmd.WaitDelay does. gone reports a helper that died first.
func collect(ctx context.Context, conn, outR, errR int, stdout, stderr *capBuffer) (r helperReply, gone, killed bool) {
	efd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		efd = -1
	} else {
		defer unix.Close(efd)
		stop := context.AfterFunc(ctx, func() {
			unix.Write(efd, []byte{1, 0, 0, 0, 0, 0, 0, 0})
		})
		defer stop()
	}
	fds := []unix.PollFd{
		{Fd: int32(conn), Events: unix.POLLIN},
		{Fd: int32(outR), Events: unix.POLLIN},
		{Fd: int32(errR), Events: unix.POLLIN},
		{Fd: int32(efd), Events: unix.POLLIN},
	}
	sinks := []*capBuffer{nil, stdout, stderr}
	var reply []byte
	replied := false
	var deadline time.Time
	buf := make([]byte, 64<<10)
	for fds[0].Fd >= 0 || fds[1].Fd >= 0 || fds[2].Fd >= 0 {
		timeout := -1
		if efd < 0 && !killed {
			timeout = 50 // no eventfd: look at ctx now and then
		}
		if replied {
			left := time.Until(deadline)
			if left <= 0 {
				break
			}
			timeout = int(left/time.Millisecond) + 1
		}
		n, err := unix.Poll(fds, timeout)
		if err == unix.EINTR {
			continue
		}
		if err != nil || (n == 0 && replied && !time.Now().Before(deadline)) {
			break
		}
		if !killed && (fds[3].Revents != 0 || (efd < 0 && ctx.Err() != nil)) {
			if efd >= 0 {
				unix.Read(efd, buf[:8])
			}
			fds[3].Fd = -1
			killed = true
			unix.Write(conn, []byte{1})
		}
		for i := 0; i < 3; i++ {
			if fds[i].Fd < 0 || fds[i].Revents == 0 {
				continue
			}
			m, err := unix.Read(int(fds[i].Fd), buf)
			if err == unix.EAGAIN || err == unix.EINTR {
				continue
			}
			if m <= 0 {
				fds[i].Fd = -1
				if i == 0 && !replied {
					gone, replied = true, true
					deadline = time.Now().Add(waitDelay)
				}
				continue
			}
			if i > 0 {
				sinks[i].Write(buf[:m])
				continue
			}
			reply = append(reply, buf[:m]...)
			if line, _, ok := bytes.Cut(reply, []byte("\n")); ok && !replied {
				replied = true
				deadline = time.Now().Add(waitDelay)
				gone = json.Unmarshal(line, &r) != nil || !r.Exited
				fds[0].Fd = -1
			}
		}
	}
	return r, gone, killed
}

// startHelperCmd starts the detached command of Start through the helper
// of ns. It returns the process ID once the helper has recorded it in
// pidfile, and a channel that yields its exit status once the helper has
// reaped it (or is closed if the helper went first).
func startHelperCmd(ns kernel.Namespace, c Cmd, pidfile, logfile string) (int, <-chan int, error) {
	p := netnsPlace{ns}
	h, err := helperFor(p)
	if err != nil {
		return 0, nil, fmt.Errorf("failed to start %q in %s: %w", c, p, err)
	}
	req := helperRequest{Argv: c.Argv, Env: c.environ(os.Environ), Dir: workDir(), Pidfile: pidfile, Logfile: logfile}
	conn, err := h.request(req)
	if err != nil {
		h.forget()
		return 0, nil, fmt.Errorf("failed to start %q in %s: %w", c, p, err)
	}
	dec := json.NewDecoder(conn)
	var r helperReply
	conn.SetReadDeadline(time.Now().Add(startTimeout))
	if err := dec.Decode(&r); err != nil {
		conn.Close()
		if errors.Is(err, os.ErrDeadlineExceeded) {
			return 0, nil, fmt.Errorf("failed to start %q: the process did not start within %v", c, startTimeout)
		}
		return 0, nil, fmt.Errorf("failed to start %q: the helper process of %s died", c, p)
	}
	conn.SetReadDeadline(time.Time{})
	if r.Exited {
		conn.Close()
		return 0, nil, fmt.Errorf("failed to start %q: %s", c, strings.TrimPrefix(r.Msg, "nsh: "))
	}
	exit := make(chan int, 1)
	go func() {
		defer conn.Close()
		var r helperReply
		if dec.Decode(&r) == nil && r.Exited {
			exit <- r.Code
		}
		close(exit)
	}()
	return r.Pid, exit, nil
}

// StopHelpers stops every helper of the namespaces pinned at paths (files
// under kernel.NetnsRunDir), those of this process and those that other
// nsh processes recorded in HelperDir, and waits for them to exit, having
// killed the commands they were running: a process in a namespace keeps
// it alive, and with it, for example, the other ends of its veths. Call
// it before deleting the namespaces. A path that is gone is skipped.
func StopHelpers(paths ...string) error {
	if len(paths) == 0 {
		return nil
	}
	helpers.Lock()
	mine := len(helpers.m)
	helpers.Unlock()
	recorded, _ := os.ReadDir(HelperDir())
	if mine == 0 && len(recorded) == 0 {
		return nil
	}
	inos := map[uint64]bool{}
	for _, path := range paths {
		var st unix.Stat_t
		if unix.Stat(path, &st) == nil {
			inos[st.Ino] = true
		}
	}
	var stop []*helper
	helpers.Lock()
	for key, h := range helpers.m {
		if inos[key.ino] {
			stop = append(stop, h)
			delete(helpers.m, key)
		}
	}
	helpers.Unlock()
	for _, h := range stop {
		h.stop()
	}
	var errs []error
	for _, e := range recorded {
		ino, _, ok := strings.Cut(e.Name(), ".")
		n, err := strconv.ParseUint(ino, 10, 64)
		if !ok || err != nil || !inos[n] {
			continue
		}
		if err := Stop(filepath.Join(HelperDir(), e.Name()), syscall.SIGTERM, killWait); err != nil {
			errs = append(errs, fmt.Errorf("failed to stop nsh's helper process: %w", err))
		}
	}
	os.Remove(HelperDir()) // if no helper is left: nothing left behind
	return errors.Join(errs...)
}

// helperPids returns the process IDs of the helpers this process runs,
// for tests.
func helperPids() []int {
	helpers.Lock()
	defer helpers.Unlock()
	var out []int
	for _, h := range helpers.m {
		out = append(out, h.pid)
	}
	return out
}
