package nsexec

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strings"
	"sync"
	"syscall"
	"time"

	"github.com/nshlab/nsh/builtins/sys/kernel"
	"golang.org/x/sys/unix"
)

// selfExe is the binary the child runs: this one, whatever its name.
const selfExe = "/proc/self/exe"

// waitDelay bounds how long Run waits for the command's output to end
// after the command has exited, in case a background process it left
// behind holds the output open.
const waitDelay = 500 * time.Millisecond

// startTimeout bounds how long Start waits for the child to prepare its
// namespace and record itself in the pidfile.
const startTimeout = 10 * time.Second

// childArgs returns the arguments of the hidden child that runs argv in
// p, for Init to parse.
func childArgs(p place, pidfile, logfile string, argv []string) []string {
	args := append([]string{os.Args[0], childArg}, p.flags()...)
	if pidfile != "" {
		args = append(args, "-pidfile="+pidfile, "-logfile="+logfile)
	}
	args = append(args, "--")
	return append(args, argv...)
}

// A place is where a command runs: a network namespace, as with
// `ip netns exec` (netnsPlace), or every namespace of a container, as
// with `nsenter --all` (Target).
type place interface {
	// do runs fn, which forks the child cmd, on a thread from which the
	// child is born in the place; it may add to cmd's environment first.
	do(cmd *exec.Cmd, fn func() error) error
	// own reports whether do runs fn on the calling thread.
	own() bool
	// flags are the child's flags that say how to prepare the place.
	flags() []string
	// cloneflags are the namespaces the child is born in besides.
	cloneflags() uintptr
	// cgroup is the cgroup v2 directory the child starts in, or "".
	cgroup() string
	// String names the place in messages: namespace "NAME".
	String() string
}

// netnsPlace is a network namespace, entered as `ip netns exec` does.
type netnsPlace struct{ ns kernel.Namespace }

func (p netnsPlace) do(_ *exec.Cmd, fn func() error) error { return p.ns.Do(fn) }
func (p netnsPlace) own() bool                             { return p.ns.Own() }
func (p netnsPlace) cloneflags() uintptr                   { return unix.CLONE_NEWNS }
func (p netnsPlace) cgroup() string                        { return "" }
func (p netnsPlace) String() string                        { return fmt.Sprintf("namespace %q", p.ns.Name()) }

func (p netnsPlace) flags() []string {
	// /etc/netns/NAME applies only to named namespaces, not to host
	// (whether it is nsh's own namespace or a sandbox).
	if !p.ns.Own() && p.ns.Name() != kernel.HostName {
		return []string{"-netns=" + p.ns.Name()}
	}
	return nil
}

// Run runs c in ns and waits for it to finish, capturing its output. The
// command runs as with `ip netns exec`, in its own process group. A
// non-zero exit status is not an error: Result.Code holds it, and a
// command that is not found exits with 127. The error is for a command
// that cannot be started, or that was killed because ctx was cancelled or
// its deadline passed; in that case the whole process group is killed
// with SIGKILL, and the output so far is returned with the error.
//
// The command is forked by the warm helper of ns (see helper), started on
// the first use of ns and kept until StopHelpers or until nsh exits: the
// command runs as it would as a child of `ip netns exec`, and if nsh dies
// its process group is killed.
func Run(ctx context.Context, ns kernel.Namespace, c Cmd) (Result, error) {
	if len(c.Argv) == 0 {
		return Result{}, errors.New("failed to run a command: the command is empty")
	}
	return runHelper(ctx, netnsPlace{ns}, c)
}

// runAt runs c in p as Run says.
func runAt(ctx context.Context, p place, c Cmd) (Result, error) {
	if len(c.Argv) == 0 {
		return Result{}, errors.New("failed to run a command: the command is empty")
	}
	stdout := &capBuffer{max: MaxOutput}
	stderr := &capBuffer{max: MaxOutput}
	cmd := exec.CommandContext(ctx, selfExe)
	args := childArgs(p, "", "", c.Argv)
	cmd.Args = append(append(args[:2:2], "-supervise"), args[2:]...)
	cmd.Env = c.environ(os.Environ)
	if c.Stdin != nil {
		cmd.Stdin = bytes.NewReader(c.Stdin)
	}
	cmd.Stdout, cmd.Stderr = stdout, stderr
	// If nsh dies, even by SIGKILL, the command's whole process group
	// dies with it (see superviseCmd) rather than keep its namespace alive
	// after down: the child gets SIGTERM as its parent-death signal. That
	// signal follows the thread that forked the child, so the thread stays
	// locked to this call until the child has been waited for.
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: p.cloneflags(), Setpgid: true, Pdeathsig: syscall.SIGTERM}
	if _, ok := p.(Target); ok {
		// A child born in another PID namespace sees no parent, and Go
		// would take that for its parent's death: it watches a pipe
		// instead, whose other end nsh holds until the child is waited
		// for (or nsh dies).
		cmd.SysProcAttr.Pdeathsig = 0
		wr, ww, err := os.Pipe()
		if err != nil {
			return Result{}, fmt.Errorf("failed to start %q in %s: %w", c, p, err)
		}
		defer wr.Close()
		defer ww.Close()
		cmd.ExtraFiles = []*os.File{wr}
		cmd.Args = append(append(cmd.Args[:3:3], "-watchfd=3"), cmd.Args[3:]...)
	}
	cg, err := inCgroup(cmd.SysProcAttr, p.cgroup())
	if err != nil {
		return Result{}, fmt.Errorf("failed to start %q in %s: %w", c, p, err)
	}
	defer cg.Close()
	cmd.Cancel = func() error {
		err := unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
		if err == unix.ESRCH {
			return os.ErrProcessDone
		}
		return err
	}
	cmd.WaitDelay = waitDelay

	// A forked process is born in the network namespace of the thread
	// that forks it.
	var werr error
	started := false
	err = p.do(cmd, func() error {
		if p.own() {
			// Do runs fn right here: lock the thread for Pdeathsig.
			runtime.LockOSThread()
			defer runtime.UnlockOSThread()
		}
		if err := cmd.Start(); err != nil {
			return err
		}
		started = true
		werr = cmd.Wait()
		return nil
	})
	if err != nil && !started {
		if ctx.Err() != nil {
			return Result{}, interrupted(ctx, c)
		}
		return Result{}, fmt.Errorf("failed to start %q in %s: %w", c, p, err)
	}
	if err != nil {
		// The command ran, but the thread could not leave the namespace;
		// Do has made sure that thread is not reused.
		werr = errors.Join(werr, err)
	}
	res := Result{
		Code:   exitCode(cmd.ProcessState),
		Stdout: stdout.String(),
		Stderr: stderr.String(),
	}
	var ee *exec.ExitError
	switch {
	case werr != nil && ctx.Err() != nil:
		return res, interrupted(ctx, c)
	case werr != nil && !errors.As(werr, &ee) && !errors.Is(werr, exec.ErrWaitDelay):
		return res, fmt.Errorf("failed to wait for %q: %w", c, werr)
	case res.Code == exitSetup && strings.HasPrefix(res.Stderr, setupPrefix):
		return res, fmt.Errorf("failed to start %q in %s: %s", c, p,
			strings.TrimSpace(strings.TrimPrefix(res.Stderr, "nsh: ")))
	}
	return res, nil
}

// interrupted returns the error for a command that ctx stopped.
func interrupted(ctx context.Context, c Cmd) error {
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		return fmt.Errorf("command %q timed out: %w", c, context.Cause(ctx))
	}
	return fmt.Errorf("command %q was cancelled: %w", c, context.Cause(ctx))
}

// exitCode returns the exit status of a process, or 128 plus the number of
// the signal that killed it, as shells do.
func exitCode(ps *os.ProcessState) int {
	if ps == nil {
		return -1
	}
	if ws, ok := ps.Sys().(syscall.WaitStatus); ok && ws.Signaled() {
		return 128 + int(ws.Signal())
	}
	return ps.ExitCode()
}

// Start starts c in ns as a detached process that outlives nsh: it runs in
// a new session, reads /dev/null and appends its output to logfile. The
// warm helper of ns (see helper) forks it and records it in pidfile as
// "PID STARTTIME\n" before anything else, so that Stop, Running and Wait
// can find it from any process, even if nsh dies right after. Start
// returns once the pidfile is written, or with an error if the process
// could not start (for example because the command was not found). While
// nsh runs, the helper reaps the process when it exits and nsh records its
// exit status in pidfile.exit, for ExitCode; Start removes an old one. It
// is an error if pidfile already records a running process.
func Start(ns kernel.Namespace, c Cmd, pidfile, logfile string) (pid int, err error) {
	if len(c.Argv) == 0 {
		return 0, errors.New("failed to start a command: the command is empty")
	}
	if pidfile == "" || logfile == "" {
		return 0, fmt.Errorf("failed to start %q: a pidfile and a log file are required", c)
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
		if err := os.Remove(f); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return 0, fmt.Errorf("failed to start %q: failed to remove the old %s: %w", c, f, err)
		}
	}

	pid, exit, err := startHelperCmd(ns, c, pidfile, logfile)
	if err != nil {
		return 0, err
	}
	exited := make(chan struct{})
	reapers.Store(pidfile, exited)
	go func() {
		if code, ok := <-exit; ok {
			recordExit(pidfile, pid, code)
		}
		reapers.CompareAndDelete(pidfile, exited)
		close(exited)
	}()
	return pid, nil
}

// reapers maps the pidfile of each process that this nsh started and has
// not yet reaped to a channel closed once it has reaped the process and
// recorded its exit status.
var reapers sync.Map

// awaitReaper waits until this nsh, if it started the process of pidfile,
// has reaped it and recorded its exit status. The process has exited.
func awaitReaper(pidfile string) {
	if abs, err := filepath.Abs(pidfile); err == nil {
		if done, ok := reapers.Load(abs); ok {
			select {
			case <-done.(chan struct{}):
			case <-time.After(time.Second):
			}
		}
	}
}

// exitFile is where the nsh that started the process of pidfile records
// its exit status.
func exitFile(pidfile string) string { return pidfile + ".exit" }

// recordExit writes code to pidfile.exit, unless pidfile now records a
// different process.
func recordExit(pidfile string, pid, code int) {
	if p, _, err := readPidfile(pidfile); err == nil && p != pid {
		return
	}
	path := exitFile(pidfile)
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return
	}
	_, err = fmt.Fprintf(f, "%d\n", code)
	if err == nil {
		err = f.Chmod(0o644)
	}
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err == nil {
		err = os.Rename(f.Name(), path)
	}
	if err != nil {
		os.Remove(f.Name())
	}
}
