// Tests of nsh without root (docs/rootless.md): the tutorials' labs, the
// REPL, undo and down, and SIGKILL recovery, run as an unprivileged user
// (nshtest, which .ci/run creates, or nobody), through the user namespace
// that nsh makes for it. None of it may show on the machine: its
// /run/netns, /run/nsh, links, iptables and sysctls are compared before
// and after.
package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"os"
	"os/exec"
	"os/user"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// rootlessUser is the user the tests run nsh as: nshtest where it exists
// (.ci/run creates it: useradd -m nshtest), else nobody.
func rootlessUser(t *testing.T) (uid, gid int, name string) {
	t.Helper()
	for _, name := range []string{"nshtest", "nobody"} {
		u, err := user.Lookup(name)
		if err != nil {
			continue
		}
		uid, _ := strconv.Atoi(u.Uid)
		gid, _ := strconv.Atoi(u.Gid)
		return uid, gid, name
	}
	t.Fatal("no user nshtest nor nobody to run nsh as: create one with `useradd -m nshtest`")
	return 0, 0, ""
}

// rootlessLab is a place where one unprivileged user runs nsh: a directory
// the user can read, with a copy of nsh and of scripts/, and a runtime
// directory of its own (XDG_RUNTIME_DIR), so that the user's labs and
// holder are the test's alone.
type rootlessLab struct {
	uid, gid int
	user     string
	dir      string // readable by the user: nsh, scripts/
	bin      string
	xdg      string // $XDG_RUNTIME_DIR; the runtime directory is xdg/nsh
}

func newRootless(t *testing.T) *rootlessLab {
	t.Helper()
	requireRoot(t)
	uid, gid, name := rootlessUser(t)
	return newRootlessAs(t, uid, gid, name)
}

func newRootlessAs(t *testing.T, uid, gid int, name string) *rootlessLab {
	t.Helper()
	dir, err := os.MkdirTemp("", "nsh-rootless-")
	if err != nil {
		t.Fatal(err)
	}
	r := &rootlessLab{uid: uid, gid: gid, user: name, dir: dir, bin: filepath.Join(dir, "nsh"), xdg: filepath.Join(dir, "xdg")}
	t.Cleanup(func() {
		// A holder left by a failed test must not outlive it.
		if pid := r.holder(); pid > 0 {
			syscall.Kill(pid, syscall.SIGKILL)
		}
		os.RemoveAll(dir)
	})
	os.Chmod(dir, 0o755)
	copyFile(t, nshBin, r.bin, 0o755)
	scripts := filepath.Join(dir, "scripts")
	os.Mkdir(scripts, 0o755)
	ents, _ := os.ReadDir(filepath.Join(repoRoot, "scripts"))
	for _, e := range ents {
		copyFile(t, filepath.Join(repoRoot, "scripts", e.Name()), filepath.Join(scripts, e.Name()), 0o644)
	}
	if err := os.Mkdir(r.xdg, 0o700); err != nil {
		t.Fatal(err)
	}
	if err := os.Chown(r.xdg, uid, gid); err != nil {
		t.Fatal(err)
	}
	return r
}

func copyFile(t *testing.T, from, to string, mode os.FileMode) {
	t.Helper()
	data, err := os.ReadFile(from)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(to, data, mode); err != nil {
		t.Fatal(err)
	}
}

// cmd makes the command that runs nsh with args as the user, in the lab's
// directory.
func (r *rootlessLab) cmd(ctx context.Context, args ...string) *exec.Cmd {
	cmd := exec.CommandContext(ctx, r.bin, args...)
	cmd.Dir = r.dir
	cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "HOME=" + r.dir, "XDG_RUNTIME_DIR=" + r.xdg, "CI=true", "NSH_HISTORY=/dev/null"}
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uint32(r.uid), Gid: uint32(r.gid), Groups: []uint32{}}}
	return cmd
}

// nsh runs nsh as the user with stdin, for at most two minutes.
func (r *rootlessLab) nsh(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := r.cmd(ctx, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var out, errb bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &errb
	err := cmd.Run()
	res := result{stdout: out.String(), stderr: errb.String()}
	if ee, ok := err.(*exec.ExitError); ok {
		res.code = ee.ExitCode()
	} else if err != nil {
		t.Fatalf("nsh %s as %s: %v", strings.Join(args, " "), r.user, err)
	}
	return res
}

// must runs nsh as the user and fails the test unless it exits 0.
func (r *rootlessLab) must(t *testing.T, args ...string) result {
	t.Helper()
	res := r.nsh(t, "", args...)
	if res.code != 0 {
		t.Fatalf("nsh %s as %s: %s", strings.Join(args, " "), r.user, res)
	}
	return res
}

// start starts nsh as the user in the background.
func (r *rootlessLab) start(t *testing.T, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	cmd := r.cmd(context.Background(), args...)
	var out bytes.Buffer
	cmd.Stdout, cmd.Stderr = &out, &out
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if cmd.ProcessState == nil {
			cmd.Process.Kill()
			cmd.Wait()
		}
	})
	return cmd, &out
}

// holder returns the pid of the user's holder, 0 if none runs.
func (r *rootlessLab) holder() int {
	b, err := os.ReadFile(filepath.Join(r.xdg, "nsh", "holder.pid"))
	if err != nil {
		return 0
	}
	f := strings.Fields(string(b))
	if len(f) < 2 {
		return 0
	}
	pid, _ := strconv.Atoi(f[0])
	if pid <= 0 || !procAlive(pid) {
		return 0
	}
	return pid
}

// waitNoHolder fails the test if the user's holder is still running after
// the last session went down (waiting for it to notice, up to 30 s).
func (r *rootlessLab) waitNoHolder(t *testing.T) {
	t.Helper()
	if !waitFor(30*time.Second, func() bool { return r.holder() == 0 }) {
		t.Errorf("the holder %d still runs with no session left", r.holder())
	}
}

// machineSysctls are the machine's sysctls that the labs set in their own
// namespaces.
var machineSysctls = []string{"net/ipv4/ip_forward", "net/ipv4/conf/all/forwarding", "net/ipv6/conf/all/forwarding", "net/ipv4/conf/default/rp_filter"}

func readSysctls(t *testing.T) map[string]string {
	t.Helper()
	m := map[string]string{}
	for _, k := range machineSysctls {
		b, _ := os.ReadFile("/proc/sys/" + k)
		m[k] = strings.TrimSpace(string(b))
	}
	return m
}

// assertMachineUntouched fails the test if the machine's namespaces,
// links, sessions, firewall or sysctls changed since before and sysctls.
func assertMachineUntouched(t *testing.T, before machine, sysctls map[string]string) {
	t.Helper()
	assertClean(t, before)
	for k, v := range readSysctls(t) {
		if sysctls[k] != v {
			t.Errorf("the machine's sysctl %s changed from %s to %s", k, sysctls[k], v)
		}
	}
}

// rootOnlyScript is the core lab that needs the machine's root: it writes
// /etc/netns/NAME/hosts, and /etc is root's (docs/rootless.md).
const rootOnlyScript = "seed004-3-dummy.star"

// TestRootlessLabs runs the tutorials' core labs on the stand-in for the
// machine, and their NAT labs in a sandbox inside it, as the unprivileged
// user: each must pass its own checks, its rules must be in the user's
// namespaces and nowhere on the machine, and once the last lab is down
// the holder must end.
func TestRootlessLabs(t *testing.T) {
	r := newRootless(t)
	before, sysctls := snapshot(t), readSysctls(t)
	ents, _ := os.ReadDir(filepath.Join(r.dir, "scripts"))
	n := 0
	for _, e := range ents {
		if !coreScripts.MatchString(e.Name()) || e.Name() == rootOnlyScript {
			continue
		}
		n++
		t.Run(strings.TrimSuffix(e.Name(), ".star"), func(t *testing.T) {
			session := uniq("rl")
			res := r.nsh(t, "", "run", filepath.Join("scripts", e.Name()), "--session", session)
			if res.code != 0 {
				t.Fatalf("%s as %s: %s", e.Name(), r.user, res)
			}
			if !strings.Contains(r.must(t, "status").stdout, "session "+session) {
				t.Errorf("nsh status as %s does not show session %s", r.user, session)
			}
			if strings.Contains(mustNsh(t, "status").stdout, session) {
				t.Errorf("root's nsh status shows the session %s of %s", session, r.user)
			}
			r.must(t, "down", "--session", session)
		})
	}
	if n < 10 {
		t.Errorf("found %d core scripts, want at least 10", n)
	}
	for _, c := range []struct {
		script string
		rules  int
	}{
		{"seed002-4-internet.star", 1},
		{"seed002-5-dnat.star", 3},
		{"seed003-3-internet.star", 2},
	} {
		t.Run(strings.TrimSuffix(c.script, ".star"), func(t *testing.T) {
			session := uniq("rn")
			if res := r.nsh(t, "", "run", "--sandbox", "--session", session, filepath.Join("scripts", c.script)); res.code != 0 {
				t.Fatalf("%s as %s: %s", c.script, r.user, res)
			}
			save := r.must(t, "exec", "--session", session, "host", "--", "iptables-save").stdout
			if got := ruleLines(save, "nsh:"+session); len(got) != c.rules {
				t.Errorf("%s: %d rules in the sandbox, want %d: %q", c.script, len(got), c.rules, got)
			}
			assertNoMachineRules(t, session)
			r.must(t, "down", "--session", session)
		})
	}
	r.waitNoHolder(t)
	assertMachineUntouched(t, before, sysctls)
	if ents, _ := os.ReadDir(filepath.Join(r.xdg, "nsh", "sessions")); len(ents) != 0 {
		t.Errorf("sessions left in the runtime directory: %v", ents)
	}
}

// TestRootlessREPLUndoDown builds a lab in the REPL as the unprivileged
// user, looks at it with status and exec from other processes, undoes its
// newest step, attaches a second REPL to it, and tears it down.
func TestRootlessREPLUndoDown(t *testing.T) {
	r := newRootless(t)
	before, sysctls := snapshot(t), readSysctls(t)
	session, a, b := uniq("rr"), uniq("ra"), uniq("rb")
	res := r.nsh(t, fmt.Sprintf(`a = netns(%q)
b = netns(%q)
x, y = veth("rx0", "ry0", ns=a, peer_ns=b)
x.addr("10.77.0.1/24").up()
y.addr("10.77.0.2/24").up()
sysctl(a, "net.ipv4.ip_forward", 1)
`, a, b), "repl", "--session", session)
	if res.code != 0 {
		t.Fatalf("repl as %s: %s", r.user, res)
	}
	var st []struct {
		Steps []struct{ Name string } `json:"steps"`
	}
	if err := json.Unmarshal([]byte(r.must(t, "status", "--json", "--session", session).stdout), &st); err != nil || len(st) != 1 || len(st[0].Steps) != 6 {
		t.Fatalf("status --json: %v %+v", err, st)
	}
	if out := r.must(t, "exec", "--session", session, a, "--", "cat", "/proc/sys/net/ipv4/ip_forward").stdout; strings.TrimSpace(out) != "1" {
		t.Errorf("ip_forward in %s is %q, want 1", a, out)
	}
	if out := r.must(t, "exec", "--session", session, a, "--", "ip", "-o", "link").stdout; !strings.Contains(out, "rx0") {
		t.Errorf("rx0 is not in %s: %s", a, out)
	}
	if out := r.must(t, "undo", "--session", session).stdout; !strings.Contains(out, "undid step") {
		t.Errorf("undo: %s", out)
	}
	if out := r.must(t, "exec", "--session", session, a, "--", "cat", "/proc/sys/net/ipv4/ip_forward").stdout; strings.TrimSpace(out) != "0" {
		t.Errorf("after undo, ip_forward in %s is %q, want 0", a, out)
	}
	res = r.nsh(t, fmt.Sprintf("print([l.name for l in lookup(%q).links()])\nprint(ping(lookup(%q), \"10.77.0.2\").ok)\n", a, a), "repl", "--session", session)
	if res.code != 0 || !strings.Contains(res.stdout, `"rx0"`) || !strings.Contains(res.stdout, "True") {
		t.Errorf("second repl: %s", res)
	}
	for _, ns := range []string{a, b} {
		if netnsExists(ns) {
			t.Errorf("namespace %s of %s is in the machine's /run/netns", ns, r.user)
		}
	}
	if out := r.must(t, "down", "--session", session).stdout; !strings.Contains(out, "is down") {
		t.Errorf("down: %s", out)
	}
	r.waitNoHolder(t)
	assertMachineUntouched(t, before, sysctls)
}

// TestRootlessSIGKILL kills `nsh run` of the unprivileged user with
// SIGKILL while it waits on a spawned process, and tears the lab down
// from another process; then kills the holder of a lab that is up, after
// which the next nsh must say the lab is gone, and leave nothing of it.
func TestRootlessSIGKILL(t *testing.T) {
	r := newRootless(t)
	before, sysctls := snapshot(t), readSysctls(t)

	session, n := uniq("rk"), uniq("k")
	script := filepath.Join(r.dir, session+".star")
	copyFileData(t, script, lab(crashLab, map[string]string{"N": n}))
	cmd, out := r.start(t, "run", script, "--session", session)
	if !waitFor(60*time.Second, func() bool { return strings.Contains(out.String(), "PID ") }) {
		t.Fatalf("the lab never got to its end:\n%s", out)
	}
	pid := pidFrom(t, out.String(), "PID")
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	if res := r.nsh(t, "", "down", "--session", session); res.code != 0 {
		t.Fatalf("down after SIGKILL: %s", res)
	}
	if !waitGone(pid) {
		t.Errorf("spawned process %d survived down", pid)
	}
	r.waitNoHolder(t)
	assertMachineUntouched(t, before, sysctls)

	// The holder killed while a lab is up: the lab goes with it.
	session = uniq("rh")
	copyFileData(t, script, fmt.Sprintf("n = netns(%q)\nbr = bridge(\"rhbr0\", ns=n).up()\np = spawn(n, [\"sleep\", \"600\"])\nprint(\"PID\", p.pid)\n", uniq("h")))
	res := r.must(t, "run", script, "--session", session)
	pid = pidFrom(t, res.stdout, "PID")
	holder := r.holder()
	if holder == 0 {
		t.Fatal("no holder runs while a lab is up")
	}
	syscall.Kill(holder, syscall.SIGKILL)
	if !waitGone(holder) {
		t.Fatalf("holder %d survived SIGKILL", holder)
	}
	res = r.must(t, "status")
	if !strings.Contains(res.stderr, "is gone") || !strings.Contains(res.stderr, session) || !strings.Contains(res.stdout, "no sessions") {
		t.Errorf("status after the holder was killed does not say the lab is gone: %s", res)
	}
	if !waitGone(pid) {
		t.Errorf("spawned process %d survived its holder and the next nsh", pid)
	}
	if res := r.nsh(t, "", "down", "--session", session); res.code != 0 || !strings.Contains(res.stderr, "nothing to tear down") {
		t.Errorf("down of a lab whose holder was killed: %s", res)
	}
	r.waitNoHolder(t)
	assertMachineUntouched(t, before, sysctls)
}

func copyFileData(t *testing.T, path, data string) {
	t.Helper()
	if err := os.WriteFile(path, []byte(data), 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestRootlessOthersSeeNothing checks that a lab of one user is not seen
// by another user's nsh, nor by root's.
func TestRootlessOthersSeeNothing(t *testing.T) {
	r := newRootless(t)
	other := newRootlessAs(t, 64999, 64999, "uid 64999")
	session, ns := uniq("ro"), uniq("ro")
	copyFileData(t, filepath.Join(r.dir, "o.star"), fmt.Sprintf("netns(%q)\n", ns))
	r.must(t, "run", "o.star", "--session", session)
	defer r.must(t, "down", "--session", session)
	if out := r.must(t, "status").stdout; !strings.Contains(out, session) {
		t.Errorf("the user's own status does not show %s: %s", session, out)
	}
	res := other.must(t, "status")
	if strings.Contains(res.stdout, session) || !strings.Contains(res.stdout, "no sessions") {
		t.Errorf("another user sees the lab: %s", res)
	}
	if res := other.nsh(t, "", "exec", "--session", session, ns, "--", "true"); res.code == 0 {
		t.Errorf("another user entered %s: %s", ns, res)
	}
	if strings.Contains(mustNsh(t, "status").stdout, session) || netnsExists(ns) {
		t.Errorf("root sees the lab of %s", r.user)
	}
	other.waitNoHolder(t)
}

// TestRootlessNotRootSysctl checks that a sysctl that only the machine's
// root may set fails with an error that says so.
func TestRootlessNotRootSysctl(t *testing.T) {
	r := newRootless(t)
	session := uniq("rs")
	defer r.nsh(t, "", "down", "--session", session)
	res := r.nsh(t, "n = netns(\"rsx\")\nsysctl(n, \"net.netfilter.nf_conntrack_max\", 100)\n", "repl", "--session", session)
	if res.code == 0 || !strings.Contains(res.stderr, "only the machine's root") || !strings.Contains(res.stderr, "<stdin>:2:") {
		t.Errorf("a sysctl only root may set: %s", res)
	}
}

// TestRootlessPasta runs a NAT lab with --net=pasta. Where pasta (package
// passt) is not installed, nsh must say what to install, in one line, and
// start no holder. Where it is, the stand-in for the machine must get a
// default route from pasta, and a namespace of the lab, behind a
// masquerade in the stand-in, must reach a server on the machine's own
// loopback through the default gateway's address, which pasta maps to the
// machine's loopback; once the lab is down, neither the holder nor pasta
// may be left. pasta opens /dev/net/tun as the user: where the machine
// leaves it mode 0600 (no udev, as on this test machine), nsh must first
// say so, in one line, and start no holder; the lab then runs in a private
// mount namespace of the test's where /dev/net/tun is a node of mode
// 0666, as distributions' udev rules make it, which leaves the machine's
// /dev as it is. This test runs in the machine's own network namespace
// (pasta needs a routable interface, and only adds a link in the user's
// namespace), not in vm.sh.
func TestRootlessPasta(t *testing.T) {
	r := newRootless(t)
	if _, err := exec.LookPath("pasta"); err != nil {
		copyFileData(t, filepath.Join(r.dir, "p.star"), "netns(\"rp0\")\n")
		res := r.nsh(t, "", "run", "--net=pasta", "p.star")
		if res.code == 0 || !strings.Contains(res.stderr, "passt") || strings.Count(strings.TrimSpace(res.stderr), "\n") > 0 {
			t.Errorf("--net=pasta without pasta: %s", res)
		}
		if r.holder() != 0 {
			t.Errorf("a holder runs after --net=pasta failed")
		}
		return
	}
	t.Cleanup(func() {
		// pasta ends with the holder's namespace; one left by a failed
		// test must not outlive it either.
		for _, pid := range userPasta(r.uid) {
			syscall.Kill(pid, syscall.SIGKILL)
		}
	})
	if len(userPasta(r.uid)) > 0 {
		t.Fatalf("%s already runs pasta", r.user)
	}

	// The server on the machine's loopback, and the address pasta maps to
	// it: the machine's default IPv4 gateway, which pasta copies.
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	port := ln.Addr().(*net.TCPAddr).Port
	seen := make(chan string, 1)
	go func() {
		c, err := ln.Accept()
		if err != nil {
			seen <- "accept: " + err.Error()
			return
		}
		defer c.Close()
		buf := make([]byte, 5)
		if _, err := io.ReadFull(c, buf); err != nil {
			seen <- "read: " + err.Error()
			return
		}
		c.Write([]byte("seen"))
		seen <- string(buf)
	}()
	out, err := exec.Command("ip", "-4", "route", "show", "default").Output()
	f := strings.Fields(string(out))
	if err != nil || len(f) < 3 || f[1] != "via" {
		t.Fatalf("no default IPv4 route on the machine for pasta to copy (%v): %s", err, out)
	}
	gw := f[2]

	copyFileData(t, filepath.Join(r.dir, "p.star"), fmt.Sprintf(`lan = netns("rp0")
up, down = veth("rp-up", "rp-down", peer_ns = lan)
up.addr("10.99.0.1/24").up()
down.addr("10.99.0.2/24").up()
lan.route("default", via = "10.99.0.1")
ip_forward(host)
masquerade("10.99.0.0/24", not_out = "rp-up")
c = connect(lan, "%s:%d", timeout = 20, send = "hello")
if not c.ok:
    fail("rp0 did not reach the machine's loopback through pasta: " + c.error)
print("reply:", c.reply)
`, gw, port))

	tun, err := os.Stat("/dev/net/tun")
	if err != nil {
		t.Fatalf("pasta needs /dev/net/tun: %v", err)
	}
	if tun.Mode().Perm()&0o006 != 0o006 {
		res := r.nsh(t, "", "run", "--net=pasta", "p.star")
		if res.code == 0 || !strings.Contains(res.stderr, "/dev/net/tun") || strings.Count(strings.TrimSpace(res.stderr), "\n") > 0 {
			t.Errorf("--net=pasta where the user may not open /dev/net/tun: %s", res)
		}
		if r.holder() != 0 || len(userPasta(r.uid)) > 0 {
			t.Errorf("a holder or pasta runs after --net=pasta failed")
		}
	}

	// runTun runs nsh run --net=pasta SCRIPT as the user, in a mount
	// namespace of its own where /dev/net/tun is mode 0666; the holder and
	// pasta inherit it.
	tunDir := filepath.Join(r.dir, "tun")
	if err := os.Mkdir(tunDir, 0o755); err != nil {
		t.Fatal(err)
	}
	unshare, err := exec.LookPath("unshare")
	if err != nil {
		t.Fatal("needs unshare (util-linux)")
	}
	runTun := func(script string) result {
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := r.cmd(ctx, "run", "--net=pasta", script)
		sh := fmt.Sprintf(`set -e
mount --make-rprivate /
mount -t tmpfs nsh-tun %q
mknod -m 0666 %q/tun c 10 200
mount --bind %q/tun /dev/net/tun
exec setpriv --reuid=%d --regid=%d --clear-groups "$@"`, tunDir, tunDir, tunDir, r.uid, r.gid)
		cmd.Path, cmd.Args = unshare, append([]string{"unshare", "-m", "sh", "-c", sh, "sh"}, cmd.Args...)
		cmd.SysProcAttr = nil
		var stdout, stderr bytes.Buffer
		cmd.Stdout, cmd.Stderr = &stdout, &stderr
		err := cmd.Run()
		res := result{stdout: stdout.String(), stderr: stderr.String()}
		if ee, ok := err.(*exec.ExitError); ok {
			res.code = ee.ExitCode()
		} else if err != nil {
			t.Fatal(err)
		}
		return res
	}
	noPasta := func(when string) {
		t.Helper()
		if !waitFor(30*time.Second, func() bool { return len(userPasta(r.uid)) == 0 }) {
			t.Errorf("pasta still runs %s: %v", when, userPasta(r.uid))
		}
	}

	res := runTun("p.star")
	if res.code != 0 {
		if r.holder() != 0 {
			r.nsh(t, "", "down", "--session", "p")
		}
		t.Fatalf("--net=pasta: %s", res)
	}
	t.Logf("nsh run --net=pasta: %s", res)
	if len(userPasta(r.uid)) != 1 {
		t.Errorf("want one pasta for the holder, have %v", userPasta(r.uid))
	}
	if out := r.must(t, "exec", "host", "--", "ip", "route").stdout; !strings.Contains(out, "default via "+gw) {
		t.Errorf("no default route via %s in the stand-in for the machine with --net=pasta: %s", gw, out)
	}
	if !strings.Contains(res.stdout, "reply: seen") {
		t.Errorf("rp0 got no reply from the server on the machine's loopback: %s", res)
	}
	select {
	case got := <-seen:
		if got != "hello" {
			t.Errorf("the server on the machine's loopback got %q, want hello", got)
		}
	case <-time.After(30 * time.Second):
		t.Errorf("the server on 127.0.0.1:%d saw no connection: %s", port, res)
	}
	r.must(t, "down", "--session", "p")
	r.waitNoHolder(t)
	noPasta("after the last lab went down")

	// A holder killed: pasta, attached to it, does not end with it, and
	// would keep its network namespace alive; the next nsh stops it.
	copyFileData(t, filepath.Join(r.dir, "k.star"), "netns(\"rk0\")\n")
	if res := runTun("k.star"); res.code != 0 {
		t.Fatalf("--net=pasta again: %s", res)
	}
	if len(userPasta(r.uid)) != 1 {
		t.Fatalf("want one pasta for the new holder, have %v", userPasta(r.uid))
	}
	syscall.Kill(r.holder(), syscall.SIGKILL)
	if !waitFor(30*time.Second, func() bool { return r.holder() == 0 }) {
		t.Fatal("the holder survived SIGKILL")
	}
	if res := r.nsh(t, "", "status"); !strings.Contains(res.stderr, "forgot session \"k\"") {
		t.Errorf("nsh status after the holder was killed: %s", res)
	}
	noPasta("after its holder was killed and nsh ran again")
	r.waitNoHolder(t)
}

// userPasta returns the pids of the pasta processes that uid runs (pasta
// runs as passt.avx2 where the CPU has AVX2).
func userPasta(uid int) []int {
	var pids []int
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "comm"))
		if comm := strings.TrimSpace(string(b)); !strings.HasPrefix(comm, "pasta") && !strings.HasPrefix(comm, "passt") {
			continue
		}
		// Not the owner of /proc/PID: pasta makes itself not dumpable,
		// which gives it to root.
		status, _ := os.ReadFile(filepath.Join("/proc", e.Name(), "status"))
		for _, l := range strings.Split(string(status), "\n") {
			if f := strings.Fields(l); len(f) > 1 && f[0] == "Uid:" && f[1] == strconv.Itoa(uid) {
				pids = append(pids, pid)
			}
		}
	}
	return pids
}

// TestRootlessWithoutUserNamespaces runs nsh as a normal user in a user
// namespace whose user.max_user_namespaces is 0, as on a machine that
// forbids them: nsh must say which setting it is and how to allow it, or
// to run as root, in one line, and change nothing.
func TestRootlessWithoutUserNamespaces(t *testing.T) {
	r := newRootless(t)
	setpriv, err := exec.LookPath("setpriv")
	if err != nil {
		t.Fatal("needs setpriv (util-linux)")
	}
	before := snapshot(t)
	copyFileData(t, filepath.Join(r.dir, "lab.star"), fmt.Sprintf("netns(%q)\n", uniq("nr")))
	for _, args := range [][]string{{"run", "lab.star", "--sandbox"}, {"run", "lab.star"}, {"down", "--session", "lab"}, {"status"}} {
		// Root of a user namespace of its own (mapping the machine's ids
		// 0-65535 to themselves) forbids further ones, then becomes the
		// user.
		sh := fmt.Sprintf("echo 0 > /proc/sys/user/max_user_namespaces && exec %s --reuid=%d --regid=%d --clear-groups \"$@\"", setpriv, r.uid, r.gid)
		cmd := exec.Command("sh", append([]string{"-c", sh, "sh", r.bin}, args...)...)
		cmd.Dir = r.dir
		cmd.Env = []string{"PATH=" + os.Getenv("PATH"), "XDG_RUNTIME_DIR=" + r.xdg}
		cmd.SysProcAttr = &syscall.SysProcAttr{
			Cloneflags:  syscall.CLONE_NEWUSER,
			UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 65536}},
			GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: 0, Size: 65536}},

			GidMappingsEnableSetgroups: true,
		}
		out, err := cmd.CombinedOutput()
		if err == nil {
			t.Errorf("nsh %v without user namespaces succeeded:\n%s", args, out)
			continue
		}
		msg := strings.TrimSpace(string(out))
		for _, want := range []string{"user.max_user_namespaces = 0", "sysctl -w user.max_user_namespaces=", "run nsh as root"} {
			if !strings.Contains(msg, want) {
				t.Errorf("nsh %v without user namespaces: %q does not say %q", args, msg, want)
			}
		}
		if strings.Contains(msg, "\n") {
			t.Errorf("nsh %v without user namespaces: error is not one line: %q", args, msg)
		}
	}
	assertClean(t, before)
}
