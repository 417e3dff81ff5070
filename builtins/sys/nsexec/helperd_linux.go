package nsexec

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nshlab/nsh/builtins/sys/userns/join"
	"golang.org/x/sys/unix"
)

// helperArg is the hidden first argument that makes Init serve as a warm
// helper: `BINARY __nsh-helper [-netns NAME] -dir DIR`, with the helper's
// end of the control socket as descriptor 3 (see helper).
const helperArg = "__nsh-helper"

// helperFd is the helper's end of the control socket.
const helperFd = 3

// helperReady is what the helper sends on the control socket once its
// mounts are prepared; anything else is the reason it could not.
const helperReady = "ready"

// A helperRequest is what the client writes on a request's socket
// (marshal): the command, and for a detached command (Start) its pidfile
// and log file. After the request of a command run to completion, any
// byte the client writes, or the end of the socket, asks the helper to
// kill the command's process group.
type helperRequest struct {
	Argv    []string
	Env     []string
	Dir     string
	Pidfile string
	Logfile string
}

// marshal encodes the request: its length, then each field as a tag,
// a length and the bytes (the environment is large, and JSON would cost
// more than the rest of a request).
func (r helperRequest) marshal() []byte {
	b := make([]byte, 4, 4096)
	put := func(tag byte, s string) {
		b = append(b, tag)
		b = binary.LittleEndian.AppendUint32(b, uint32(len(s)))
		b = append(b, s...)
	}
	for _, a := range r.Argv {
		put('a', a)
	}
	for _, e := range r.Env {
		put('e', e)
	}
	put('d', r.Dir)
	put('p', r.Pidfile)
	put('l', r.Logfile)
	binary.LittleEndian.PutUint32(b, uint32(len(b)-4))
	return b
}

// readRequest reads a request that marshal encoded.
func readRequest(r io.Reader) (helperRequest, error) {
	var req helperRequest
	var n [4]byte
	if _, err := io.ReadFull(r, n[:]); err != nil {
		return req, err
	}
	b := make([]byte, binary.LittleEndian.Uint32(n[:]))
	if _, err := io.ReadFull(r, b); err != nil {
		return req, err
	}
	for len(b) >= 5 {
		tag, l := b[0], binary.LittleEndian.Uint32(b[1:5])
		if uint64(l) > uint64(len(b)-5) {
			return req, errors.New("malformed request")
		}
		s := string(b[5 : 5+l])
		b = b[5+l:]
		switch tag {
		case 'a':
			req.Argv = append(req.Argv, s)
		case 'e':
			req.Env = append(req.Env, s)
		case 'd':
			req.Dir = s
		case 'p':
			req.Pidfile = s
		case 'l':
			req.Logfile = s
		}
	}
	return req, nil
}

// A helperReply is what the helper writes back, as JSON: for a command
// run to completion, Exited with its status once it has been reaped; for
// a detached one, first its process ID, then Exited with its status. A
// command that could not start has Exited at once (for a detached one,
// Msg says why).
type helperReply struct {
	Pid    int    `json:"pid,omitempty"`
	Exited bool   `json:"exited,omitempty"`
	Code   int    `json:"code"`
	Msg    string `json:"msg,omitempty"`
}

// helperd is the state of the helper process.
type helperd struct {
	name string // the namespace's name, for /etc/netns/NAME, or ""
	// etc is the state of /etc/netns/NAME and /etc when the files were
	// last bound, bound the entries /etc/ENTRY bound, and warnings what
	// binding them said; all only for the fork thread.
	etc   string
	bound []string
	warn  string

	mu      sync.Mutex
	running map[int]bool // process groups of commands not yet reaped
	closing bool
}

// helperMain is the warm helper of a namespace. It was born in the
// network namespace with a mount namespace of its own, which it prepares
// once as the child of `ip netns exec` does (setupMounts); then it runs
// the commands that the client asks for on the control socket, each in a
// copy of that mount namespace, until the client closes the socket (nsh
// exited or died) or sends SIGTERM: then it kills the process group of
// every command still running and exits. It returns the exit status.
func helperMain(args []string) int {
	flags := flag.NewFlagSet(helperArg, flag.ContinueOnError)
	flags.SetOutput(os.Stderr)
	name := flags.String("netns", "", "name of the namespace, for /etc/netns/NAME")
	dir := flags.String("dir", "", "directory in which to record the helper (see HelperDir)")
	if err := flags.Parse(args); err != nil {
		return exitSetup
	}
	ctrl := helperFd
	fail := func(format string, a ...any) int {
		unix.Write(ctrl, []byte(fmt.Sprintf(format, a...)))
		return exitSetup
	}
	closeOnExec()
	if _, err := join.Entered(); err != nil {
		return fail("failed to prepare the user namespace: %v", err)
	}
	h := &helperd{name: *name, running: map[int]bool{}}
	var warn strings.Builder
	if err := setupMounts(*name, &warn); err != nil {
		return fail("failed to prepare the mount namespace: %v", err)
	}
	h.warn = warn.String()
	h.etc = etcState(*name)
	if *name != "" {
		h.bound = boundEtc(*name)
	}
	pidfile := ""
	if *dir != "" {
		var st unix.Stat_t
		if err := unix.Stat("/proc/self/ns/net", &st); err != nil {
			return fail("failed to prepare the helper: %v", err)
		}
		pidfile = filepath.Join(*dir, helperFile(st.Ino, os.Getpid()))
		// The last helper to exit removes the directory: another may
		// remove it between this one's MkdirAll and its pidfile.
		var err error
		for try := 0; try < 5; try++ {
			if err = os.MkdirAll(*dir, 0o755); err == nil {
				if err = writePidfile(pidfile); !errors.Is(err, fs.ErrNotExist) {
					break
				}
			}
		}
		if err != nil {
			return fail("failed to prepare the helper: %v", err)
		}
	}
	// Ctrl-C at nsh's terminal is nsh's to handle (the helper is in a
	// process group of its own anyway); SIGTERM is a request to stop.
	// Signals are caught, not ignored, so that commands do not inherit
	// an ignored disposition.
	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGTERM, syscall.SIGINT, syscall.SIGQUIT, syscall.SIGHUP)
	stop := make(chan struct{}, 2)
	go func() {
		for s := range sigs {
			if s == syscall.SIGTERM {
				stop <- struct{}{}
				return
			}
		}
	}()
	go h.forkThread(ctrl, stop)
	if _, err := unix.Write(ctrl, []byte(helperReady)); err != nil {
		return 0
	}
	<-stop
	h.shutdown()
	if pidfile != "" {
		os.Remove(pidfile)
		os.Remove(*dir) // if this was the last helper: nothing left behind
	}
	return 0
}

// helperFile is the name of the file that records helper pid of the
// namespace of inode ino, in HelperDir.
func helperFile(ino uint64, pid int) string {
	return strconv.FormatUint(ino, 10) + "." + strconv.Itoa(pid)
}

// parseRights returns the descriptors passed in a control message.
func parseRights(oob []byte) []int {
	msgs, err := unix.ParseSocketControlMessage(oob)
	if err != nil {
		return nil
	}
	var fds []int
	for _, m := range msgs {
		if f, err := unix.ParseUnixRights(&m); err == nil {
			fds = append(fds, f...)
		}
	}
	return fds
}

// forkThread reads the requests on the control socket and makes every
// fork of the helper, on a thread locked for the helper's lifetime: a
// command's parent-death signal (SIGKILL) is sent when the thread that
// forked it ends, which is then only when the helper dies. It also reaps
// the commands run to completion and answers for them: reading, forking
// and reaping on one thread saves every command the wake-ups of others.
// When the control socket ends (nsh exited or died), it asks for the
// helper to stop, and goes on reaping what the stop kills.
func (h *helperd) forkThread(ctrl int, stop chan<- struct{}) {
	runtime.LockOSThread() // never unlocked
	buf := make([]byte, maxInline)
	oob := make([]byte, unix.CmsgSpace(4*4))
	var cmds []*waiting
	var fds []unix.PollFd
	open := true
	for {
		// One poll for the control socket, and for each command run to
		// completion its end (pidfd) and its request's socket: the thread
		// that forked a command also reaps it and answers, with no other
		// thread to wake.
		fds = fds[:0]
		if open {
			fds = append(fds, unix.PollFd{Fd: int32(ctrl), Events: unix.POLLIN})
		}
		for _, w := range cmds {
			fds = append(fds, unix.PollFd{Fd: int32(w.pfd), Events: unix.POLLIN}, unix.PollFd{Fd: int32(w.watch), Events: unix.POLLIN})
		}
		if len(fds) == 0 {
			select {} // the thread must outlive the commands it forked
		}
		if _, err := unix.Poll(fds, -1); err != nil {
			continue // EINTR
		}
		at := 0
		if open {
			at = 1
		}
		left := cmds[:0]
		for i, w := range cmds {
			end, sock := fds[at+2*i], fds[at+2*i+1]
			if sock.Revents != 0 {
				h.killRequest(w)
			}
			if end.Revents != 0 {
				w.enc.Encode(helperReply{Exited: true, Code: h.reap(w.pid)})
				unix.Close(w.pfd)
				w.conn.Close()
				continue
			}
			left = append(left, w)
		}
		clear(cmds[len(left):])
		cmds = left
		if !open || fds[0].Revents == 0 {
			continue
		}
		n, oobn, _, _, err := unix.Recvmsg(ctrl, buf, oob, unix.MSG_CMSG_CLOEXEC)
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err != nil || n == 0 {
			open = false
			stop <- struct{}{}
			continue
		}
		if rights := parseRights(oob[:oobn]); len(rights) > 0 {
			if w := h.serve(rights, buf[:n]); w != nil {
				cmds = append(cmds, w)
			}
		}
	}
}

// A waiting command is one run to completion that the fork thread reaps:
// pfd is its pidfd, conn its request's socket, on which the helper
// answers with enc, and watch the descriptor to poll for a kill request
// (conn's, or -1 once the client is gone).
type waiting struct {
	pid, pfd, watch int
	conn            *os.File
	enc             *json.Encoder
}

// killRequest reads a kill request (or the end of the socket: the
// client gave up) on w's socket, and kills w's group if it still runs.
func (h *helperd) killRequest(w *waiting) {
	var b [1]byte
	n, err := unix.Read(w.watch, b[:])
	if err == unix.EINTR || err == unix.EAGAIN {
		return
	}
	h.mu.Lock()
	if h.running[w.pid] {
		unix.Kill(-w.pid, unix.SIGKILL)
	}
	h.mu.Unlock()
	if n <= 0 {
		w.watch = -1
	}
}

// maxInline is the largest request sent with its descriptors on the
// control socket; a larger one follows on the request's socket.
const maxInline = 64 << 10

// shutdown kills the process group of every command still running, and
// waits a little for them to be reaped, so that no command outlives nsh.
func (h *helperd) shutdown() {
	h.mu.Lock()
	h.closing = true
	var pids []int
	for pid := range h.running {
		unix.Kill(-pid, unix.SIGKILL)
		pids = append(pids, pid)
	}
	h.mu.Unlock()
	deadline := time.Now().Add(time.Second)
	for _, pid := range pids {
		for time.Now().Before(deadline) {
			h.mu.Lock()
			left := h.running[pid]
			h.mu.Unlock()
			if !left {
				break
			}
			time.Sleep(time.Millisecond)
		}
	}
}

// serve serves one request, on the fork thread, up to the fork: fds holds
// its socket, then for a command run to completion its standard input,
// output and error; msg is the request (see marshal), or "S" if it
// follows on the socket. The rest is for a goroutine of its own.
func (h *helperd) serve(fds []int, msg []byte) *waiting {
	conn := os.NewFile(uintptr(fds[0]), "request")
	stdio := fds[1:]
	done := func() {
		for _, fd := range stdio {
			if fd >= 0 {
				unix.Close(fd)
			}
		}
		conn.Close()
	}
	var req helperRequest
	var err error
	if string(msg) == "S" {
		req, err = readRequest(conn)
	} else {
		req, err = readRequest(bytes.NewReader(msg))
	}
	if err != nil || len(req.Argv) == 0 {
		done()
		return nil
	}
	enc := json.NewEncoder(conn)
	if req.Pidfile != "" {
		h.detach(req, conn, enc)
		done()
		return nil
	}
	if len(stdio) != 3 {
		done()
		return nil
	}
	pid, code, why := h.forkCmd(req, stdio)
	if why == "" {
		if pfd, err := unix.PidfdOpen(pid, 0); err == nil {
			for i, fd := range stdio {
				unix.Close(fd)
				stdio[i] = -1
			}
			return &waiting{pid: pid, pfd: pfd, watch: int(conn.Fd()), conn: conn, enc: enc}
		}
	}
	go func() {
		defer done()
		h.finish(conn, enc, stdio, pid, code, why)
	}()
	return nil
}

// fork forks the command of req with the descriptors files (standard
// input, output and error) and the attributes sys, on the fork thread,
// once /etc/netns is bound as it is now (any warning about it goes to the
// command's standard error). It returns the process ID, or the status
// and message of a command that could not start.
func (h *helperd) fork(req helperRequest, files []uintptr, sys *syscall.SysProcAttr) (pid, code int, msg string) {
	h.refreshEtc()
	if h.warn != "" {
		unix.Write(int(files[2]), []byte(h.warn))
	}
	path, code, msg := lookPathEnv(req.Argv[0], req.Env)
	if msg != "" {
		return 0, code, msg
	}
	pid, err := syscall.ForkExec(path, req.Argv, &syscall.ProcAttr{Dir: req.Dir, Env: req.Env, Files: files, Sys: sys})
	if err != nil {
		return 0, execCode(err), fmt.Sprintf("nsh: exec %q: %v\n", req.Argv[0], err)
	}
	return pid, 0, ""
}

// forkCmd forks a command run to completion, in its own process group,
// killed if the helper dies, and returns as fork does.
func (h *helperd) forkCmd(req helperRequest, stdio []int) (pid, code int, msg string) {
	files := []uintptr{uintptr(stdio[0]), uintptr(stdio[1]), uintptr(stdio[2])}
	pid, code, msg = h.fork(req, files, &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS, Setpgid: true, Pdeathsig: syscall.SIGKILL})
	if msg != "" {
		return pid, code, msg
	}
	h.mu.Lock()
	if h.closing {
		unix.Kill(-pid, unix.SIGKILL)
	}
	h.running[pid] = true
	h.mu.Unlock()
	return pid, code, msg
}

// finish waits for the command that forkCmd started, and sends its
// status; it writes msg first on its standard error if it did not start.
func (h *helperd) finish(conn *os.File, enc *json.Encoder, stdio []int, pid, code int, msg string) {
	if msg != "" {
		unix.Write(stdio[2], []byte(msg))
		enc.Encode(helperReply{Exited: true, Code: code})
		return
	}
	for i, fd := range stdio {
		unix.Close(fd)
		stdio[i] = -1
	}
	// A kill request, or the end of the socket (the client gave up),
	// kills the group of a command not yet reaped. (Where a pidfd can be
	// had, the fork thread does all this instead: see forkThread.)
	go func() {
		var b [1]byte
		for {
			n, err := conn.Read(b[:])
			if n == 0 && err == nil {
				continue
			}
			h.mu.Lock()
			if h.running[pid] {
				unix.Kill(-pid, unix.SIGKILL)
			}
			h.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	code = h.reap(pid)
	enc.Encode(helperReply{Exited: true, Code: code})
}

// reap waits for the command pid to exit and reaps it, and returns its
// exit status. The process stays a zombie, and so its group ID stays
// its own, until the helper has forgotten it under the lock: a kill of
// its group can never reach another process that reused the ID.
func (h *helperd) reap(pid int) int {
	for {
		var info unix.Siginfo
		err := unix.Waitid(unix.P_PID, pid, &info, unix.WEXITED|unix.WNOWAIT, nil)
		if err == unix.EINTR {
			continue
		}
		break
	}
	h.mu.Lock()
	defer h.mu.Unlock()
	delete(h.running, pid)
	var ws unix.WaitStatus
	for {
		_, err := unix.Wait4(pid, &ws, 0, nil)
		if err == unix.EINTR {
			continue
		}
		if err != nil {
			return -1
		}
		break
	}
	if ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ws.ExitStatus()
}

// detach starts a detached command, as Start describes: in a session of
// its own, reading /dev/null, its output appended to the log file, and
// recorded in the pidfile before the helper answers. The helper stays
// its parent, reaps it and sends its exit status when it ends.
func (h *helperd) detach(req helperRequest, conn *os.File, enc *json.Encoder) {
	fail := func(code int, format string, a ...any) {
		enc.Encode(helperReply{Exited: true, Code: code, Msg: fmt.Sprintf(format, a...)})
	}
	log, err := os.OpenFile(req.Logfile, os.O_WRONLY|os.O_CREATE|os.O_APPEND|unix.O_CLOEXEC, 0o644)
	if err != nil {
		fail(exitSetup, "%sthe log file: %v", setupPrefix, err)
		return
	}
	defer log.Close()
	null, err := os.Open(os.DevNull)
	if err != nil {
		fail(exitSetup, "%sthe command: %v", setupPrefix, err)
		return
	}
	defer null.Close()
	pid, code, msg := h.fork(req, []uintptr{null.Fd(), log.Fd(), log.Fd()}, &syscall.SysProcAttr{Cloneflags: unix.CLONE_NEWNS, Setsid: true})
	if msg != "" {
		fail(code, "%s", strings.TrimSpace(msg))
		return
	}
	// The process is not reaped before it is recorded: its start time
	// can be read even if it has already exited.
	st, err := readProcStat(pid)
	if err == nil {
		err = writePidfileOf(req.Pidfile, pid, st.start)
	}
	if err != nil {
		unix.Kill(-pid, unix.SIGKILL)
		var ws unix.WaitStatus
		unix.Wait4(pid, &ws, 0, nil)
		fail(exitSetup, "%sthe pidfile: %v", setupPrefix, err)
		return
	}
	enc.Encode(helperReply{Pid: pid})
	// The request's socket stays open until the process is reaped.
	c, err := unix.FcntlInt(conn.Fd(), unix.F_DUPFD_CLOEXEC, 0)
	if err != nil {
		return
	}
	go func() {
		conn := os.NewFile(uintptr(c), "request")
		defer conn.Close()
		var ws unix.WaitStatus
		for {
			if _, err := unix.Wait4(pid, &ws, 0, nil); err != unix.EINTR {
				break
			}
		}
		code := ws.ExitStatus()
		if ws.Signaled() {
			code = 128 + int(ws.Signal())
		}
		json.NewEncoder(conn).Encode(helperReply{Exited: true, Code: code})
	}()
}

// execCode is the exit status for a command that could not be executed.
func execCode(err error) int {
	if errors.Is(err, fs.ErrNotExist) {
		return exitNotFound
	}
	return exitNotExecable
}

// lookPathEnv finds file as the child's lookPath would in the PATH of
// the command's environment env, and returns the message to write on the
// command's standard error if it cannot, with the exit status.
func lookPathEnv(file string, env []string) (string, int, string) {
	path, set := "", false
	for _, kv := range env {
		if v, ok := strings.CutPrefix(kv, "PATH="); ok {
			path, set = v, true
		}
	}
	if !set {
		path = defaultPath
	}
	fail := func(err error) (string, int, string) {
		code := exitNotExecable
		if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
			code = exitNotFound
		}
		return "", code, fmt.Sprintf("nsh: exec %q: %v\n", file, err)
	}
	if strings.Contains(file, "/") {
		if err := findExecutable(file); err != nil {
			var pe *fs.PathError
			if errors.As(err, &pe) {
				err = pe.Err
			}
			return fail(err)
		}
		return file, 0, ""
	}
	for _, dir := range filepath.SplitList(path) {
		if dir == "" {
			// execvp searches the working directory for an empty entry.
			dir = "."
		}
		if p := filepath.Join(dir, file); findExecutable(p) == nil {
			return p, 0, ""
		}
	}
	return fail(exec.ErrNotFound)
}

// findExecutable reports why file cannot be executed, as os/exec's does.
func findExecutable(file string) error {
	d, err := os.Stat(file)
	if err != nil {
		return err
	}
	m := d.Mode()
	if m.IsDir() {
		return syscall.EISDIR
	}
	err = unix.Faccessat(unix.AT_FDCWD, file, unix.X_OK, unix.AT_EACCESS)
	if err == nil || (err != syscall.ENOSYS && err != syscall.EPERM) {
		return err
	}
	if m&0o111 != 0 {
		return nil
	}
	return fs.ErrPermission
}

// etcState describes /etc/netns/NAME and /etc, so that the helper binds
// the files again when someone adds, removes or replaces one of them (a
// file changed in place needs nothing: the bind shows its content).
func etcState(name string) string {
	if name == "" {
		return ""
	}
	var b strings.Builder
	for _, p := range []string{filepath.Join(etcNetnsDir, name), "/etc"} {
		var st unix.Stat_t
		if err := unix.Stat(p, &st); err != nil {
			b.WriteString("-;")
			continue
		}
		fmt.Fprintf(&b, "%d:%d.%d:%d.%d;", st.Ino, st.Mtim.Sec, st.Mtim.Nsec, st.Ctim.Sec, st.Ctim.Nsec)
	}
	return b.String()
}

// boundEtc returns the entries of /etc that bindEtc binds for name.
func boundEtc(name string) []string {
	entries, err := os.ReadDir(filepath.Join(etcNetnsDir, name))
	if err != nil {
		return nil
	}
	var out []string
	for _, e := range entries {
		out = append(out, filepath.Join("/etc", e.Name()))
	}
	return out
}

// refreshEtc binds the files of /etc/netns/NAME again if they changed
// since they were bound, so that each command sees them as a child of
// `ip netns exec` started now would. It runs on the fork thread.
func (h *helperd) refreshEtc() {
	if h.name == "" {
		return
	}
	now := etcState(h.name)
	if now == h.etc {
		return
	}
	for i := len(h.bound) - 1; i >= 0; i-- {
		// Undo every bind, stacked ones too.
		for unix.Unmount(h.bound[i], unix.MNT_DETACH) == nil {
		}
	}
	var warn strings.Builder
	h.bound = boundEtc(h.name)
	bindEtc(h.name, &warn)
	h.warn, h.etc = warn.String(), now
}
