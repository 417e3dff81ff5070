package nsexec

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
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
func (h *helper) request(req helperRequest, files ...*os.File) (*os.File, error) {
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_CLOEXEC, 0)
	if err != nil {
		return nil, err
	}
	unix.SetNonblock(fds[0], true)
	conn := os.NewFile(uintptr(fds[0]), "request")
	rights := []int{fds[1]}
	for _, f := range files {
		rights = append(rights, int(f.Fd()))
	}
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
		_, err = conn.Write(after)
	}
	if err != nil {
		conn.Close()
		return nil, fmt.Errorf("the helper is gone: %w", err)
	}
	return conn, nil
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

// capturePipe returns a pipe for a command's output: the read end for
// nsh's poller, the write end, to pass to the helper, left blocking, as a
// command expects, and never registered with the poller.
func capturePipe() (r, w *os.File, err error) {
	var p [2]int
	if err := unix.Pipe2(p[:], unix.O_CLOEXEC); err != nil {
		return nil, nil, err
	}
	unix.SetNonblock(p[0], true)
	return os.NewFile(uintptr(p[0]), "|0"), os.NewFile(uintptr(p[1]), "|1"), nil
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
	stdout := &capBuffer{max: MaxOutput}
	stderr := &capBuffer{max: MaxOutput}
	outR, outW, err := capturePipe()
	if err != nil {
		return Result{}, fmt.Errorf("failed to start %q in %s: %w", c, p, err)
	}
	errR, errW, err := capturePipe()
	if err != nil {
		outR.Close()
		outW.Close()
		return Result{}, fmt.Errorf("failed to start %q in %s: %w", c, p, err)
	}
	var inR, inW *os.File
	if c.Stdin != nil {
		inR, inW, err = os.Pipe()
	} else {
		inR, err = devNull()
	}
	if err != nil {
		for _, f := range []*os.File{outR, outW, errR, errW} {
			f.Close()
		}
		return Result{}, fmt.Errorf("failed to start %q in %s: %w", c, p, err)
	}
	copied := make(chan struct{}, 2)
	go func() { io.Copy(stdout, outR); copied <- struct{}{} }()
	go func() { io.Copy(stderr, errR); copied <- struct{}{} }()
	defer outR.Close()
	defer errR.Close()
	req := helperRequest{Argv: c.Argv, Env: c.environ(os.Environ), Dir: workDir()}
	conn, err := h.request(req, inR, outW, errW)
	if inW != nil {
		inR.Close()
	}
	outW.Close()
	errW.Close()
	if err != nil {
		if inW != nil {
			inW.Close()
		}
		h.forget()
		return Result{}, fmt.Errorf("failed to start %q in %s: %w", c, p, err)
	}
	defer conn.Close()
	if inW != nil {
		go func() {
			inW.Write(c.Stdin)
			inW.Close()
		}()
	}
	// Cancelling ctx asks the helper to kill the command's group.
	var killed atomic.Bool
	stopKill := context.AfterFunc(ctx, func() {
		killed.Store(true)
		conn.Write([]byte{1})
	})
	code, gone := -1, false
	var r helperReply
	if json.NewDecoder(conn).Decode(&r) == nil && r.Exited {
		code = r.Code
	} else {
		gone = true
	}
	stopKill()
	// Output may be held open by a background process the command left
	// behind: wait a little for its end, as exec.Cmd.WaitDelay does.
	timer := time.NewTimer(waitDelay)
	defer timer.Stop()
	for n := 0; n < 2; n++ {
		select {
		case <-copied:
		case <-timer.C:
			outR.Close()
			errR.Close()
			n--
			timer.Reset(time.Hour)
		}
	}
	res := Result{Code: code, Stdout: stdout.String(), Stderr: stderr.String()}
	switch {
	case killed.Load() || (gone && ctx.Err() != nil):
		return res, interrupted(ctx, c)
	case gone:
		return res, fmt.Errorf("failed to wait for %q: the helper process of %s died", c, p)
	case res.Code == exitSetup && strings.HasPrefix(res.Stderr, setupPrefix):
		return res, fmt.Errorf("failed to start %q in %s: %s", c, p,
			strings.TrimSpace(strings.TrimPrefix(res.Stderr, "nsh: ")))
	}
	return res, nil
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
