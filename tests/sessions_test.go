package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// TestSessionsDoNotChangeEachOther checks that a session refuses to change
// what another session made: links in its namespace, its sysctls, routes
// and rules, the links it made in the machine's own namespace, and the
// name of a namespace it holds; and that looking, running programs and
// probing in that namespace still work. Both sessions run on the machine's
// own namespace (no sandbox), as two users' labs on one machine would.
func TestSessionsDoNotChangeEachOther(t *testing.T) {
	requireRoot(t)
	a, b := uniq("sa"), uniq("sb")
	n := uniq("so") // A's namespace, and the prefix of A's links
	m := uniq("sm") // B's own objects
	before := snapshot(t)
	t.Cleanup(func() {
		for _, s := range []string{b, a} {
			if _, err := os.Stat(filepath.Join("/run/nsh", s)); err == nil {
				nsh(t, "down", "--session", s)
			}
		}
		assertClean(t, before)
	})

	labA := writeLab(t, "a", fmt.Sprintf(`
n = netns(%[1]q)
veth(%[1]q + "a", %[1]q + "b", ns = n)[0].up()
bridge(%[1]q + "br").up()
`, n))
	mustNsh(t, "run", labA, "--session", a)

	// Regular expressions for the refusals.
	belongs := func(what string) string {
		return fmt.Sprintf(`%s belongs to session "%s": change it from that session \(nsh repl --session %s\), or tear it down with nsh down --session %s`, what, a, a, a)
	}
	inN := belongs(fmt.Sprintf(`namespace "%s"`, n))
	hostLink := belongs(fmt.Sprintf(`link "%sbr" in host`, n))
	labB := writeLab(t, "b", fmt.Sprintf(`
load("@nsh//assert.star", "assert")
N = %[1]q
M = %[2]q
IN_N = %[3]q
HOST_LINK = %[4]q
n = lookup(N)
a = n.link(N + "a")

# Changes to A's namespace are refused.
assert.fails(lambda: veth(M + "a", M + "b", ns = N), "veth: " + IN_N)
assert.fails(lambda: veth(M + "a", M + "b", peer_ns = n), "veth: " + IN_N)
assert.fails(lambda: bridge(M + "br", ns = n), "bridge: " + IN_N)
assert.fails(lambda: sysctl(n, "net.ipv4.ip_forward", 1), "sysctl: " + IN_N)
assert.fails(lambda: n.sysctl("net.ipv4.ip_forward", 1), "sysctl: " + IN_N)
assert.fails(lambda: ip_forward(n), "ip_forward: " + IN_N)
assert.fails(lambda: route(n, "10.99.0.0/24", dev = "lo"), "route: " + IN_N)
assert.fails(lambda: n.route("10.99.0.0/24", dev = "lo"), "route: " + IN_N)
assert.fails(lambda: iptables("filter", "INPUT", ["-j", "ACCEPT"], ns = n), "iptables: " + IN_N)
assert.fails(lambda: masquerade("10.99.0.0/24", ns = n), "masquerade: " + IN_N)
assert.fails(lambda: dnat(8080, "10.99.0.2:80", ns = n), "dnat: " + IN_N)
assert.fails(lambda: a.up(), "up: " + IN_N)
assert.fails(lambda: a.down(), "down: " + IN_N)
assert.fails(lambda: a.addr("10.99.0.1/24"), "addr: " + IN_N)
assert.fails(lambda: a.set_mtu(1400), "set_mtu: " + IN_N)
assert.fails(lambda: a.set_mac("02:00:00:00:00:09"), "set_mac: " + IN_N)
assert.fails(lambda: a.move(host), "move: " + IN_N)

# So are changes to the links A made in host.
br = lookup(N + "br", ns = host)
assert.fails(lambda: br.down(), "down: " + HOST_LINK)
assert.fails(lambda: br.addr("10.98.0.1/24"), "addr: " + HOST_LINK)
assert.fails(lambda: br.set_mtu(1400), "set_mtu: " + HOST_LINK)
assert.fails(lambda: br.move(N), "move: " + IN_N)

# B's own objects are B's to change, but not to put in A's namespace or
# on A's bridge.
mine = netns(M)
x, y = veth(M + "x", M + "y", ns = mine)
x.up().addr("10.97.0.1/24")
sysctl(mine, "net.ipv4.ip_forward", 1)
assert.fails(lambda: x.move(n), "move: " + IN_N)
p, q = veth(M + "p", M + "q")
assert.fails(lambda: p.master(br), "master: " + HOST_LINK)
p.up()

# The name of A's namespace is A's.
assert.fails(lambda: netns(N), 'netns: namespace "%%s" already exists: session "%%s" made it; .*nsh down --session %%s' %% (N, %[5]q, %[5]q))

# Looking, running programs and probing in A's namespace still work.
assert.eq(n.sysctl("net.ipv4.ip_forward"), "0")
assert.true(len(n.links()) >= 2)
assert.eq(exec_in(n, "echo hi").stdout, "hi\n")
assert.true(ping(n, "127.0.0.1").ok)
print("B DONE")
`, n, m, inN, hostLink, a))
	r := nsh(t, "run", labB, "--session", b)
	if r.code != 0 || !strings.Contains(r.stdout, "B DONE") {
		t.Fatalf("session B: %s", r)
	}

	// A's lab is as A made it: the link is up and in A's namespace.
	out, err := exec.Command("ip", "-n", n, "-o", "link", "show", n+"a").CombinedOutput()
	if err != nil || !strings.Contains(string(out), "UP") {
		t.Errorf("A's link after B ran: %v: %s", err, out)
	}
	mustNsh(t, "down", "--session", b)
	mustNsh(t, "down", "--session", a)
	if netnsExists(n) || netnsExists(m) {
		t.Errorf("a namespace is left after both sessions went down")
	}
}

// TestRunTwice checks that running a lab again while it is up names the
// session that holds its namespace, and the command that tears it down,
// rather than advising to delete the namespace behind the session's back;
// and that the failed second run leaves the first one's lab alone.
func TestRunTwice(t *testing.T) {
	requireRoot(t)
	name := uniq("rt")
	n := uniq("rn")
	downAtEnd(t, name)
	lab := writeLab(t, name, fmt.Sprintf("netns(%q)\n", n))
	mustNsh(t, "run", lab)
	r := nsh(t, "run", lab)
	want := fmt.Sprintf(`%s.star:1:6: netns: namespace %q already exists: this session (%q) made it in step "run %s.star", and it is still up; tear the lab down first with nsh down --session %s`, name, n, name, name, name)
	if r.code == 0 || !strings.Contains(r.stderr, want) {
		t.Errorf("second run: want %q in:\n%s", want, r)
	}
	if strings.Contains(r.stderr, "ip netns delete") {
		t.Errorf("second run advises deleting the session's namespace:\n%s", r)
	}
	if !netnsExists(n) {
		t.Errorf("the failed second run removed the first run's namespace")
	}
	mustNsh(t, "down", "--session", name)
}
