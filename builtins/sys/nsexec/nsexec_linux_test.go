package nsexec

import (
	"context"
	"errors"
	"fmt"
	"io/fs"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/nshlab/nsh/builtins/sys/kernel/kerneltest"
)

func TestMain(m *testing.M) {
	Init()
	if os.Getenv(helperEnv) != "" {
		os.Exit(helperStart())
	}
	if os.Getenv(threadExecEnv) != "" {
		threadExec()
	}
	os.Exit(m.Run())
}

// helperEnv makes the test binary start a process with Start and exit at
// once, standing in for an nsh run that leaves a lab up.
const helperEnv = "NSH_TEST_NSEXEC_START"

func helperStart() int {
	var netns, pidfile, logfile string
	fmt.Sscanf(os.Getenv(helperEnv), "%s %s %s", &netns, &pidfile, &logfile)
	k, err := kernel.New()
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	ns, err := k.Named(netns)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	pid, err := Start(ns, Command("sleep", "1000"), pidfile, logfile)
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		return 1
	}
	fmt.Println(pid)
	return 0
}

// threadExecEnv makes the test binary exec sleep from a thread other than
// its main one.
const threadExecEnv = "NSH_TEST_NSEXEC_THREAD_EXEC"

func threadExec() {
	runtime.LockOSThread()
	done := make(chan error)
	go func() {
		runtime.LockOSThread()
		time.Sleep(50 * time.Millisecond)
		done <- syscall.Exec("/bin/sleep", []string{"sleep", "1000"}, nil)
	}()
	fmt.Fprintln(os.Stderr, <-done)
	os.Exit(1)
}

func needRoot(t testing.TB) { kerneltest.NeedRoot(t) }

// newNamespace creates a named namespace that is deleted when the test ends.
func newNamespace(t testing.TB) (*kernel.Linux, kernel.Namespace) {
	t.Helper()
	return kerneltest.Namespace(t, false)
}

func run(t *testing.T, ns kernel.Namespace, c Cmd) Result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	res, err := Run(ctx, ns, c)
	if err != nil {
		t.Fatalf("Run(%q): %v", c.Argv, err)
	}
	return res
}

func TestRunLinks(t *testing.T) {
	_, ns := newNamespace(t)
	res := run(t, ns, Command("ip", "-o", "link"))
	if res.Code != 0 {
		t.Fatalf("ip -o link: exit %d, stderr %q", res.Code, res.Stderr)
	}
	lines := strings.Split(strings.TrimSpace(res.Stdout), "\n")
	if len(lines) != 1 || !strings.HasPrefix(lines[0], "1: lo:") {
		t.Errorf("ip -o link in a new namespace: got %q, want only lo", res.Stdout)
	}
}

// mounts returns the mounts of this process, but for the namespace pins
// that tests running in parallel add and remove.
func mounts(t *testing.T) string {
	t.Helper()
	b, err := os.ReadFile("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	var keep []string
	for _, line := range strings.Split(string(b), "\n") {
		if f := strings.Fields(line); len(f) > 4 && !strings.HasPrefix(f[4], kernel.NetnsRunDir+"/") {
			keep = append(keep, line)
		}
	}
	return strings.Join(keep, "\n")
}

func TestRunSysfs(t *testing.T) {
	_, ns := newNamespace(t)
	before := mounts(t)
	res := run(t, ns, Command("ls", "/sys/class/net"))
	if res.Code != 0 || res.Stdout != "lo\n" {
		t.Errorf("ls /sys/class/net: exit %d, stdout %q, stderr %q; want only lo", res.Code, res.Stdout, res.Stderr)
	}
	if after := mounts(t); before != after {
		t.Errorf("the child's mounts leaked into nsh's mount namespace:\nbefore:\n%s\nafter:\n%s", before, after)
	}
}

func TestRunHost(t *testing.T) {
	needRoot(t)
	k, err := kernel.New()
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	want, err := os.ReadDir("/sys/class/net")
	if err != nil {
		t.Fatal(err)
	}
	var names []string
	for _, e := range want {
		names = append(names, e.Name())
	}
	res := run(t, k.Host(), Command("ls", "/sys/class/net"))
	if got := strings.Fields(res.Stdout); strings.Join(got, " ") != strings.Join(names, " ") {
		t.Errorf("ls /sys/class/net in host: got %q, want %q", got, names)
	}
}

func TestRunEtcNetns(t *testing.T) {
	_, ns := newNamespace(t)
	dir := filepath.Join(etcNetnsDir, ns.Name())
	if _, err := os.Stat(etcNetnsDir); errors.Is(err, fs.ErrNotExist) {
		t.Cleanup(func() { os.Remove(etcNetnsDir) }) // only if empty
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	hosts := "10.1.2.3 " + ns.Name() + "\n"
	if err := os.WriteFile(filepath.Join(dir, "hosts"), []byte(hosts), 0o644); err != nil {
		t.Fatal(err)
	}
	// An entry with no counterpart in /etc is skipped, and not created.
	missing := "nsh-test-missing-" + ns.Name()
	if err := os.WriteFile(filepath.Join(dir, missing), nil, 0o644); err != nil {
		t.Fatal(err)
	}

	res := run(t, ns, Command("cat", "/etc/hosts"))
	if res.Code != 0 || res.Stdout != hosts {
		t.Errorf("cat /etc/hosts in %s: exit %d, stdout %q, stderr %q; want %q", ns.Name(), res.Code, res.Stdout, res.Stderr, hosts)
	}
	if res.Stderr != "" {
		t.Errorf("unexpected warnings: %q", res.Stderr)
	}
	if _, err := os.Stat(filepath.Join("/etc", missing)); err == nil {
		t.Errorf("/etc/%s was created", missing)
	}
	own, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Fatal(err)
	}
	if string(own) == hosts {
		t.Errorf("/etc/hosts of nsh itself is the namespace's")
	}
	k, err := kernel.New()
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	res = run(t, k.Host(), Command("cat", "/etc/hosts"))
	if res.Stdout != string(own) {
		t.Errorf("cat /etc/hosts in host: got %q, want %q", res.Stdout, own)
	}
}

func TestRunExitCodes(t *testing.T) {
	_, ns := newNamespace(t)
	dir := t.TempDir()
	notExec, garbage := filepath.Join(dir, "not-exec"), filepath.Join(dir, "garbage")
	if err := os.WriteFile(notExec, []byte("#!/bin/sh\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(garbage, []byte("\x00\x01\x02\x03"), 0o755); err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		cmd    Cmd
		code   int
		stderr string
	}{
		{Command("true"), 0, ""},
		{Shell("exit 3"), 3, ""},
		{Shell("echo oops >&2; exit 125"), 125, "oops\n"},
		{Shell("kill -KILL $$"), 128 + 9, ""},
		{Command("nsh-no-such-command"), 127, "nsh: exec \"nsh-no-such-command\": executable file not found in $PATH\n"},
		{Command("/nonexistent/cmd"), 127, "nsh: exec \"/nonexistent/cmd\": no such file or directory\n"},
		{Command(notExec), 126, fmt.Sprintf("nsh: exec %q: permission denied\n", notExec)},
		{Command(garbage), 126, fmt.Sprintf("nsh: exec %q: exec format error\n", garbage)},
	} {
		res := run(t, ns, tc.cmd)
		if res.Code != tc.code || res.Stderr != tc.stderr {
			t.Errorf("%q: exit %d, stderr %q; want exit %d, stderr %q", tc.cmd.Argv, res.Code, res.Stderr, tc.code, tc.stderr)
		}
	}
}

func TestRunStdinEnv(t *testing.T) {
	_, ns := newNamespace(t)
	c := Command("cat")
	c.Stdin = []byte("hello\nworld")
	if res := run(t, ns, c); res.Stdout != "hello\nworld" {
		t.Errorf("cat with stdin: got %q", res.Stdout)
	}
	if res := run(t, ns, Command("cat")); res.Stdout != "" || res.Code != 0 {
		t.Errorf("cat without stdin: exit %d, stdout %q", res.Code, res.Stdout)
	}

	t.Setenv("NSH_TEST_INHERITED", "yes")
	c = Shell(`echo "$NSH_TEST_INHERITED $NSH_TEST_EXTRA"`)
	c.ExtraEnv = map[string]string{"NSH_TEST_EXTRA": "extra"}
	if res := run(t, ns, c); res.Stdout != "yes extra\n" {
		t.Errorf("inherited and extra environment: got %q", res.Stdout)
	}
	c.ExtraEnv["NSH_TEST_INHERITED"] = "overridden"
	if res := run(t, ns, c); res.Stdout != "overridden extra\n" {
		t.Errorf("overriding environment: got %q", res.Stdout)
	}
	c = Command("env")
	c.Env = []string{"A=1"}
	c.ExtraEnv = map[string]string{"B": "2"}
	if res := run(t, ns, c); res.Stdout != "A=1\nB=2\n" {
		t.Errorf("explicit environment: got %q, want exactly A and B", res.Stdout)
	}
}

func TestRunNoInheritedFDs(t *testing.T) {
	_, ns := newNamespace(t)
	// A descriptor without close-on-exec, as a careless library makes.
	fd, err := syscall.Open("/dev/null", syscall.O_RDONLY, 0)
	if err != nil {
		t.Fatal(err)
	}
	defer syscall.Close(fd)
	// ls opens the directory as descriptor 3.
	res := run(t, ns, Command("ls", "/proc/self/fd"))
	if got := strings.Fields(res.Stdout); strings.Join(got, " ") != "0 1 2 3" {
		t.Errorf("descriptors of the command: got %q, want 0 1 2 3 (%d leaked)", got, fd)
	}
}

func TestRunTimeout(t *testing.T) {
	_, ns := newNamespace(t)
	ctx, cancel := context.WithTimeout(context.Background(), 300*time.Millisecond)
	defer cancel()
	start := time.Now()
	// The background sleep is in the same process group and dies too.
	res, err := Run(ctx, ns, Shell("sleep 100 & echo $!; sleep 100"))
	if err == nil || !strings.Contains(err.Error(), "timed out") {
		t.Fatalf("Run: err = %v, want a timeout", err)
	}
	if d := time.Since(start); d > 3*time.Second {
		t.Errorf("Run took %v after a 300ms timeout", d)
	}
	if res.Code != 128+9 {
		t.Errorf("exit code %d, want %d", res.Code, 128+9)
	}
	bg, err := strconv.Atoi(strings.TrimSpace(res.Stdout))
	if err != nil {
		t.Fatalf("stdout %q: %v", res.Stdout, err)
	}
	deadline := time.Now().Add(2 * time.Second)
	for {
		st, err := readProcStat(bg)
		if err != nil || st.state == 'Z' {
			break
		}
		if time.Now().After(deadline) {
			syscall.Kill(bg, syscall.SIGKILL)
			t.Fatalf("background process %d survived the timeout", bg)
		}
		time.Sleep(10 * time.Millisecond)
	}

	ctx, cancel = context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err = Run(ctx, ns, Command("sleep", "100"))
	if err == nil || !strings.Contains(err.Error(), "cancelled") || !errors.Is(err, context.Canceled) {
		t.Errorf("Run: err = %v, want cancelled", err)
	}
	if _, err := Run(ctx, ns, Command("true")); err == nil {
		t.Errorf("Run with a cancelled context: no error")
	}
}

func TestRunEmpty(t *testing.T) {
	needRoot(t)
	k, err := kernel.New()
	if err != nil {
		t.Fatal(err)
	}
	defer k.Close()
	if _, err := Run(context.Background(), k.Host(), Cmd{}); err == nil {
		t.Error("Run of an empty command: no error")
	}
}

// sameNetns reports whether process pid is in ns.
func sameNetns(t *testing.T, pid int, ns kernel.Namespace) bool {
	t.Helper()
	var a, b syscall.Stat_t
	if err := syscall.Stat(fmt.Sprintf("/proc/%d/ns/net", pid), &a); err != nil {
		t.Fatal(err)
	}
	if err := syscall.Stat(filepath.Join(kernel.NetnsRunDir, ns.Name()), &b); err != nil {
		t.Fatal(err)
	}
	return a.Ino == b.Ino && a.Dev == b.Dev
}

func TestStartStop(t *testing.T) {
	_, ns := newNamespace(t)
	dir := t.TempDir()
	pidfile, logfile := filepath.Join(dir, "sleep.pid"), filepath.Join(dir, "sleep.log")
	t.Cleanup(func() { Stop(pidfile, syscall.SIGKILL, 0) })

	pid, err := Start(ns, Shell("echo out; echo err >&2; exec sleep 1000"), pidfile, logfile)
	if err != nil {
		t.Fatal(err)
	}
	if p, ok := Running(pidfile); !ok || p != pid {
		t.Fatalf("Running = %d, %v; want %d, true", p, ok, pid)
	}
	b, err := os.ReadFile(pidfile)
	if err != nil {
		t.Fatal(err)
	}
	st, err := readProcStat(pid)
	if err != nil {
		t.Fatal(err)
	}
	if want := fmt.Sprintf("%d %d\n", pid, st.start); string(b) != want {
		t.Errorf("pidfile holds %q, want %q", b, want)
	}
	if !sameNetns(t, pid, ns) {
		t.Errorf("process %d is not in namespace %s", pid, ns.Name())
	}
	if sid, _ := getsid(pid); sid != pid {
		t.Errorf("process %d is in session %d, want its own", pid, sid)
	}
	if _, err := Start(ns, Command("sleep", "1000"), pidfile, logfile); err == nil {
		t.Errorf("Start over a running process's pidfile: no error")
	}
	if Wait(pidfile, 50*time.Millisecond) {
		t.Errorf("Wait: a running process exited")
	}
	waitForLog(t, logfile, "out\nerr\n")

	start := time.Now()
	if err := Stop(pidfile, syscall.SIGTERM, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Stop took %v for a process that dies of SIGTERM", d)
	}
	if _, ok := Running(pidfile); ok {
		t.Errorf("Running after Stop")
	}
	if _, err := os.Stat(pidfile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("pidfile after Stop: %v", err)
	}
	if err := Stop(pidfile, syscall.SIGTERM, time.Second); err != nil {
		t.Errorf("second Stop: %v", err)
	}
	if !Wait(pidfile, 0) {
		t.Errorf("Wait after Stop: not exited")
	}
}

func getsid(pid int) (int, error) {
	sid, _, errno := syscall.RawSyscall(syscall.SYS_GETSID, uintptr(pid), 0, 0)
	if errno != 0 {
		return 0, errno
	}
	return int(sid), nil
}

func waitForLog(t *testing.T, logfile, want string) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(logfile)
		if string(b) == want {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("log file holds %q, want %q", b, want)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestStopIgnoresTERM(t *testing.T) {
	_, ns := newNamespace(t)
	dir := t.TempDir()
	pidfile, logfile := filepath.Join(dir, "p.pid"), filepath.Join(dir, "p.log")
	t.Cleanup(func() { Stop(pidfile, syscall.SIGKILL, 0) })
	pid, err := Start(ns, Shell("trap '' TERM; echo ready; while :; do sleep 1; done"), pidfile, logfile)
	if err != nil {
		t.Fatal(err)
	}
	waitForLog(t, logfile, "ready\n")
	start := time.Now()
	if err := Stop(pidfile, syscall.SIGTERM, 200*time.Millisecond); err != nil {
		t.Fatal(err)
	}
	if d := time.Since(start); d < 200*time.Millisecond || d > 2*time.Second {
		t.Errorf("Stop took %v, want the grace of 200ms and then SIGKILL", d)
	}
	if _, err := readProcStat(pid); err == nil {
		t.Errorf("process %d still exists after Stop", pid)
	}
}

func TestStartFailure(t *testing.T) {
	_, ns := newNamespace(t)
	dir := t.TempDir()
	pidfile, logfile := filepath.Join(dir, "x.pid"), filepath.Join(dir, "x.log")
	_, err := Start(ns, Command("nsh-no-such-command"), pidfile, logfile)
	if err == nil || !strings.Contains(err.Error(), `exec "nsh-no-such-command": executable file not found in $PATH`) {
		t.Errorf("Start of a missing command: err = %v", err)
	}
	if _, err := os.Stat(pidfile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("pidfile of a failed start: %v", err)
	}
	_, err = Start(ns, Command("true"), pidfile, filepath.Join(dir, "no", "such", "dir", "x.log"))
	if err == nil || !strings.Contains(err.Error(), "log file") {
		t.Errorf("Start with an impossible log file: err = %v", err)
	}

	// A command that exits at once leaves a pidfile of a dead process.
	if _, err := Start(ns, Command("true"), pidfile, logfile); err != nil {
		t.Fatal(err)
	}
	if !Wait(pidfile, 5*time.Second) {
		t.Errorf("Wait: true did not exit")
	}
	if err := Stop(pidfile, syscall.SIGTERM, time.Second); err != nil {
		t.Errorf("Stop of an exited process: %v", err)
	}
}

// TestStartOutlivesStarter starts a process from another process that
// exits at once, as `nsh run` does, and stops it from this one with
// nothing but the pidfile.
func TestStartOutlivesStarter(t *testing.T) {
	_, ns := newNamespace(t)
	dir := t.TempDir()
	pidfile, logfile := filepath.Join(dir, "s.pid"), filepath.Join(dir, "s.log")
	t.Cleanup(func() { Stop(pidfile, syscall.SIGKILL, 0) })

	helper := exec.Command(os.Args[0])
	helper.Env = append(os.Environ(), helperEnv+"="+ns.Name()+" "+pidfile+" "+logfile)
	out, err := helper.Output()
	if err != nil {
		t.Fatalf("helper: %v (%s)", err, out)
	}
	pid, err := strconv.Atoi(strings.TrimSpace(string(out)))
	if err != nil {
		t.Fatalf("helper printed %q", out)
	}
	if p, ok := Running(pidfile); !ok || p != pid {
		t.Fatalf("Running after the starter exited = %d, %v; want %d, true", p, ok, pid)
	}
	if !sameNetns(t, pid, ns) {
		t.Errorf("process %d is not in namespace %s", pid, ns.Name())
	}
	if err := Stop(pidfile, syscall.SIGTERM, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	if _, ok := Running(pidfile); ok {
		t.Errorf("Running after Stop")
	}
}

// TestStopReusedPID checks that a pidfile whose process ID now names a
// different process (another start time) is treated as stale.
func TestStopReusedPID(t *testing.T) {
	needRoot(t)
	dir := t.TempDir()
	pidfile := filepath.Join(dir, "r.pid")
	st, err := readProcStat(os.Getpid())
	if err != nil {
		t.Fatal(err)
	}
	// This very process, with a wrong start time.
	if err := os.WriteFile(pidfile, fmt.Appendf(nil, "%d %d\n", os.Getpid(), st.start+1), 0o644); err != nil {
		t.Fatal(err)
	}
	if _, ok := Running(pidfile); ok {
		t.Errorf("Running: a reused PID counts as running")
	}
	if err := Stop(pidfile, syscall.SIGKILL, 0); err != nil {
		t.Errorf("Stop: %v", err)
	}
	if _, err := os.Stat(pidfile); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("stale pidfile not removed: %v", err)
	}
	if err := os.WriteFile(pidfile, []byte("garbage"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := Stop(pidfile, syscall.SIGKILL, 0); err == nil {
		t.Errorf("Stop with a malformed pidfile: no error")
	}
}

func TestReadProcStat(t *testing.T) {
	needRoot(t)
	// A command name with spaces and parentheses.
	dir := t.TempDir()
	exe := filepath.Join(dir, "a) b (c")
	if err := os.Symlink("/usr/bin/sleep", exe); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(exe, "10")
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	defer cmd.Wait()
	defer cmd.Process.Kill()
	st, err := readProcStat(cmd.Process.Pid)
	if err != nil {
		t.Fatal(err)
	}
	if st.state != 'S' && st.state != 'R' {
		t.Errorf("state %c", st.state)
	}
	self, _ := readProcStat(os.Getpid())
	if st.start < self.start {
		t.Errorf("start time %d before the test's %d", st.start, self.start)
	}
}

// TestRunningDuringExec checks that a process that execs from a thread
// other than its main one, which the kernel briefly shows as a zombie,
// counts as running throughout.
func TestRunningDuringExec(t *testing.T) {
	_, ns := newNamespace(t)
	exe, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	for i := range 3 {
		pidfile, logfile := filepath.Join(dir, "t.pid"), filepath.Join(dir, "t.log")
		c := Command(exe)
		c.ExtraEnv = map[string]string{threadExecEnv: "1"}
		pid, err := Start(ns, c, pidfile, logfile)
		if err != nil {
			t.Fatal(err)
		}
		for end := time.Now().Add(150 * time.Millisecond); time.Now().Before(end); {
			if _, ok := Running(pidfile); !ok {
				t.Errorf("run %d: process %d did not count as running", i, pid)
				break
			}
		}
		if err := Stop(pidfile, syscall.SIGKILL, 0); err != nil {
			t.Fatal(err)
		}
		if b, _ := os.ReadFile(fmt.Sprintf("/proc/%d/cmdline", pid)); len(b) > 0 {
			t.Errorf("run %d: process %d (%q) survived Stop", i, pid, b)
		}
	}
}

func TestExitCode(t *testing.T) {
	_, ns := newNamespace(t)
	dir := t.TempDir()
	pidfile, logfile := filepath.Join(dir, "e.pid"), filepath.Join(dir, "e.log")
	t.Cleanup(func() { Stop(pidfile, syscall.SIGKILL, 0) })
	for i := range 10 {
		if _, err := Start(ns, Shell(fmt.Sprintf("exit %d", i)), pidfile, logfile); err != nil {
			t.Fatal(err)
		}
		// Once the process no longer runs, its status is known.
		if !Wait(pidfile, 5*time.Second) {
			t.Fatal("Wait: the process did not exit")
		}
		if code, ok := ExitCode(pidfile); !ok || code != i {
			t.Errorf("ExitCode = %d, %v; want %d, true", code, ok, i)
		}
	}

	// Start removes the old status; Stop leaves the new one.
	if _, err := Start(ns, Command("sleep", "1000"), pidfile, logfile); err != nil {
		t.Fatal(err)
	}
	if code, ok := ExitCode(pidfile); ok {
		t.Errorf("ExitCode of a running process = %d", code)
	}
	if err := Stop(pidfile, syscall.SIGTERM, time.Second); err != nil {
		t.Fatal(err)
	}
	if code, ok := ExitCode(pidfile); !ok || code != 128+int(syscall.SIGTERM) {
		t.Errorf("ExitCode after Stop = %d, %v; want %d", code, ok, 128+int(syscall.SIGTERM))
	}

	// A failed start records nothing.
	os.Remove(exitFile(pidfile))
	if _, err := Start(ns, Command("nsh-no-such-command"), pidfile, logfile); err == nil {
		t.Fatal("Start of a missing command: no error")
	}
	time.Sleep(50 * time.Millisecond)
	if _, err := os.Stat(exitFile(pidfile)); !errors.Is(err, fs.ErrNotExist) {
		t.Errorf("exit file after a failed start: %v", err)
	}
}
