// Deletion as a step (ns.delete(), link.delete()), /etc/netns files
// (netns.etc()) and namespaces given by a process (netns_of()): each one
// journaled, and undone exactly.
package tests

import (
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// deleteLab is a lab whose namespace earth holds one end of a veth whose
// other end is in neptune (the kernel deletes both with earth), with
// addresses and routes on both ends, and a bridge in host with a port, an
// address and a route through it.
const deleteLab = `
earth = netns("{E}")
neptune = netns("{N}")
a, b = veth("{A}", "{B}")
a.move(earth)
b.move(neptune)
a.addr("10.91.0.1/24").up()
b.addr("10.91.0.2/24").up()
earth.route("default", via = "10.91.0.2")
neptune.route("10.92.0.0/16", via = "10.91.0.1", dev = "{B}")
earth.sysctl("net.ipv4.ip_forward", "1")
br = bridge("{BR}")
p, q = veth("{P}", "{Q}", peer_ns = earth)
p.master(br).up()
br.addr("10.93.0.1/24").up()
route(host, "10.94.0.0/16", via = "10.93.0.2")
`

// sessionState is the deep state (see deepState) of a sandboxed session's
// host and of the namespaces in names that exist.
func sessionState(t *testing.T, session string, fresh map[string]string, names ...string) []string {
	t.Helper()
	var sandbox string
	var lab []string
	for n := range netnsNames() {
		if strings.HasPrefix(n, "nsh-sb-"+session+"-") {
			sandbox = n
		}
	}
	for _, n := range names {
		if netnsNames()[n] {
			lab = append(lab, n)
		}
	}
	if sandbox == "" {
		t.Fatalf("no sandbox for session %s", session)
	}
	return takeState(t, sandbox, lab, fresh)
}

// TestDeleteUndoneExactly deletes a namespace (and with it a veth end in
// another namespace, and the routes through it) and a bridge (out of
// which its port falls), and checks that each deletion leaves what ip
// would leave, and that undo gives back exactly the state before it.
func TestDeleteUndoneExactly(t *testing.T) {
	requireRoot(t)
	fresh := freshSysctls(t)
	session := uniq("del")
	downAtEnd(t, session)
	v := map[string]string{"E": uniq("de"), "N": uniq("dn"), "A": uniq("da"), "B": uniq("db"), "BR": uniq("dbr"), "P": uniq("dp"), "Q": uniq("dq")}
	mustNsh(t, "run", "--sandbox", "--session", session, writeLab(t, "build", lab(deleteLab, v)))
	names := []string{v["E"], v["N"]}
	before := sessionState(t, session, fresh, names...)

	r := mustNsh(t, "run", "--sandbox", "--explain", "--session", session, writeLab(t, "del", lab(`
step("delete earth")
lookup("{E}").delete()
`, v)))
	if !strings.Contains(r.stderr, "+ ip netns delete "+v["E"]) {
		t.Errorf("--explain of ns.delete():\n%s", r.stderr)
	}
	after := strings.Join(sessionState(t, session, fresh, names...), "\n")
	for _, left := range []string{"link " + v["B"] + ":", "10.92.0.0/16", v["E"] + ":", "link " + v["P"] + ":"} {
		if strings.Contains(after, left) {
			t.Errorf("deleting %s left %q (the other ends of its veths, the routes through them, and the namespace go with it):\n%s", v["E"], left, after)
		}
	}
	mustNsh(t, "undo", "--session", session)
	if d := diffStates(before, sessionState(t, session, fresh, names...)); d != "" {
		t.Errorf("undo of ns.delete() gave another state (- before the deletion, + after its undo):\n%s", d)
	}

	r = mustNsh(t, "run", "--sandbox", "--explain", "--session", session, writeLab(t, "delbr", lab(`
step("delete the bridge")
host.link("{BR}").delete()
`, v)))
	if !strings.Contains(r.stderr, "+ ip -n "+sandboxOf(t, session)+" link delete "+v["BR"]) {
		t.Errorf("--explain of link.delete():\n%s", r.stderr)
	}
	after = strings.Join(sessionState(t, session, fresh, names...), "\n")
	if strings.Contains(after, "link "+v["BR"]+":") || strings.Contains(after, "10.94.0.0/16") || strings.Contains(after, "master=") {
		t.Errorf("deleting bridge %s left it, its route, or a port in it:\n%s", v["BR"], after)
	}
	mustNsh(t, "undo", "--session", session)
	if d := diffStates(before, sessionState(t, session, fresh, names...)); d != "" {
		t.Errorf("undo of link.delete() gave another state (- before the deletion, + after its undo):\n%s", d)
	}

	// Deleted again, then torn down: nothing is made again to be removed,
	// and nothing is left.
	mustNsh(t, "run", "--sandbox", "--session", session, writeLab(t, "del2", lab(`lookup("{E}").delete()`, v)))
	mustNsh(t, "down", "--session", session)
}

// TestDeleteRefused checks that nsh deletes only what its session made,
// and not a namespace that a process of the session keeps alive.
func TestDeleteRefused(t *testing.T) {
	requireRoot(t)
	session := uniq("dr")
	downAtEnd(t, session)
	other := uniq("dro")
	run(t, "ip", "netns", "add", other)
	defer exec.Command("ip", "netns", "delete", other).Run()
	v := map[string]string{"O": other, "X": uniq("drx")}
	for _, c := range []struct{ src, want string }{
		{`netns("{O}").delete()`, "already exists"},
		{`lookup("{O}").delete()`, "this session did not make it"},
		{`host.delete()`, "nsh deletes only namespaces it made"},
		{`x = netns("{X}")
spawn(x, ["sleep", "60"])
x.delete()`, "runs in it"},
		{`lookup("{O}").link("lo").delete()`, "this session did not make it"},
	} {
		r := nsh(t, "run", "--sandbox", "--session", session, writeLab(t, "refused", lab(c.src, v)))
		if r.code == 0 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%s: want an error with %q, got %s", c.src, c.want, r)
		}
	}
	if !netnsNames()[other] {
		t.Errorf("nsh deleted %s, which it did not make", other)
	}
}

// TestNetnsEtc checks that netns.etc() writes /etc/netns/NS/FILE, that
// processes in NS see it as /etc/FILE, and that undo restores the file
// that was there, or removes the file and the directory it made.
func TestNetnsEtc(t *testing.T) {
	requireRoot(t)
	session := uniq("etc")
	downAtEnd(t, session)
	ns := uniq("etn")
	dir := filepath.Join("/etc/netns", ns)
	defer os.RemoveAll(dir)
	r := mustNsh(t, "run", "--sandbox", "--explain", "--session", session, writeLab(t, "etc", lab(`
n = netns("{N}")
step("hosts")
n.etc("hosts", "192.0.2.7 etc.test\n")
print("IN", n.exec("getent hosts etc.test").stdout.strip())
print("OUT", exec_in(host, "getent hosts etc.test").code)
step("again")
n.etc("hosts", "192.0.2.8 etc.test\n")
`, map[string]string{"N": ns})))
	if !strings.Contains(r.stdout, "IN 192.0.2.7") || strings.Contains(r.stdout, "OUT 0") {
		t.Errorf("exec_in does not see /etc/netns/%s/hosts as /etc/hosts, or host does:\n%s", ns, r)
	}
	if !strings.Contains(r.stderr, "+ printf '192.0.2.7 etc.test\\n' > "+dir+"/hosts") {
		t.Errorf("--explain of netns.etc():\n%s", r.stderr)
	}
	read := func() string { b, _ := os.ReadFile(filepath.Join(dir, "hosts")); return string(b) }
	if got := read(); got != "192.0.2.8 etc.test\n" {
		t.Errorf("hosts: %q", got)
	}
	mustNsh(t, "undo", "--session", session)
	if got := read(); got != "192.0.2.7 etc.test\n" {
		t.Errorf("undo did not restore the file that was there: %q", got)
	}
	mustNsh(t, "undo", "--session", session)
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("undo left %s: %v", dir, err)
	}
	mustNsh(t, "down", "--session", session)
}

// TestNetnsOfPid checks netns_of() and link.move(pid): a process's
// namespace by name, the move named by its pid in --explain, and the
// errors for a process that is gone or in a namespace without a name.
func TestNetnsOfPid(t *testing.T) {
	requireRoot(t)
	session := uniq("pid")
	downAtEnd(t, session)
	v := map[string]string{"N": uniq("pn"), "A": uniq("pa"), "B": uniq("pb")}
	r := mustNsh(t, "run", "--sandbox", "--explain", "--session", session, writeLab(t, "pid", lab(`
n = netns("{N}")
p = spawn(n, ["sleep", "60"])
print("SAME", netns_of(p) == n, netns_of(p.pid) == n)
a, b = veth("{A}", "{B}")
b.move(p)
print("PID", p.pid)
print("MOVED", b.ns.name)
`, v)))
	pid := pidFrom(t, r.stdout, "PID")
	if !strings.Contains(r.stdout, "SAME True True") || !strings.Contains(r.stdout, "MOVED "+v["N"]) {
		t.Errorf("netns_of or the moved link's namespace:\n%s", r)
	}
	if want := "+ ip -n " + sandboxOf(t, session) + " link set " + v["B"] + " netns " + strconv.Itoa(pid); !strings.Contains(r.stderr, want) {
		t.Errorf("--explain lacks %q:\n%s", want, r.stderr)
	}
	for _, c := range []struct{ src, want string }{
		{`netns_of(4000000)`, "no process 4000000"},
		{`netns_of("x")`, "want process or int"},
		{`veth("{A}", "{B}", peer_ns = 4000000)`, "no process 4000000"},
	} {
		r := nsh(t, "run", "--sandbox", "--session", uniq("pidx"), writeLab(t, "bad", lab(c.src, v)))
		if r.code == 0 || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%s: want an error with %q, got %s", c.src, c.want, r)
		}
	}
	mustNsh(t, "down", "--session", session)
}

// TestDeleteMacvlanParent deletes a namespace that holds one end of a veth
// whose other end carries a macvlan, moved on into a third namespace: the
// kernel destroys the macvlan with its parent, so undo must make it again,
// with its name, address and namespace, and leave exactly the state
// before the deletion.
func TestDeleteMacvlanParent(t *testing.T) {
	requireRoot(t)
	fresh := freshSysctls(t)
	session := uniq("dm")
	downAtEnd(t, session)
	v := map[string]string{"E": uniq("dme"), "Z": uniq("dmz"), "A": uniq("dma"), "B": uniq("dmb"), "M": uniq("dmm")}
	mustNsh(t, "run", "--sandbox", "--session", session, writeLab(t, "build", lab(`
earth = netns("{E}")
zone = netns("{Z}")
a, b = veth("{A}", "{B}", peer_ns = earth)
a.up()
m = macvlan("{M}", a).move(zone, name = "eth0")
m.addr("10.95.0.1/24").up()
`, v)))
	names := []string{v["E"], v["Z"]}
	before := sessionState(t, session, fresh, names...)
	if !strings.Contains(strings.Join(before, "\n"), `local="10.95.0.1"`) {
		t.Fatalf("the macvlan's address is not in the state before the deletion:\n%s", strings.Join(before, "\n"))
	}
	mustNsh(t, "run", "--sandbox", "--session", session, writeLab(t, "del", lab(`lookup("{E}").delete()`, v)))
	if after := strings.Join(sessionState(t, session, fresh, names...), "\n"); strings.Contains(after, `local="10.95.0.1"`) {
		t.Errorf("deleting %s left the macvlan on the veth end it destroyed:\n%s", v["E"], after)
	}
	mustNsh(t, "undo", "--session", session)
	if d := diffStates(before, sessionState(t, session, fresh, names...)); d != "" {
		t.Errorf("undo of ns.delete() gave another state (- before the deletion, + after its undo):\n%s", d)
	}
	mustNsh(t, "down", "--session", session)
}
