package userns

import (
	"errors"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"

	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/nshlab/nsh/builtins/sys/nsexec"
	"github.com/nshlab/nsh/builtins/sys/userns/join"
	"golang.org/x/sys/unix"
)

// The environment of an nsh that re-executes itself to join a holder:
// envJoin is read by the C constructor, envDir and envLock by init. All
// three are removed from the environment at once, so that no command nsh
// runs sees them.
const (
	envJoin = join.EnvHolder
	envDir  = "_NSH_USERNS_DIR"
	envLock = "_NSH_USERNS_LOCK"
)

// Files and directories in the runtime directory.
const (
	pidFile     = "holder.pid"
	clientsLock = "clients.lock"
	startLock   = "start.lock"
	// SessionsDir holds the sessions, in place of /run/nsh.
	SessionsDir = "sessions"
	// PinsDir holds the pins of named namespaces, in place of /run/netns.
	PinsDir = "netns"
)

// dir is the runtime directory of the holder this process joined, or ""
// if it joined none.
var dir string

// joinErr is why the constructor could not join the holder it was sent
// to.
var joinErr error

func init() {
	joined, err := join.Holder()
	d := os.Getenv(envDir)
	lock := os.Getenv(envLock)
	for _, k := range []string{envJoin, envDir, envLock} {
		os.Unsetenv(k)
	}
	if err != nil {
		joinErr = err
		return
	}
	if !joined {
		return
	}
	dir = d
	if fd, err := strconv.Atoi(lock); err == nil {
		// Held for as long as this process runs, not by what it runs.
		unix.CloseOnExec(fd)
	}
	kernel.SetPinDir(filepath.Join(dir, PinsDir))
}

// Dir returns the runtime directory of the user's labs, when nsh runs
// without root inside a holder's namespaces, and "" otherwise (as root).
// Its SessionsDir replaces /run/nsh, its PinsDir /run/netns.
func Dir() string { return dir }

// Init runs the holder, when this process is one (`nsh __nsh-holder`),
// and never returns in it. In an nsh started by a normal user, it finds
// the user's holder, or starts one, and re-executes nsh inside the
// holder's namespaces, so that it also never returns, except for the
// commands that change nothing (help, version, --help). Errors (user
// namespaces forbidden, a runtime directory that is not the user's) end
// the process with a message that says what to do. As root, or inside a
// holder already, it returns at once. nsh calls it through
// builtins.Reexec, first thing in main.
func Init() {
	if len(os.Args) > 1 && os.Args[1] == holderArg {
		os.Exit(holderMain(os.Args[2:]))
	}
	if joinErr != nil {
		fmt.Fprintf(os.Stderr, "nsh: failed to enter the namespaces of your labs: %v\n", joinErr)
		os.Exit(1)
	}
	if dir != "" || os.Geteuid() == 0 || !needsLab(os.Args[1:]) {
		return
	}
	err := enter(os.Args)
	fmt.Fprintf(os.Stderr, "nsh: %v\n", err)
	os.Exit(1)
}

// needsLab reports whether an nsh command line may touch a lab: all but
// help, version, a command's --help, and plan, graph and export of a
// script (which run it against the model kernel, as any user can).
func needsLab(args []string) bool {
	if len(args) > 0 {
		switch args[0] {
		case "help", "-h", "-help", "--help", "version", "--version", "-version", "plan":
			return false
		case "graph", "export":
			if !slices.ContainsFunc(args, func(a string) bool {
				return a == "--session" || a == "-session" || strings.HasPrefix(a, "--session=") || strings.HasPrefix(a, "-session=")
			}) {
				return false
			}
		}
	}
	for _, a := range args {
		if a == "--" {
			break
		}
		if a == "-h" || a == "-help" || a == "--help" {
			return false
		}
	}
	return true
}

// netMode returns the value of --net on an nsh command line ("" if none).
func netMode(args []string) string {
	for i, a := range args {
		if a == "--" {
			break
		}
		for _, p := range []string{"--net=", "-net="} {
			if strings.HasPrefix(a, p) {
				return strings.TrimPrefix(a, p)
			}
		}
		if (a == "--net" || a == "-net") && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// RuntimeDir returns the runtime directory of the calling user's labs:
// $XDG_RUNTIME_DIR/nsh if XDG_RUNTIME_DIR is set, else /tmp/nsh-UID.
func RuntimeDir() string {
	if x := os.Getenv("XDG_RUNTIME_DIR"); x != "" && filepath.IsAbs(x) {
		return filepath.Join(x, "nsh")
	}
	return filepath.Join(os.TempDir(), "nsh-"+strconv.Itoa(os.Getuid()))
}

// makeRuntimeDir creates the runtime directory with mode 0700, or checks
// that the one there is the user's own and closed to others: in /tmp,
// another user could have made it first.
func makeRuntimeDir(d string) error {
	if err := os.Mkdir(d, 0o700); err != nil && !errors.Is(err, os.ErrExist) {
		return fmt.Errorf("failed to create the runtime directory of your labs %s: %w", d, err)
	}
	var st unix.Stat_t
	if err := unix.Lstat(d, &st); err != nil {
		return fmt.Errorf("failed to read the runtime directory of your labs %s: %w", d, err)
	}
	if st.Mode&unix.S_IFMT != unix.S_IFDIR {
		return fmt.Errorf("the runtime directory of your labs %s is not a directory: remove it, or set XDG_RUNTIME_DIR to a directory of your own", d)
	}
	if int(st.Uid) != os.Getuid() {
		return fmt.Errorf("the runtime directory of your labs %s belongs to user %d, not to you: remove it, or set XDG_RUNTIME_DIR to a directory of your own", d, st.Uid)
	}
	if st.Mode&0o077 != 0 {
		if err := os.Chmod(d, 0o700); err != nil {
			return fmt.Errorf("failed to close the runtime directory of your labs %s to other users: %w", d, err)
		}
	}
	for _, sub := range []string{SessionsDir, PinsDir} {
		if err := os.Mkdir(filepath.Join(d, sub), 0o755); err != nil && !errors.Is(err, os.ErrExist) {
			return fmt.Errorf("failed to create %s: %w", filepath.Join(d, sub), err)
		}
	}
	return nil
}

// flock opens (creating) a lock file and takes the lock how says,
// waiting for it.
func flock(path string, how int) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o600)
	if err != nil {
		return nil, fmt.Errorf("failed to open %s: %w", path, err)
	}
	for {
		err = unix.Flock(int(f.Fd()), how)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("failed to lock %s: %w", path, err)
	}
	return f, nil
}

// enter finds the user's holder or starts one, and re-executes nsh in its
// namespaces. It returns only an error.
func enter(args []string) error {
	if !join.Available {
		return errors.New("this nsh was built without cgo (CGO_ENABLED=0, or no C compiler), so it cannot enter a user namespace: run it as root, or rebuild it with a C compiler (gcc) installed")
	}
	mode := netMode(args[1:])
	if mode != "" && mode != "pasta" && mode != "none" {
		return fmt.Errorf("--net=%s: want --net=pasta (outbound connectivity through pasta) or --net=none", mode)
	}
	d := RuntimeDir()
	if err := makeRuntimeDir(d); err != nil {
		return err
	}
	// The shared lock says an nsh runs: the holder never ends under it.
	// It is taken before the holder is looked for, and kept across the
	// exec below.
	clients, err := flock(filepath.Join(d, clientsLock), unix.LOCK_SH)
	if err != nil {
		return err
	}
	start, err := flock(filepath.Join(d, startLock), unix.LOCK_EX)
	if err != nil {
		return err
	}
	h, alive := readHolder(d)
	if !alive {
		forgetLost(d, h)
		if h, err = startHolder(d, mode == "pasta"); err != nil {
			return err
		}
	} else if mode == "pasta" && !h.pasta {
		return fmt.Errorf("your labs run without --net=pasta (their holder, process %d, has no way out): tear them down with nsh down first, then start again with --net=pasta", h.pid)
	}
	start.Close()
	if _, err := unix.FcntlInt(clients.Fd(), unix.F_SETFD, 0); err != nil {
		return fmt.Errorf("failed to keep the lock of %s: %w", d, err)
	}
	exe, err := os.Executable()
	if err != nil {
		return fmt.Errorf("failed to find the nsh binary: %w", err)
	}
	env := append(os.Environ(),
		fmt.Sprintf("%s=%d:%d", envJoin, h.pid, h.ino),
		envDir+"="+d,
		envLock+"="+strconv.Itoa(int(clients.Fd())))
	err = syscall.Exec(exe, args, env)
	return fmt.Errorf("failed to re-execute %s: %w", exe, err)
}

// holder is what the pid file says of a holder.
type holder struct {
	pid   int
	ino   uint64 // of its user namespace
	pasta bool   // it has outbound connectivity through pasta
}

// readHolder reads the holder's pid file and reports whether that holder
// still runs: the process exists and is in the user namespace it
// recorded (so a pid reused by another process does not count).
func readHolder(d string) (holder, bool) {
	var h holder
	b, err := os.ReadFile(filepath.Join(d, pidFile))
	if err != nil {
		return h, false
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return h, false
	}
	h.pid, _ = strconv.Atoi(f[0])
	h.ino, _ = strconv.ParseUint(f[1], 10, 64)
	h.pasta = len(f) > 2 && f[2] == "pasta"
	if h.pid <= 0 {
		return h, false
	}
	var st unix.Stat_t
	if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/user", h.pid), &st); err != nil || st.Ino != h.ino {
		return h, false
	}
	// A holder that has exited but is not reaped yet still shows its
	// user namespace (it is in its credentials), but no longer its mount
	// namespace.
	if err := unix.Stat(fmt.Sprintf("/proc/%d/ns/mnt", h.pid), &st); err != nil {
		return h, false
	}
	return h, true
}

// forgetLost removes what a holder that is gone left behind: the sessions
// whose lab died with it, the files its pins were mounted on, and its
// pasta, and says so. A session that some nsh still has open (whose lock
// is held) is left alone, with the pins: that nsh still runs inside the
// old namespaces.
func forgetLost(d string, h holder) {
	sdir := filepath.Join(d, SessionsDir)
	ents, _ := os.ReadDir(sdir)
	var lost []string
	busy := false
	for _, e := range ents {
		if !e.IsDir() {
			continue
		}
		p := filepath.Join(sdir, e.Name())
		if _, err := os.Stat(filepath.Join(p, "journal")); err != nil {
			os.RemoveAll(p)
			continue
		}
		if inUse(filepath.Join(p, "lock")) {
			busy = true
			continue
		}
		stopProcesses(p)
		os.RemoveAll(p)
		lost = append(lost, fmt.Sprintf("%q", e.Name()))
	}
	if !busy {
		pins, _ := os.ReadDir(filepath.Join(d, PinsDir))
		for _, e := range pins {
			os.Remove(filepath.Join(d, PinsDir, e.Name()))
		}
	}
	os.Remove(filepath.Join(d, pidFile))
	stopPasta(d)
	if len(lost) > 0 {
		who := "the process that held your labs"
		if h.pid > 0 {
			who = fmt.Sprintf("the process that held your labs (pid %d)", h.pid)
		}
		fmt.Fprintf(os.Stderr, "nsh: warning: %s is gone (killed, or ended with your login), and everything your labs made went with it: forgot session %s\n", who, strings.Join(lost, ", "))
	}
}

// stopProcesses kills the processes that a lost session started (spawn,
// serve): they run on in namespaces of their own after the holder is
// gone. Their pidfiles identify them, by their start time as well.
func stopProcesses(session string) {
	files, _ := filepath.Glob(filepath.Join(session, "*", "*.pid"))
	for _, f := range files {
		nsexec.Stop(f, unix.SIGKILL, 0)
	}
}

// inUse reports whether some process holds the lock file at path.
func inUse(path string) bool {
	f, err := os.Open(path)
	if err != nil {
		return false
	}
	defer f.Close()
	if unix.Flock(int(f.Fd()), unix.LOCK_SH|unix.LOCK_NB) != nil {
		return true
	}
	return false
}

// startHolder starts a holder in new user, mount and network namespaces
// and waits until it is ready.
func startHolder(d string, pasta bool) (holder, error) {
	var h holder
	var pastaBin string
	if pasta {
		var err error
		if pastaBin, err = findPasta(); err != nil {
			return h, err
		}
	}
	exe, err := os.Executable()
	if err != nil {
		return h, fmt.Errorf("failed to find the nsh binary: %w", err)
	}
	r, w, err := os.Pipe()
	if err != nil {
		return h, fmt.Errorf("failed to start the holder of your labs: %w", err)
	}
	defer r.Close()
	null, err := os.OpenFile(os.DevNull, os.O_RDWR, 0)
	if err != nil {
		w.Close()
		return h, err
	}
	defer null.Close()
	p, err := os.StartProcess(exe, []string{exe, holderArg, d}, &os.ProcAttr{
		Dir:   "/",
		Files: []*os.File{null, null, null, w},
		Sys: &syscall.SysProcAttr{
			Setsid:                     true,
			Cloneflags:                 unix.CLONE_NEWUSER | unix.CLONE_NEWNS | unix.CLONE_NEWNET,
			UidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getuid(), Size: 1}},
			GidMappings:                []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getgid(), Size: 1}},
			GidMappingsEnableSetgroups: false,
		},
	})
	w.Close()
	if err != nil {
		return h, forbidden(err)
	}
	msg, _ := io.ReadAll(r)
	if len(msg) > 0 {
		p.Kill()
		p.Wait()
		return h, forbidden(errors.New(strings.TrimSpace(string(msg))))
	}
	// The holder's parent is this process, which becomes the nsh that
	// joins it: the holder outlives it (it is in a session of its own),
	// and init reaps it.
	p.Release()
	h, alive := readHolder(d)
	if !alive {
		return h, errors.New("the holder of your labs ended as soon as it started")
	}
	if pasta {
		if err := startPasta(pastaBin, d, h.pid); err != nil {
			unix.Kill(h.pid, unix.SIGTERM)
			return h, err
		}
		h.pasta = true
		if err := writePidFile(d, h); err != nil {
			unix.Kill(h.pid, unix.SIGTERM)
			return h, err
		}
	}
	return h, nil
}

// writePidFile records a holder in the runtime directory, atomically.
func writePidFile(d string, h holder) error {
	line := fmt.Sprintf("%d %d", h.pid, h.ino)
	if h.pasta {
		line += " pasta"
	}
	tmp := filepath.Join(d, pidFile+".tmp")
	if err := os.WriteFile(tmp, []byte(line+"\n"), 0o600); err != nil {
		return fmt.Errorf("failed to write the holder's pid file: %w", err)
	}
	if err := os.Rename(tmp, filepath.Join(d, pidFile)); err != nil {
		return fmt.Errorf("failed to write the holder's pid file: %w", err)
	}
	return nil
}
