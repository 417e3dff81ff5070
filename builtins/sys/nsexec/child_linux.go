package nsexec

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"math"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"

	"github.com/nshlab/nsh/builtins/sys/userns/join"
	"golang.org/x/sys/unix"
)

// childArg is the hidden first argument that makes Init do the child's
// work: `BINARY __nsh-exec [-netns NAME] [-pidfile FILE -logfile FILE]
// [-supervise] -- ARGV...`.
const childArg = "__nsh-exec"

// etcNetnsDir holds per-namespace configuration files, as for iproute2.
const etcNetnsDir = "/etc/netns"

// defaultPath is the search path used when the environment has no PATH,
// as glibc's execvp does.
const defaultPath = "/bin:/usr/bin"

// Exit statuses of the child when the command does not run: exitSetup
// when the mounts or the pidfile cannot be prepared, and the shell's
// conventions for a command that cannot be executed or is not found.
const (
	exitSetup       = 125
	exitNotExecable = 126
	exitNotFound    = 127
)

// setupPrefix begins the child's message when it fails to prepare the
// namespace, so that Run can tell such a failure from the command's own
// exit status 125.
const setupPrefix = "nsh: failed to prepare "

func init() {
	// In the child, keep the main goroutine, which calls Init and execs
	// the command, on the process's main thread. An exec from another
	// thread makes the process look like a zombie in /proc/PID/stat for
	// a moment, which could fool a concurrent Stop or Running.
	if len(os.Args) > 1 && (os.Args[1] == childArg || os.Args[1] == initArg) {
		runtime.LockOSThread()
	}
}

// Init does the work of the hidden child process that runs a command in a
// namespace, and never returns in that process. In any other process it
// returns at once. Call it first thing in main, on the main goroutine, and
// in TestMain of every test binary that uses Run or Start.
func Init() {
	if len(os.Args) == 3 && os.Args[1] == initArg {
		os.Exit(containerInit(os.Args[2]))
	}
	if len(os.Args) > 1 && os.Args[1] == helperArg {
		os.Exit(helperMain(os.Args[2:]))
	}
	if len(os.Args) < 2 || os.Args[1] != childArg {
		return
	}
	os.Exit(child(os.Args[2:]))
}

// child prepares the mount namespace it was born in and execs the
// command. It returns only if that fails, with the exit status to use.
func child(args []string) int {
	flags := flag.NewFlagSet(childArg, flag.ContinueOnError)
	flags.SetOutput(os.Stderr)
	name := flags.String("netns", "", "name of the namespace, for /etc/netns/NAME")
	pidfile := flags.String("pidfile", "", "file in which to record the process")
	logfile := flags.String("logfile", "", "file to which to append output")
	supervise := flags.Bool("supervise", false, "run the command as a child, and kill its process group on SIGTERM")
	enter := flags.Bool("enter", false, "the process was born in a container's namespaces (see Target): prepare no mounts")
	gofd := flags.Int("gofd", -1, "start the command in a session of its own, say \"started\" on standard output, and exit once this descriptor reads a byte, killing the command if it reads EOF (see StartIn)")
	logfd := flags.Int("logfd", -1, "descriptor of the log file, opened by the parent")
	watchfd := flags.Int("watchfd", -1, "with -supervise: kill the process group when this descriptor reads EOF (nsh died), as on SIGTERM")
	if err := flags.Parse(args); err != nil {
		return exitSetup
	}
	if _, err := join.Entered(); err != nil {
		fmt.Fprintf(os.Stderr, "%sthe user namespace: %v\n", setupPrefix, err)
		return exitSetup
	}
	argv := flags.Args()
	if len(argv) == 0 {
		fmt.Fprintf(os.Stderr, "%sthe command: no command given\n", setupPrefix)
		return exitSetup
	}

	// Warnings go where the command's output will go.
	var warn io.Writer = os.Stderr
	var log *os.File
	if *logfd >= 0 {
		log = os.NewFile(uintptr(*logfd), "log")
		warn = log
	} else if *logfile != "" {
		var err error
		log, err = os.OpenFile(*logfile, os.O_WRONLY|os.O_CREATE|os.O_APPEND, 0o644)
		if err != nil {
			fmt.Fprintf(os.Stderr, "%sthe log file: %v\n", setupPrefix, err)
			return exitSetup
		}
		warn = log
	}
	if !*enter {
		if err := setupMounts(*name, warn); err != nil {
			fmt.Fprintf(os.Stderr, "%sthe mount namespace: %v\n", setupPrefix, err)
			return exitSetup
		}
	}

	env := os.Environ()
	path, code, err := lookPath(argv[0])
	if err != nil {
		fmt.Fprintf(os.Stderr, "nsh: exec %q: %v\n", argv[0], err)
		return code
	}
	if *pidfile != "" {
		if err := writePidfile(*pidfile); err != nil {
			fmt.Fprintf(os.Stderr, "%sthe pidfile: %v\n", setupPrefix, err)
			return exitSetup
		}
	}
	if log != nil && *gofd < 0 {
		// This also closes the pipe to the parent, which tells it that
		// the process has started.
		for _, fd := range []int{1, 2} {
			if err := unix.Dup3(int(log.Fd()), fd, 0); err != nil {
				fmt.Fprintf(os.Stderr, "%sthe log file: %v\n", setupPrefix, err)
				return exitSetup
			}
		}
	}
	if *gofd >= 0 {
		return detachCmd(path, argv, env, log, *gofd)
	}
	closeOnExec()
	if *supervise {
		return superviseCmd(path, argv, env, *watchfd)
	}
	err = syscall.Exec(path, argv, env)
	fmt.Fprintf(os.Stderr, "nsh: exec %q: %v\n", argv[0], err)
	if errors.Is(err, fs.ErrNotExist) {
		return exitNotFound
	}
	return exitNotExecable
}

// superviseCmd runs the command as a child in this process's process group
// and exits as it does. SIGTERM, which Run makes the parent-death signal
// of this process, kills the whole group with SIGKILL: the command and
// everything it started that stayed in its group (a shell's pipeline, its
// background jobs) die with nsh, even when nsh is SIGKILLed. A process
// that made a group or a session of its own escapes, as it would
// escape Ctrl-C.
func superviseCmd(path string, argv, env []string, watchfd int) int {
	term := make(chan os.Signal, 1)
	signal.Notify(term, syscall.SIGTERM)
	if watchfd >= 0 {
		unix.CloseOnExec(watchfd)
		go func() {
			var b [1]byte
			for {
				n, err := unix.Read(watchfd, b[:])
				if n == 0 || (err != nil && err != unix.EINTR) {
					term <- syscall.SIGTERM
					return
				}
			}
		}()
	}
	cmd := exec.Command(path)
	cmd.Args, cmd.Env = argv, env
	cmd.Stdin, cmd.Stdout, cmd.Stderr = os.Stdin, os.Stdout, os.Stderr
	if err := cmd.Start(); err != nil {
		var pe *fs.PathError // "fork/exec PATH: ERR": say it as exec does
		if errors.As(err, &pe) {
			err = pe.Err
		}
		fmt.Fprintf(os.Stderr, "nsh: exec %q: %v\n", argv[0], err)
		if errors.Is(err, fs.ErrNotExist) {
			return exitNotFound
		}
		return exitNotExecable
	}
	go func() {
		<-term
		unix.Kill(0, unix.SIGKILL) // the group, this process included
	}()
	cmd.Wait()
	return exitCode(cmd.ProcessState)
}

// setupMounts does what iproute2's netns_switch does after setns: keep
// mounts from propagating back, replace /sys with a sysfs of the current
// network namespace, and bind the files of /etc/netns/NAME over /etc.
// The process is already alone in a new mount namespace.
func setupMounts(name string, warn io.Writer) error {
	if err := unix.Mount("", "/", "none", unix.MS_SLAVE|unix.MS_REC, ""); err != nil {
		return fmt.Errorf("failed to make / a recursive slave mount: %w", err)
	}
	var flags uintptr
	if err := unix.Unmount("/sys", unix.MNT_DETACH); err != nil {
		// There may be no sysfs; otherwise mount over it, and a
		// read-only one cannot be shadowed by a read-write one.
		var st unix.Statfs_t
		if unix.Statfs("/sys", &st) == nil && st.Flags&unix.ST_RDONLY != 0 {
			flags = unix.MS_RDONLY
		}
	}
	source := name
	if source == "" {
		source = "sysfs"
	}
	if err := unix.Mount(source, "/sys", "sysfs", flags, ""); err != nil {
		return fmt.Errorf("failed to mount sysfs on /sys: %w", err)
	}
	if name != "" {
		bindEtc(name, warn)
	}
	return nil
}

// bindEtc bind-mounts each entry of /etc/netns/NAME over /etc/ENTRY, as
// iproute2 does. Entries with no counterpart in /etc are skipped; a failed
// bind is reported and does not stop the command.
func bindEtc(name string, warn io.Writer) {
	if name == "." || name == ".." || strings.ContainsRune(name, '/') {
		return
	}
	dir := filepath.Join(etcNetnsDir, name)
	entries, err := os.ReadDir(dir)
	if err != nil {
		return
	}
	for _, e := range entries {
		src := filepath.Join(dir, e.Name())
		dst := filepath.Join("/etc", e.Name())
		if _, err := os.Stat(dst); err != nil {
			continue
		}
		if err := unix.Mount(src, dst, "none", unix.MS_BIND, ""); err != nil {
			fmt.Fprintf(warn, "nsh: failed to bind %s over %s: %v\n", src, dst, err)
		}
	}
}

// lookPath finds file as execvp would, and returns the exit status to use
// if it cannot: 127 if it does not exist, 126 if it is not executable.
func lookPath(file string) (string, int, error) {
	if _, ok := os.LookupEnv("PATH"); !ok && !strings.Contains(file, "/") {
		os.Setenv("PATH", defaultPath)
		defer os.Unsetenv("PATH")
	}
	path, err := exec.LookPath(file)
	if errors.Is(err, exec.ErrDot) {
		// execvp searches relative PATH entries too.
		err = nil
	}
	if err == nil {
		return path, 0, nil
	}
	var ee *exec.Error
	if errors.As(err, &ee) {
		err = ee.Err
	}
	var pe *fs.PathError
	if errors.As(err, &pe) {
		err = pe.Err
	}
	if errors.Is(err, exec.ErrNotFound) || errors.Is(err, fs.ErrNotExist) {
		return "", exitNotFound, err
	}
	return "", exitNotExecable, err
}

// writePidfile records this process as "PID STARTTIME\n" in path. It writes
// a temporary file and renames it, so that a reader sees either no pidfile
// or a complete one.
func writePidfile(path string) error {
	pid := os.Getpid()
	st, err := readProcStat(pid)
	if err != nil {
		return err
	}
	f, err := os.CreateTemp(filepath.Dir(path), "."+filepath.Base(path)+".*")
	if err != nil {
		return fmt.Errorf("failed to create %s: %w", path, err)
	}
	tmp := f.Name()
	_, err = f.WriteString(strconv.Itoa(pid) + " " + strconv.FormatUint(st.start, 10) + "\n")
	if err == nil {
		err = f.Chmod(0o644)
	}
	if err == nil {
		err = f.Sync()
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

// closeOnExec marks every descriptor above standard error close-on-exec,
// so that the command inherits nothing from nsh but its standard files.
func closeOnExec() {
	if unix.CloseRange(3, math.MaxUint32, unix.CLOSE_RANGE_CLOEXEC) == nil {
		return
	}
	// Kernels before 5.11 lack CLOSE_RANGE_CLOEXEC.
	entries, err := os.ReadDir("/proc/self/fd")
	if err != nil {
		return
	}
	for _, e := range entries {
		if fd, err := strconv.Atoi(e.Name()); err == nil && fd > 2 {
			unix.CloseOnExec(fd)
		}
	}
}

// detachCmd starts the command in a session of its own, with log as its
// output, tells the parent on standard output that it has, and exits once
// the parent has recorded the command (a byte on gofd): the command is
// then an orphan, which the init process of the container's PID namespace
// adopts and reaps. Had the parent (nsh, outside the namespace) stayed the
// command's parent, the kernel would wait for whoever adopted it outside
// to reap it before the container's init could exit. If the parent dies
// first (EOF on gofd), the command is killed.
func detachCmd(path string, argv, env []string, log *os.File, gofd int) int {
	if log == nil {
		fmt.Fprintf(os.Stderr, "%sthe command: no log file\n", setupPrefix)
		return exitSetup
	}
	cmd := exec.Command(path)
	cmd.Args, cmd.Env = argv, env
	cmd.Stdout, cmd.Stderr = log, log
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true}
	if err := cmd.Start(); err != nil {
		var pe *fs.PathError
		if errors.As(err, &pe) {
			err = pe.Err
		}
		fmt.Fprintf(os.Stderr, "nsh: exec %q: %v\n", argv[0], err)
		if errors.Is(err, fs.ErrNotExist) {
			return exitNotFound
		}
		return exitNotExecable
	}
	os.Stdout.WriteString(startedMsg)
	var b [1]byte
	if n, _ := unix.Read(gofd, b[:]); n != 1 {
		unix.Kill(-cmd.Process.Pid, unix.SIGKILL)
		return exitSetup
	}
	return 0
}

// startedMsg is what detachCmd says once the command has started.
const startedMsg = "started\n"
