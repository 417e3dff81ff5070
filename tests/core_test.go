// Core lab tests: every lab runs under --sandbox with names from uniq(),
// is checked through netlink, and must leave nothing behind.
package tests

import (
	"bufio"
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// lab substitutes {KEY} in src with vars[KEY].
func lab(src string, vars map[string]string) string {
	for k, v := range vars {
		src = strings.ReplaceAll(src, "{"+k+"}", v)
	}
	return src
}

// sandboxOf returns the name of a session's sandbox namespace, read from
// the header of its journal.
func sandboxOf(t *testing.T, session string) string {
	t.Helper()
	f, err := os.Open(filepath.Join("/run/nsh", session, "journal"))
	if err != nil {
		t.Fatalf("session %s: %v", session, err)
	}
	defer f.Close()
	line, _ := bufio.NewReader(f).ReadBytes('\n')
	var rec struct {
		Meta struct {
			Sandbox string `json:"sandbox"`
		} `json:"meta"`
	}
	if err := json.Unmarshal(line, &rec); err != nil || rec.Meta.Sandbox == "" {
		t.Fatalf("session %s: no sandbox in journal header %q (%v)", session, line, err)
	}
	return rec.Meta.Sandbox
}

// netnsExists reports whether /run/netns/NAME pins a namespace, as the
// test process (in the machine's mount namespace) sees it.
func netnsExists(name string) bool {
	fd, err := netns.GetFromPath(filepath.Join("/run/netns", name))
	if err != nil {
		return false
	}
	defer fd.Close()
	var st unix.Statfs_t
	return unix.Fstatfs(int(fd), &st) == nil && st.Type == unix.NSFS_MAGIC
}

// handleAt opens a netlink handle in the named namespace.
func handleAt(t *testing.T, name string) *netlink.Handle {
	t.Helper()
	fd, err := netns.GetFromPath(filepath.Join("/run/netns", name))
	if err != nil {
		t.Fatalf("namespace %s: %v", name, err)
	}
	defer fd.Close()
	h, err := netlink.NewHandleAt(fd)
	if err != nil {
		t.Fatalf("netlink in %s: %v", name, err)
	}
	t.Cleanup(h.Close)
	return h
}

// link returns the link NAME in namespace ns, or nil.
func link(t *testing.T, ns, name string) netlink.Link {
	t.Helper()
	l, err := handleAt(t, ns).LinkByName(name)
	if err != nil {
		var nf netlink.LinkNotFoundError
		if errors.As(err, &nf) {
			return nil
		}
		t.Fatalf("link %s in %s: %v", name, ns, err)
	}
	return l
}

// addrsOf returns a link's IPv4 addresses as CIDRs.
func addrsOf(t *testing.T, ns string, l netlink.Link) []string {
	t.Helper()
	as, err := handleAt(t, ns).AddrList(l, unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	for _, a := range as {
		out = append(out, a.IPNet.String())
	}
	return out
}

// hasRoute reports whether namespace ns has an IPv4 route to dst
// ("default" or a CIDR).
func hasRoute(t *testing.T, ns, dst string) bool {
	t.Helper()
	rs, err := handleAt(t, ns).RouteList(nil, unix.AF_INET)
	if err != nil {
		t.Fatal(err)
	}
	for _, r := range rs {
		if dst == "default" && (r.Dst == nil || r.Dst.String() == "0.0.0.0/0") {
			return true
		}
		if r.Dst != nil && r.Dst.String() == dst {
			return true
		}
	}
	return false
}

// sysctlIn reads a sysctl in a named namespace.
func sysctlIn(t *testing.T, ns, key string) string {
	t.Helper()
	out, err := exec.Command("ip", "netns", "exec", ns, "cat", "/proc/sys/"+strings.ReplaceAll(key, ".", "/")).CombinedOutput()
	if err != nil {
		t.Fatalf("sysctl %s in %s: %v: %s", key, ns, err, out)
	}
	return strings.TrimSpace(string(out))
}

// procAlive reports whether a process exists and is not a zombie.
func procAlive(pid int) bool {
	b, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return false
	}
	i := bytes.LastIndexByte(b, ')')
	return i > 0 && i+2 < len(b) && b[i+2] != 'Z' && b[i+2] != 'X'
}

// waitGone waits up to 5s for a process to be gone.
func waitGone(pid int) bool {
	for i := 0; i < 250; i++ {
		if !procAlive(pid) {
			return true
		}
		time.Sleep(20 * time.Millisecond)
	}
	return false
}

// journalOps counts the operations recorded in a session's journal.
func journalOps(session string) int {
	b, _ := os.ReadFile(filepath.Join("/run/nsh", session, "journal"))
	return bytes.Count(b, []byte(`"t":"op"`))
}

// pidFrom finds "KEY PID" in output.
func pidFrom(t *testing.T, out, key string) int {
	t.Helper()
	for _, line := range strings.Split(out, "\n") {
		var pid int
		if _, err := fmt.Sscanf(line, key+" %d", &pid); err == nil {
			return pid
		}
	}
	t.Fatalf("no %q line in output:\n%s", key, out)
	return 0
}

// startNsh starts nsh in the background.
func startNsh(t *testing.T, args ...string) (*exec.Cmd, *bytes.Buffer) {
	t.Helper()
	noteSessions(args)
	cmd := exec.Command(nshBin, args...)
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

// waitFor polls cond every 10ms for up to d.
func waitFor(d time.Duration, cond func() bool) bool {
	deadline := time.Now().Add(d)
	for time.Now().Before(deadline) {
		if cond() {
			return true
		}
		time.Sleep(10 * time.Millisecond)
	}
	return cond()
}

const undoLab = `
a = netns("{A}")
b = netns("{B}")
x, y = veth("{XA}", "{XB}", ns=a, peer_ns=b)
x.addr("10.50.0.1/24").up()
y.addr("10.50.0.2/24").up()
step("bridge")
br = bridge("{BR}").addr("10.51.0.1/24").up()
c = netns("{C}")
p, q = veth("{PC}", "{PH}", ns=c)
q.master(br).up()
p.addr("10.51.0.2/24").up()
step("routing")
ip_forward()
route(host, "10.50.0.0/24", via="10.51.0.2")
c.route("default", via="10.51.0.1")
step("procs")
s = spawn(a, ["sleep", "300"])
print("PID", s.pid)
`

// TestUndoStepByStep builds a lab of four steps under --sandbox, checks it
// through netlink, then undoes it one step at a time from other nsh
// processes, checking after each that exactly that step's objects went,
// and tears the rest down with nsh down.
func TestUndoStepByStep(t *testing.T) {
	requireRoot(t)
	session := uniq("t")
	downAtEnd(t, session)
	v := map[string]string{"A": uniq("ua"), "B": uniq("ub"), "C": uniq("uc"), "XA": uniq("xa"), "XB": uniq("xb"), "BR": uniq("br"), "PC": uniq("pc"), "PH": uniq("ph")}
	script := writeLab(t, "undo", lab(undoLab, v))
	r := mustNsh(t, "run", script, "--sandbox", "--session", session)
	pid := pidFrom(t, r.stdout, "PID")
	sb := sandboxOf(t, session)

	// Everything is there, where it belongs.
	for _, ns := range []string{v["A"], v["B"], v["C"], sb} {
		if !netnsExists(ns) {
			t.Fatalf("namespace %s missing after run", ns)
		}
	}
	xa := link(t, v["A"], v["XA"])
	if xa == nil || xa.Type() != "veth" || xa.Attrs().Flags&net.FlagUp == 0 {
		t.Fatalf("veth %s in %s: %v", v["XA"], v["A"], xa)
	}
	if got := addrsOf(t, v["A"], xa); !slices.Contains(got, "10.50.0.1/24") {
		t.Errorf("%s addresses %v, want 10.50.0.1/24", v["XA"], got)
	}
	if link(t, v["B"], v["XB"]) == nil {
		t.Errorf("veth peer %s missing from %s", v["XB"], v["B"])
	}
	br := link(t, sb, v["BR"])
	if br == nil || br.Type() != "bridge" {
		t.Fatalf("bridge %s not in the sandbox: %v", v["BR"], br)
	}
	if ph := link(t, sb, v["PH"]); ph == nil || ph.Attrs().MasterIndex != br.Attrs().Index {
		t.Errorf("%s is not a port of %s", v["PH"], v["BR"])
	}
	if _, err := netlink.LinkByName(v["BR"]); err == nil {
		t.Errorf("bridge %s is in the machine's namespace, not only in the sandbox", v["BR"])
	}
	if !hasRoute(t, sb, "10.50.0.0/24") || !hasRoute(t, v["C"], "default") {
		t.Errorf("routes missing")
	}
	if got := sysctlIn(t, sb, "net.ipv4.ip_forward"); got != "1" {
		t.Errorf("ip_forward in sandbox = %s, want 1", got)
	}
	if !procAlive(pid) {
		t.Fatalf("spawned process %d is not running", pid)
	}
	st := mustNsh(t, "status", "--session", session, "--json")
	for _, name := range []string{`"sandbox"`, `"bridge"`, `"routing"`, `"procs"`} {
		if !strings.Contains(st.stdout, name) {
			t.Errorf("status lacks step %s:\n%s", name, st.stdout)
		}
	}

	// undo 1: the process stops; nothing else changes.
	r = mustNsh(t, "undo", "--session", session)
	if !strings.Contains(r.stdout, `"procs"`) {
		t.Errorf("undo output: %s", r)
	}
	if !waitGone(pid) {
		t.Errorf("process %d still running after undo", pid)
	}
	if !hasRoute(t, sb, "10.50.0.0/24") || sysctlIn(t, sb, "net.ipv4.ip_forward") != "1" {
		t.Errorf("undo of step procs also undid routing")
	}

	// undo 2: routes and ip_forward are reverted; links stay.
	mustNsh(t, "undo", "--session", session)
	if hasRoute(t, sb, "10.50.0.0/24") || hasRoute(t, v["C"], "default") {
		t.Errorf("routes still there after undoing step routing")
	}
	if got := sysctlIn(t, sb, "net.ipv4.ip_forward"); got != "0" {
		t.Errorf("ip_forward in sandbox = %s after undo, want 0", got)
	}
	if link(t, sb, v["BR"]) == nil || !netnsExists(v["C"]) {
		t.Errorf("undo of step routing also removed the bridge or %s", v["C"])
	}

	// undo 3: the bridge, its port and namespace C go; A and B stay.
	mustNsh(t, "undo", "--session", session)
	if link(t, sb, v["BR"]) != nil || link(t, sb, v["PH"]) != nil || netnsExists(v["C"]) {
		t.Errorf("step bridge not fully undone")
	}
	if !netnsExists(v["A"]) || !netnsExists(v["B"]) || link(t, v["A"], v["XA"]) == nil {
		t.Errorf("undo of step bridge also removed the first step's objects")
	}

	// undo 4: the run's own step; the sandbox and the session stay.
	mustNsh(t, "undo", "--session", session)
	if netnsExists(v["A"]) || netnsExists(v["B"]) {
		t.Errorf("namespaces of the first step still there")
	}
	if !netnsExists(sb) {
		t.Errorf("undo removed the sandbox; only down should")
	}
	r = mustNsh(t, "undo", "--session", session)
	if !strings.Contains(r.stdout, "no step to undo") {
		t.Errorf("undo of an empty session: %s", r)
	}

	mustNsh(t, "down", "--session", session)
	if netnsExists(sb) {
		t.Errorf("sandbox %s still there after down", sb)
	}
	if _, err := os.Stat(filepath.Join("/run/nsh", session)); err == nil {
		t.Errorf("/run/nsh/%s still there after down", session)
	}
}

// TestUndoBuiltin runs undo() inside a script: it reverts whole steps of
// the running session.
func TestUndoBuiltin(t *testing.T) {
	requireRoot(t)
	session := uniq("t")
	downAtEnd(t, session)
	v := map[string]string{"A": uniq("ua"), "B": uniq("ub"), "L": uniq("l")}
	script := writeLab(t, "undob", lab(`
a = netns("{A}")
step("two")
b = netns("{B}")
bridge("{L}", ns=b)
if undo() != 1:
    fail("undo() did not undo one step")
if len(journal()) != 2:
    fail("journal after undo: %r" % journal())
print("LINKS", [l.name for l in a.links()])
`, v))
	mustNsh(t, "run", script, "--sandbox", "--session", session)
	if !netnsExists(v["A"]) || netnsExists(v["B"]) {
		t.Errorf("after undo(): %s exists=%v (want true), %s exists=%v (want false)", v["A"], netnsExists(v["A"]), v["B"], netnsExists(v["B"]))
	}
	mustNsh(t, "down", "--session", session)
}

// TestExplain checks that --explain prints the iproute2 and sysctl
// command of each operation as it is applied.
func TestExplain(t *testing.T) {
	requireRoot(t)
	session := uniq("t")
	downAtEnd(t, session)
	v := map[string]string{"X": uniq("ex"), "Y": uniq("ey"), "A": uniq("va"), "B": uniq("vb"), "BR": uniq("br")}
	script := writeLab(t, "explain", lab(`
x = netns("{X}")
y = netns("{Y}", lo=False)
a, b = veth("{A}", "{B}", ns=x, peer_ns=y)
a.addr("10.60.0.1/24").up()
br = bridge("{BR}")
x.route("default", via="10.60.0.2")
ip_forward(x)
`, v))
	r := mustNsh(t, "run", script, "--sandbox", "--rm", "--explain", "--session", session)
	sb := sandboxIn(t, r.stderr)
	for _, want := range []string{
		"ip netns add " + v["X"],
		"ip -n " + v["X"] + " link set lo up",
		"ip link add " + v["A"] + " netns " + v["X"] + " type veth peer name " + v["B"] + " netns " + v["Y"],
		"ip -n " + v["X"] + " addr add 10.60.0.1/24 dev " + v["A"],
		"ip -n " + v["X"] + " link set " + v["A"] + " up",
		// In host, which is the sandbox: pasted, the command must
		// not make the bridge in the machine's own namespace.
		"ip link add " + v["BR"] + " netns " + sb + " type bridge",
		"ip -n " + v["X"] + " route add default via 10.60.0.2",
		"ip netns exec " + v["X"] + " sysctl -w net.ipv4.ip_forward=1",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("--explain output lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "ip link add "+v["BR"]+" type bridge") {
		t.Errorf("--explain shows a command for host without the sandbox:\n%s", r.stderr)
	}
	if strings.Contains(r.stderr, "ip -n "+v["Y"]+" link set lo up") {
		t.Errorf("lo=False still brought lo up:\n%s", r.stderr)
	}
}

// TestRm checks that --rm leaves nothing once the script has ended.
func TestRm(t *testing.T) {
	requireRoot(t)
	before := snapshot(t)
	session := uniq("t")
	n := uniq("rm")
	script := writeLab(t, "rm", lab(`
n = netns("{N}")
a, b = veth("{N}a", "{N}b", ns=n)
b.addr("10.61.0.1/24").up()
p = spawn(n, "sleep 300")
print("PID", p.pid)
`, map[string]string{"N": n}))
	r := mustNsh(t, "run", script, "--sandbox", "--rm", "--session", session)
	if netnsExists(n) {
		t.Errorf("namespace %s left by --rm", n)
	}
	// The process spawned is stopped with its namespace: its own pid, as
	// other tests may run a "sleep 300" of their own.
	if pid := pidFrom(t, r.stdout, "PID"); !waitGone(pid) {
		t.Errorf("process %d spawned by the lab survived --rm", pid)
	}
	assertClean(t, before)
}

// TestFailingScriptRollsBack checks that a script that fails is rolled
// back and exits non-zero, and that --keep keeps what it built.
func TestFailingScriptRollsBack(t *testing.T) {
	requireRoot(t)
	src := `
n = netns("{N}")
bridge("{N}br").up()
p = spawn(n, ["sleep", "300"])
print("PID", p.pid)
fail("stop here")
`
	t.Run("rollback", func(t *testing.T) {
		before := snapshot(t)
		session := uniq("t")
		n := uniq("fb")
		script := writeLab(t, "failing", lab(src, map[string]string{"N": n}))
		r := nsh(t, "run", script, "--sandbox", "--session", session)
		if r.code == 0 {
			t.Fatalf("a failing script exited 0: %s", r)
		}
		if !strings.Contains(r.stderr, "failing.star:6:5: fail: stop here") {
			t.Errorf("no positioned error:\n%s", r.stderr)
		}
		if !waitGone(pidFrom(t, r.stdout, "PID")) {
			t.Errorf("spawned process survived the rollback")
		}
		if netnsExists(n) {
			t.Errorf("namespace %s survived the rollback", n)
		}
		assertClean(t, before)
	})
	t.Run("keep", func(t *testing.T) {
		session := uniq("t")
		downAtEnd(t, session)
		n := uniq("fk")
		script := writeLab(t, "failing", lab(src, map[string]string{"N": n}))
		r := nsh(t, "run", script, "--sandbox", "--keep", "--session", session)
		if r.code == 0 {
			t.Fatalf("a failing script exited 0: %s", r)
		}
		pid := pidFrom(t, r.stdout, "PID")
		if !netnsExists(n) || !procAlive(pid) {
			t.Fatalf("--keep did not keep the lab: %s", r)
		}
		if l := link(t, sandboxOf(t, session), n+"br"); l == nil {
			t.Errorf("--keep did not keep the bridge")
		}
		mustNsh(t, "down", "--session", session)
		if !waitGone(pid) || netnsExists(n) {
			t.Errorf("down after --keep left things behind")
		}
	})
}

// TestSandboxIsolation runs a lab that sets ip_forward, adds routes,
// links and addresses in a sandbox and checks that the machine's own
// links, addresses, routes, ip_forward and iptables are exactly as before.
func TestSandboxIsolation(t *testing.T) {
	requireRoot(t)
	before := machineNet(t)
	session := uniq("t")
	downAtEnd(t, session)
	n := uniq("si")
	script := writeLab(t, "iso", lab(`
ip_forward()
sysctl(host, "net.ipv4.conf.all.forwarding", 1)
br = bridge("{N}br").addr("10.62.0.1/24").up()
n = netns("{N}")
a, b = veth("{N}a", "{N}b", ns=n)
b.master(br).up()
a.addr("10.62.0.2/24").up()
n.route("default", via="10.62.0.1")
route(host, "10.63.0.0/24", via="10.62.0.2")
route(host, "default", via="10.62.0.2", metric=5)
spawn(n, ["sleep", "300"])
if not ping(n, "10.62.0.1").ok:
    fail("no ping across the bridge")
`, map[string]string{"N": n}))
	mustNsh(t, "run", script, "--sandbox", "--session", session)
	if during := machineNet(t); during != before {
		t.Errorf("the machine's network changed while the sandboxed lab was up:\n%s", diffLines(before, during))
	}
	mustNsh(t, "down", "--session", session)
	if after := machineNet(t); after != before {
		t.Errorf("the machine's network changed after down:\n%s", diffLines(before, after))
	}
}

// machineNet describes the machine's own network state: links,
// addresses, routes, ip_forward and iptables rules.
func machineNet(t *testing.T) string {
	t.Helper()
	var b strings.Builder
	for _, args := range [][]string{{"-j", "link"}, {"-j", "addr"}, {"-j", "route", "show", "table", "all"}, {"-j", "-6", "route", "show", "table", "all"}, {"-j", "rule"}} {
		out, err := exec.Command("ip", args...).Output()
		if err != nil {
			t.Fatalf("ip %v: %v", args, err)
		}
		var v any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("ip %v: %v", args, err)
		}
		v = dropVolatile(v)
		js, _ := json.MarshalIndent(v, "", " ")
		fmt.Fprintf(&b, "ip %s:\n%s\n", strings.Join(args, " "), js)
	}
	fwd, _ := os.ReadFile("/proc/sys/net/ipv4/ip_forward")
	fmt.Fprintf(&b, "ip_forward %s", fwd)
	b.WriteString("iptables:\n" + iptablesSave(t, "iptables-save"))
	b.WriteString("ip6tables:\n" + iptablesSave(t, "ip6tables-save"))
	return b.String()
}

// dropVolatile removes fields that change by themselves (address
// lifetimes, statistics).
func dropVolatile(v any) any {
	switch x := v.(type) {
	case map[string]any:
		for k := range x {
			switch k {
			case "valid_life_time", "preferred_life_time", "stats", "stats64", "expires", "used":
				delete(x, k)
			default:
				x[k] = dropVolatile(x[k])
			}
		}
	case []any:
		for i := range x {
			x[i] = dropVolatile(x[i])
		}
	}
	return v
}

func diffLines(a, b string) string {
	al, bl := strings.Split(a, "\n"), strings.Split(b, "\n")
	var out []string
	for _, l := range bl {
		if !slices.Contains(al, l) {
			out = append(out, "+ "+l)
		}
	}
	for _, l := range al {
		if !slices.Contains(bl, l) {
			out = append(out, "- "+l)
		}
	}
	return strings.Join(out, "\n")
}

// TestExecIn checks ip netns exec semantics: /sys shows the namespace's
// links and /etc/netns/NAME/hosts is seen as /etc/hosts.
func TestExecIn(t *testing.T) {
	requireRoot(t)
	session := uniq("t")
	downAtEnd(t, session)
	n := uniq("xn")
	etc := filepath.Join("/etc/netns", n)
	keepEtcNetns(t) // MkdirAll may make /etc/netns itself
	if err := os.MkdirAll(etc, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(etc) })
	if err := os.WriteFile(filepath.Join(etc, "hosts"), []byte("192.0.2.7 "+n+".example\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	script := writeLab(t, "execin", lab(`
n = netns("{N}")
a, b = veth("{N}a", "{N}b", ns=n)
r = exec_in(n, ["ls", "/sys/class/net"], check=True)
print("SYS", " ".join(sorted(r.stdout.split())))
r = n.exec("cat /etc/hosts")
print("HOSTS", r.stdout.strip())
r = exec_in(host, "cat /etc/hosts")
print("HOSTHOSTS", "{N}.example" in r.stdout)
r = exec_in(n, "echo out; echo err >&2; exit 3")
print("RES", r.code, r.ok, r.stdout.strip(), r.stderr.strip())
r = exec_in(n, "cat", input="piped", env={"X": "1"})
print("IN", r.stdout)
r = exec_in(n, "echo $NSH_T", env={"NSH_T": "val"})
print("ENV", r.stdout.strip())
`, map[string]string{"N": n}))
	r := mustNsh(t, "run", script, "--sandbox", "--session", session)
	for _, want := range []string{
		"SYS " + strings.Join(sortedStrings("lo", n+"a"), " "),
		"HOSTS 192.0.2.7 " + n + ".example",
		"HOSTHOSTS False",
		"RES 3 False out err",
		"IN piped",
		"ENV val",
	} {
		if !strings.Contains(r.stdout, want+"\n") {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	// check=True turns a failure into an error that shows the command.
	bad := writeLab(t, "execfail", lab(`
exec_in(netns("{N}x"), "echo oops >&2; exit 4", check=True)
`, map[string]string{"N": n}))
	r = nsh(t, "run", bad, "--sandbox", "--session", uniq("t"))
	if r.code == 0 || !strings.Contains(r.stderr, "execfail.star:2:8: exec_in:") || !strings.Contains(r.stderr, "exited with code 4: oops") {
		t.Errorf("exec_in check=True: %s", r)
	}
	mustNsh(t, "down", "--session", session)
}

func sortedStrings(s ...string) []string { slices.Sort(s); return s }

// TestSpawnAndProbes checks spawn (stopped by undo and by down, from
// other processes), and the native probes ping, connect and serve.
func TestSpawnAndProbes(t *testing.T) {
	requireRoot(t)
	session := uniq("t")
	downAtEnd(t, session)
	v := map[string]string{"A": uniq("pa"), "B": uniq("pb")}
	script := writeLab(t, "probes", lab(`
a = netns("{A}")
b = netns("{B}")
x, y = veth("{A}x", "{B}y", ns=a, peer_ns=b)
x.addr("10.64.0.1/24").up()
y.addr("10.64.0.2/24").up()
p = ping(a, "10.64.0.2", count=2, timeout=3)
print("PING", p.ok, p.sent, p.received, p.rtt_ms > 0)
print("NOPING", ping(a, "10.64.0.9", timeout=0.3).ok)
s = serve(b, "10.64.0.2:7000")
c = connect(a, "10.64.0.2:7000")
print("CONNECT", c.ok, c.reply == c.local, c.local.startswith("10.64.0.1:"))
s2 = serve(b, ":7001", reply="hello")
print("REPLY", connect(a, "10.64.0.2:7001").reply)
print("REFUSED", connect(a, "10.64.0.2:7002").ok)
print("SERVER", s.pid, s.running(), s.ns.name, type(s))
step("late")
q = spawn(a, ["sleep", "300"])
print("LATE", q.pid)
`, v))
	r := mustNsh(t, "run", script, "--sandbox", "--session", session)
	for _, want := range []string{"PING True 2 2 True", "NOPING False", "CONNECT True True True", "REPLY hello", "REFUSED False"} {
		if !strings.Contains(r.stdout, want+"\n") {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	server := pidFrom(t, r.stdout, "SERVER")
	late := pidFrom(t, r.stdout, "LATE")
	if !procAlive(server) || !procAlive(late) {
		t.Fatalf("processes not running after run")
	}
	mustNsh(t, "undo", "--session", session)
	if !waitGone(late) {
		t.Errorf("undo did not stop the process of its step")
	}
	if !procAlive(server) {
		t.Errorf("undo stopped the server of an earlier step")
	}
	mustNsh(t, "down", "--session", session)
	if !waitGone(server) {
		t.Errorf("down did not stop the server")
	}
}

// TestUnshareMount runs nsh in a private mount namespace (as under
// `unshare -m` or `ip netns exec`): the namespaces it creates must be
// visible outside it and outlive it.
func TestUnshareMount(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("unshare"); err != nil {
		t.Skip("needs unshare (util-linux)")
	}
	session := uniq("t")
	downAtEnd(t, session)
	n := uniq("um")
	script := writeLab(t, "unshared", lab(`
n = netns("{N}")
a, b = veth("{N}a", "{N}b", ns=n)
a.addr("10.65.0.1/24").up()
`, map[string]string{"N": n}))
	noteSessions([]string{"--session", session})
	out, err := exec.Command("unshare", "-m", "--propagation", "private", nshBin, "run", script, "--sandbox", "--session", session).CombinedOutput()
	if err != nil {
		t.Fatalf("unshare -m nsh run: %v\n%s", err, out)
	}
	if !netnsExists(n) {
		t.Fatalf("namespace %s made under unshare -m is not visible outside it", n)
	}
	l := link(t, n, n+"a")
	if l == nil {
		t.Fatalf("link %sa missing from %s seen from outside", n, n)
	}
	if got := addrsOf(t, n, l); !slices.Contains(got, "10.65.0.1/24") {
		t.Errorf("addresses %v", got)
	}
	if !netnsExists(sandboxOf(t, session)) {
		t.Errorf("sandbox made under unshare -m is not visible outside it")
	}
	// down, itself in a private mount namespace, removes it for everyone.
	out, err = exec.Command("unshare", "-m", "--propagation", "private", nshBin, "down", "--session", session).CombinedOutput()
	if err != nil {
		t.Fatalf("unshare -m nsh down: %v\n%s", err, out)
	}
	if netnsExists(n) {
		t.Errorf("namespace %s still there after down", n)
	}
}

// TestLock checks that a second nsh on a session in use fails at once and
// names the process that holds it.
func TestLock(t *testing.T) {
	requireRoot(t)
	session := uniq("t")
	downAtEnd(t, session)
	n := uniq("lk")
	first := writeLab(t, "first", lab(`
netns("{N}")
exec_in(host, ["sleep", "4"])
`, map[string]string{"N": n}))
	second := writeLab(t, "second", `netns("never")`)
	cmd, _ := startNsh(t, "run", first, "--sandbox", "--session", session)
	if !waitFor(10*time.Second, func() bool { return netnsExists(n) }) {
		t.Fatalf("first nsh did not get going")
	}
	start := time.Now()
	r := nsh(t, "run", second, "--session", session)
	if r.code == 0 {
		t.Fatalf("second nsh on a busy session succeeded: %s", r)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("second nsh took %v to fail: it should not wait", d)
	}
	if !strings.Contains(r.stderr, fmt.Sprintf("in use by process %d", cmd.Process.Pid)) {
		t.Errorf("error does not name the holder %d: %s", cmd.Process.Pid, r.stderr)
	}
	if strings.Count(strings.TrimSpace(r.stderr), "\n") != 0 {
		t.Errorf("error is not one line: %q", r.stderr)
	}
	for _, args := range [][]string{{"undo", "--session", session}, {"down", "--session", session}} {
		if r := nsh(t, args...); r.code == 0 || !strings.Contains(r.stderr, "in use by process") {
			t.Errorf("nsh %v on a busy session: %s", args, r)
		}
	}
	if err := cmd.Wait(); err != nil {
		t.Fatalf("first nsh: %v", err)
	}
	mustNsh(t, "down", "--session", session)
}

// TestValues checks link and netns values against netlink.
func TestValues(t *testing.T) {
	requireRoot(t)
	session := uniq("t")
	downAtEnd(t, session)
	n := uniq("vn")
	script := writeLab(t, "values", lab(`
n = netns("{N}")
a, b = veth("{N}a", "{N}b", ns=n)
a.set_mtu(1400).set_mac("02:00:00:00:00:aa")
print("A", a.index, a.mac, a.mtu, a.kind, a.ns.name, b.peer == a)
m = b.move(n, name="{N}m")
print("B", m.name, m.ns.name, n.link("{N}m").index)
m.move(host, name="{N}b")
`, map[string]string{"N": n}))
	r := mustNsh(t, "run", script, "--sandbox", "--session", session)
	l := link(t, n, n+"a")
	want := fmt.Sprintf("A %d 02:00:00:00:00:aa 1400 veth %s True", l.Attrs().Index, n)
	if !strings.Contains(r.stdout, want) {
		t.Errorf("output lacks %q:\n%s", want, r.stdout)
	}
	if l.Attrs().MTU != 1400 || l.Attrs().HardwareAddr.String() != "02:00:00:00:00:aa" {
		t.Errorf("kernel has mtu %d mac %s", l.Attrs().MTU, l.Attrs().HardwareAddr)
	}
	sb := sandboxOf(t, session)
	if link(t, sb, n+"b") == nil || link(t, n, n+"m") != nil {
		t.Errorf("moving the peer back to host failed")
	}
	// undo reverts the moves and the settings with the rest.
	mustNsh(t, "undo", "--session", session)
	if netnsExists(n) || link(t, sb, n+"b") != nil {
		t.Errorf("undo left the veth behind")
	}
	mustNsh(t, "down", "--session", session)
}

// execOut runs a command and returns its combined output.
func execOut(name string, args ...string) (string, error) {
	out, err := exec.Command(name, args...).CombinedOutput()
	return string(out), err
}

// nshIn runs nsh with args in directory dir.
func nshIn(t *testing.T, dir string, args ...string) result {
	t.Helper()
	return nshWith(t, runOpts{dir: dir}, args...)
}

// TestSandboxNeverFallsBackToHost checks that --sandbox on a session that
// was made without one is refused, rather than run on the machine's own
// namespace.
func TestSandboxNeverFallsBackToHost(t *testing.T) {
	requireRoot(t)
	session, ns := uniq("t"), uniq("hn")
	downAtEnd(t, session)
	script := writeLab(t, session, fmt.Sprintf("netns(%q)\n", ns))
	mustNsh(t, "run", script, "--session", session)
	r := nsh(t, "run", script, "--session", session, "--sandbox")
	if r.code == 0 || !strings.Contains(r.stderr, "not in a sandbox") {
		t.Fatalf("--sandbox on a host session: %s", r)
	}
	mustNsh(t, "down", "--session", session)
}

// TestUndoLeavesAReplacedLink checks that undo never deletes a link that
// someone else made with the name of one nsh made and that was deleted
// since: nsh removes only what it created.
func TestUndoLeavesAReplacedLink(t *testing.T) {
	requireRoot(t)
	session, br := uniq("t"), uniq("rb")
	downAtEnd(t, session)
	script := writeLab(t, session, fmt.Sprintf("bridge(%q)\n", br))
	mustNsh(t, "run", script, "--session", session, "--sandbox")
	mustNsh(t, "exec", "--session", session, "host", "--", "ip", "link", "del", br)
	mustNsh(t, "exec", "--session", session, "host", "--", "ip", "link", "add", br, "type", "bridge")
	r := mustNsh(t, "undo", "--session", session)
	if !strings.Contains(r.stderr, "not the link nsh created") {
		t.Errorf("undo did not say it left the replaced link: %s", r)
	}
	if out := mustNsh(t, "exec", "--session", session, "host", "--", "ip", "-br", "link", "show", br); !strings.Contains(out.stdout, br) {
		t.Errorf("undo deleted a link nsh did not create: %s", out)
	}
	mustNsh(t, "down", "--session", session)
}

// TestDownLeavesAReplacedNamespace checks the same for namespaces: one
// that someone deleted and made again under the name of one nsh made is
// left alone by down, with a warning, while nsh's others go.
func TestDownLeavesAReplacedNamespace(t *testing.T) {
	requireRoot(t)
	session, a, b := uniq("t"), uniq("ra"), uniq("rb")
	downAtEnd(t, session)
	script := writeLab(t, session, fmt.Sprintf("netns(%q)\nnetns(%q)\n", a, b))
	mustNsh(t, "run", script, "--session", session, "--sandbox")
	for _, args := range [][]string{{"netns", "del", a}, {"netns", "add", a}} {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
	defer exec.Command("ip", "netns", "del", a).Run()
	r := mustNsh(t, "down", "--session", session)
	if !strings.Contains(r.stderr, "not the namespace nsh created") {
		t.Errorf("down did not say it left the replaced namespace: %s", r)
	}
	if _, err := os.Stat("/run/netns/" + a); err != nil {
		t.Errorf("down deleted a namespace nsh did not create: %v", err)
	}
	if _, err := os.Stat("/run/netns/" + b); err == nil {
		t.Errorf("down left nsh's own namespace %s", b)
	}
}
