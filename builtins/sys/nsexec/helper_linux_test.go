package nsexec

import (
	"context"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nshlab/nsh/builtins/sys/kernel"
)

// ppid runs `echo $PPID` in ns: the process that forked the command.
func ppid(t *testing.T, ns kernel.Namespace) int {
	t.Helper()
	res := run(t, ns, Shell("echo $PPID"))
	pid, err := strconv.Atoi(strings.TrimSpace(res.Stdout))
	if err != nil {
		t.Fatalf("echo $PPID: %q %q", res.Stdout, res.Stderr)
	}
	return pid
}

// TestHelperReused checks that the commands of a namespace are forked by
// one helper, in the namespace, which lives on between them, and that
// another namespace has a helper of its own.
func TestHelperReused(t *testing.T) {
	_, ns := newNamespace(t)
	_, other := newNamespace(t)
	first := ppid(t, ns)
	if first == os.Getpid() {
		t.Fatalf("the command's parent is nsh itself, not a helper")
	}
	if second := ppid(t, ns); second != first {
		t.Errorf("second command forked by %d, first by %d: want the same helper", second, first)
	}
	if !slices.Contains(helperPids(), first) {
		t.Errorf("helper %d is not in the registry %v", first, helperPids())
	}
	if !sameNetns(t, first, ns) {
		t.Errorf("helper %d is not in namespace %s", first, ns.Name())
	}
	if p := ppid(t, other); p == first {
		t.Errorf("namespace %s uses the helper of %s", other.Name(), ns.Name())
	}
}

// TestHelperMountsPrivate checks that a mount made by a command is seen
// neither by the next command of the same namespace nor by nsh.
func TestHelperMountsPrivate(t *testing.T) {
	_, ns := newNamespace(t)
	dir := t.TempDir()
	before := mounts(t)
	res := run(t, ns, Shell(fmt.Sprintf("mount -t tmpfs nsh-test-private %s && grep -c nsh-test-private /proc/self/mountinfo", dir)))
	if res.Code != 0 || strings.TrimSpace(res.Stdout) != "1" {
		t.Fatalf("mount in the command: exit %d, stdout %q, stderr %q", res.Code, res.Stdout, res.Stderr)
	}
	res = run(t, ns, Shell("grep -c nsh-test-private /proc/self/mountinfo"))
	if strings.TrimSpace(res.Stdout) != "0" {
		t.Errorf("the next command sees the mount of the previous one: %q", res.Stdout)
	}
	if after := mounts(t); after != before {
		t.Errorf("the command's mount leaked into nsh's mount namespace")
	}
	// /sys is the namespace's, for every command.
	for i := 0; i < 2; i++ {
		if res := run(t, ns, Command("ls", "/sys/class/net")); res.Stdout != "lo\n" {
			t.Errorf("ls /sys/class/net, command %d: %q", i, res.Stdout)
		}
	}
}

// TestHelperEtcNetnsChanges checks that files added to, replaced in and
// removed from /etc/netns/NAME after the helper started are seen by the
// next command, as by a child of `ip netns exec` started then.
func TestHelperEtcNetnsChanges(t *testing.T) {
	_, ns := newNamespace(t)
	own, err := os.ReadFile("/etc/hosts")
	if err != nil {
		t.Fatal(err)
	}
	hosts := func() string { return run(t, ns, Command("cat", "/etc/hosts")).Stdout }
	if got := hosts(); got != string(own) {
		t.Fatalf("/etc/hosts before /etc/netns/NAME exists: %q", got)
	}
	dir := filepath.Join(etcNetnsDir, ns.Name())
	if _, err := os.Stat(etcNetnsDir); err != nil {
		t.Cleanup(func() { os.Remove(etcNetnsDir) })
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	file := filepath.Join(dir, "hosts")
	if err := os.WriteFile(file, []byte("10.0.0.1 one\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if got := hosts(); got != "10.0.0.1 one\n" {
		t.Errorf("after adding /etc/netns/NAME/hosts: %q", got)
	}
	tmp := file + ".new"
	if err := os.WriteFile(tmp, []byte("10.0.0.2 two\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.Rename(tmp, file); err != nil {
		t.Fatal(err)
	}
	if got := hosts(); got != "10.0.0.2 two\n" {
		t.Errorf("after replacing /etc/netns/NAME/hosts: %q", got)
	}
	if err := os.Remove(file); err != nil {
		t.Fatal(err)
	}
	if got := hosts(); got != string(own) {
		t.Errorf("after removing /etc/netns/NAME/hosts: %q", got)
	}
}

// TestStopHelpers checks that StopHelpers stops the helper of a namespace
// and kills the command it runs, with a job it left in the background,
// and that the next command gets a new helper.
func TestStopHelpers(t *testing.T) {
	_, ns := newNamespace(t)
	helperPid := ppid(t, ns)
	pidfile := filepath.Join(t.TempDir(), "bg")
	errc := make(chan error, 1)
	go func() {
		ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
		defer cancel()
		res, err := Run(ctx, ns, Shell(fmt.Sprintf("sleep 600 & echo $$ $! > %s; wait", pidfile)))
		if err == nil && res.Code != 128+9 {
			err = fmt.Errorf("exit status %d, want %d", res.Code, 128+9)
		} else {
			err = nil
		}
		errc <- err
	}()
	var sh, bg int
	deadline := time.Now().Add(10 * time.Second)
	for {
		b, _ := os.ReadFile(pidfile)
		if n, _ := fmt.Sscanf(string(b), "%d %d", &sh, &bg); n == 2 {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("the command did not start")
		}
		time.Sleep(10 * time.Millisecond)
	}
	recorded, _ := filepath.Glob(filepath.Join(HelperDir(), "*."+strconv.Itoa(helperPid)))
	if len(recorded) != 1 {
		t.Errorf("helper %d recorded in %v, want one file", helperPid, recorded)
	}
	if err := StopHelpers(filepath.Join(kernel.NetnsRunDir, ns.Name())); err != nil {
		t.Fatal(err)
	}
	if _, err := readProcStat(helperPid); err == nil {
		t.Errorf("helper %d still exists after StopHelpers", helperPid)
	}
	if recorded, _ := filepath.Glob(filepath.Join(HelperDir(), "*."+strconv.Itoa(helperPid))); len(recorded) != 0 {
		t.Errorf("record of the stopped helper left: %v", recorded)
	}
	for _, pid := range []int{sh, bg} {
		if !gone(pid) {
			syscall.Kill(pid, syscall.SIGKILL)
			t.Errorf("process %d survived the helper", pid)
		}
	}
	if err := <-errc; err != nil {
		t.Errorf("Run of a command killed with its helper: %v", err)
	}
	if p := ppid(t, ns); p == helperPid {
		t.Errorf("the stopped helper %d serves again", p)
	}
}

// gone waits a little for process pid to exit.
func gone(pid int) bool {
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		st, err := readProcStat(pid)
		if err != nil || exited(st.state) {
			return true
		}
		time.Sleep(5 * time.Millisecond)
	}
	return false
}

// BenchmarkRunTrue measures Run of `true` in a namespace, through its
// warm helper (tests/bench measures exec_in against ip netns exec).
func BenchmarkRunTrue(b *testing.B) {
	_, ns := newNamespace(b)
	ctx := context.Background()
	for b.Loop() {
		if res, err := Run(ctx, ns, Command("true")); err != nil || res.Code != 0 {
			b.Fatalf("Run(true): %v %v", res, err)
		}
	}
}

// TestRunOutput checks what Run reads of a command's output through the
// helper: all of it when it is larger than a pipe holds, interleaved on
// both streams; MaxOutput of it when it is larger still; and, when the
// command leaves a background process that holds the output open, what
// came before the command's exit, within about waitDelay of it.
func TestRunOutput(t *testing.T) {
	_, ns := newNamespace(t)
	ctx := context.Background()
	res, err := Run(ctx, ns, Shell("head -c 300000 /dev/zero | tr '\\0' o; head -c 200000 /dev/zero | tr '\\0' e >&2; echo done"))
	if err != nil || res.Code != 0 {
		t.Fatalf("Run: %v %v", res.Code, err)
	}
	if len(res.Stdout) != 300005 || !strings.HasSuffix(res.Stdout, "odone\n") || len(res.Stderr) != 200000 {
		t.Errorf("stdout %d bytes (want 300005, ending in done), stderr %d (want 200000)", len(res.Stdout), len(res.Stderr))
	}

	res, err = Run(ctx, ns, Shell(fmt.Sprintf("head -c %d /dev/zero", MaxOutput+100000)))
	if err != nil || res.Code != 0 || len(res.Stdout) != MaxOutput {
		t.Errorf("Run of more than MaxOutput: code %d, %d bytes, %v; want 0, %d bytes", res.Code, len(res.Stdout), err, MaxOutput)
	}

	start := time.Now()
	res, err = Run(ctx, ns, Shell("sleep 30 & echo $!; echo before"))
	took := time.Since(start)
	if err != nil || res.Code != 0 {
		t.Fatalf("Run with a background holder: %v %v", res.Code, err)
	}
	fields := strings.Fields(res.Stdout)
	if len(fields) != 2 || fields[1] != "before" {
		t.Errorf("stdout %q, want the background PID and \"before\"", res.Stdout)
	}
	if len(fields) > 0 {
		if bg, err := strconv.Atoi(fields[0]); err == nil {
			syscall.Kill(bg, syscall.SIGKILL)
		}
	}
	if took < waitDelay || took > 20*time.Second {
		t.Errorf("Run returned after %v; want the command's end plus about %v, not the background process's", took, waitDelay)
	}
}

// TestHelperConcurrent runs commands at once in one namespace, each
// waiting until all of them have started: the helper must run them side
// by side (one that ran them one after the other would time them all
// out), and give each its own output and status.
func TestHelperConcurrent(t *testing.T) {
	_, ns := newNamespace(t)
	dir := t.TempDir()
	const n = 6
	script := fmt.Sprintf(`touch %s/$ME; i=0; while [ $(ls %s | wc -l) -lt %d ]; do i=$((i+1)); [ $i -gt 200 ] && exit 9; sleep 0.05; done; echo me=$ME; exit $ME`, dir, dir, n)
	type out struct {
		res Result
		err error
	}
	outs := make(chan out, n)
	for i := 1; i <= n; i++ {
		go func() {
			c := Shell(script)
			c.ExtraEnv = map[string]string{"ME": strconv.Itoa(i)}
			res, err := Run(context.Background(), ns, c)
			outs <- out{res, err}
		}()
	}
	seen := map[int]bool{}
	for range n {
		o := <-outs
		if o.err != nil || o.res.Stdout != fmt.Sprintf("me=%d\n", o.res.Code) {
			t.Errorf("Run: code %d, stdout %q, stderr %q, err %v", o.res.Code, o.res.Stdout, o.res.Stderr, o.err)
		}
		seen[o.res.Code] = true
	}
	if len(seen) != n {
		t.Errorf("statuses %v: want one of each of 1..%d", seen, n)
	}
}
