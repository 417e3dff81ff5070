// Pingall tests: pingall() against the real kernel, under --sandbox, with
// names that cannot collide.
package tests

import (
	"os"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/nshlab/nsh/builtins"
	"github.com/nshlab/nsh/builtins/session"
	"github.com/nshlab/nsh/builtins/sys/model"
	"github.com/nshlab/nsh/interp"
)

// pingallStar is a star of {N} namespaces {P}1..{P}N on a bridge in the
// sandbox, each with 10.93.0.I/24 and, with {V6} True, 2001:db8:93::I/64
// (no DAD, so usable at once); {DOWN} names a node whose link goes down
// before the check (0: none). It prints the check's fields and matrix.
const pingallStar = `
br = bridge("{P}br").up()
nodes = []
for i in range(1, {N} + 1):
    n = netns("{P}" + str(i))
    a, b = veth("{P}" + str(i) + "a", "{P}" + str(i) + "b", ns=n)
    b.master(br).up()
    a.addr("10.93.0.%d/24" % i).up()
    if {V6}:
        a.addr("2001:db8:93::%x/64" % i, nodad=True)
    if i == {DOWN}:
        a.down()
    nodes.append(n)
r = pingall(nodes)
print("OK", r.ok, r.sent, r.received)
for f in r.failed:
    print("FAILED", f.src.name, f.dst.name, f.addr, f.why)
print(r.matrix)
`

func pingallVars(n, down int, v6 bool) map[string]string {
	six := "False"
	if v6 {
		six = "True"
	}
	return map[string]string{"P": uniq("pa"), "N": strconv.Itoa(n), "DOWN": strconv.Itoa(down), "V6": six}
}

// TestPingallStar checks all pairs of a star on a bridge, IPv4 and IPv6:
// every request is answered, and the matrix has a row of dots per node.
func TestPingallStar(t *testing.T) {
	requireRoot(t)
	session := uniq("t")
	downAtEnd(t, session)
	v := pingallVars(6, 0, true)
	r := mustNsh(t, "run", writeLab(t, "pingall", lab(pingallStar, v)), "--sandbox", "--session", session)
	if !strings.Contains(r.stdout, "OK True 60 60\n") {
		t.Errorf("want 60 of 60 requests answered (6 nodes, 2 addresses each):\n%s", r)
	}
	if strings.Contains(r.stdout, "FAILED") {
		t.Errorf("failures in a healthy star:\n%s", r)
	}
	for i := 1; i <= 6; i++ {
		row := regexp.MustCompile(`(?m)^` + strconv.Itoa(i) + ` ` + v["P"] + strconv.Itoa(i) + ` +([-.]+)$`)
		m := row.FindStringSubmatch(r.stdout)
		if m == nil {
			t.Fatalf("no matrix row for node %d:\n%s", i, r.stdout)
		}
		want := strings.Repeat(".", i-1) + "-" + strings.Repeat(".", 6-i)
		if m[1] != want {
			t.Errorf("row %d = %q, want %q", i, m[1], want)
		}
	}
}

// TestPingallLinkDown takes one node's link down: every pair of that node
// fails, with "no route" from it (its link is down, so it has no route)
// and "no reply" towards it, and .ok is False; the other pairs succeed.
func TestPingallLinkDown(t *testing.T) {
	requireRoot(t)
	session := uniq("t")
	downAtEnd(t, session)
	v := pingallVars(4, 3, false)
	r := mustNsh(t, "run", writeLab(t, "pingall", lab(pingallStar, v)), "--sandbox", "--session", session)
	if !strings.Contains(r.stdout, "OK False 12 6\n") {
		t.Errorf("want 6 of 12 answered with node 3 down:\n%s", r)
	}
	p := v["P"]
	for _, want := range []string{
		"FAILED " + p + "1 " + p + "3 10.93.0.3 no reply",
		"FAILED " + p + "2 " + p + "3 10.93.0.3 no reply",
		"FAILED " + p + "4 " + p + "3 10.93.0.3 no reply",
		"FAILED " + p + "3 " + p + "1 10.93.0.1 no route",
		"FAILED " + p + "3 " + p + "2 10.93.0.2 no route",
		"FAILED " + p + "3 " + p + "4 10.93.0.4 no route",
	} {
		if !strings.Contains(r.stdout, want+"\n") {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	if n := strings.Count(r.stdout, "FAILED"); n != 6 {
		t.Errorf("%d failures, want 6:\n%s", n, r.stdout)
	}
	if !regexp.MustCompile(`(?m)^3 `+p+`3 +RR-R$`).MatchString(r.stdout) ||
		!regexp.MustCompile(`(?m)^1 `+p+`1 +-.X.$`).MatchString(r.stdout) {
		t.Errorf("matrix rows 1 and 3 wrong:\n%s", r.stdout)
	}
}

// TestPingallBadInput checks that wrong arguments fail with the script's
// position and the element at fault, having sent nothing.
func TestPingallBadInput(t *testing.T) {
	requireRoot(t)
	for _, tc := range []struct{ call, want string }{
		{`pingall(n)`, "for parameter nodes: got netns, want a list of netns values or names"},
		{`pingall("x")`, "for parameter nodes: got string, want a list of netns values or names"},
		{`pingall([n])`, "pingall needs at least 2 nodes, got 1"},
		{`pingall([n, 3])`, "nodes[1] is int, want netns or string"},
		{`pingall([n, "{U}nope"])`, `nodes[1]: unknown namespace "{U}nope"`},
		{`pingall([n, m, n])`, `nodes[2] is namespace "{U}n" again (nodes[0])`},
		{`pingall([n, m], timeout=0)`, "for parameter timeout: want a positive number of seconds, got 0"},
		{`pingall([n, m], timeout="1")`, "for parameter timeout: want a positive number of seconds"},
	} {
		u := uniq("pb")
		src := strings.ReplaceAll("n = netns(\"{U}n\")\nm = netns(\"{U}m\")\n"+tc.call+"\n", "{U}", u)
		session := uniq("t")
		downAtEnd(t, session)
		r := nsh(t, "run", writeLab(t, "bad", src), "--sandbox", "--session", session)
		want := strings.ReplaceAll(tc.want, "{U}", u)
		if r.code == 0 || !strings.Contains(r.stderr, "bad.star:3:") || !strings.Contains(r.stderr, want) {
			t.Errorf("%s: want a failure at bad.star:3 saying %q:\n%s", tc.call, want, r)
		}
	}
}

// noIPv6Lab makes a namespace without IPv6 and one with, each with a veth
// to a bridge in the sandbox, up, and prints their IPv6 addresses.
const noIPv6Lab = `
br = bridge("{P}br").up()
for name, six in [("{P}a", False), ("{P}b", True)]:
    n = netns(name, ipv6=six)
    v, p = veth(name + "v", name + "p", ns=n)
    p.master(br).up()
    v.addr("10.94.0.%d/24" % (1 if six else 2)).up()
# The ping settles the links: a link-local address comes with the carrier.
print("PING", ping("{P}a", "10.94.0.1").ok)
for name in ["{P}a", "{P}b"]:
    print("ADDRS", name, [a for a in lookup(name).addrs() if ":" in a])
`

// TestNetnsNoIPv6 checks netns(ipv6=False): the namespace's links have
// no IPv6 address at all (not even lo's ::1), IPv4 works, --explain shows
// the sysctls, and the namespace with IPv6 keeps its link-local address.
func TestNetnsNoIPv6(t *testing.T) {
	requireRoot(t)
	session := uniq("t")
	downAtEnd(t, session)
	p := uniq("ni")
	r := mustNsh(t, "run", writeLab(t, "noipv6", lab(noIPv6Lab, map[string]string{"P": p})), "--sandbox", "--explain", "--session", session)
	if !strings.Contains(r.stdout, "ADDRS "+p+"a []\n") {
		t.Errorf("the namespace without IPv6 has IPv6 addresses:\n%s", r)
	}
	if !regexp.MustCompile(`ADDRS ` + p + `b \["::1/128", "fe80::[0-9a-f:]+/64"\]`).MatchString(r.stdout) {
		t.Errorf("the namespace with IPv6 lacks ::1 or its link-local address:\n%s", r)
	}
	if !strings.Contains(r.stdout, "PING True\n") {
		t.Errorf("IPv4 does not work without IPv6:\n%s", r)
	}
	want := "+ ip netns exec " + p + "a sysctl -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1\n"
	if !strings.Contains(r.stderr, want) || strings.Contains(r.stderr, "ip netns exec "+p+"b sysctl") {
		t.Errorf("--explain lacks %q (for %sa only):\n%s", want, p, r.stderr)
	}
}

// TestPingallOnTheModel runs pingall in a plan's kernel, the model: it
// sends nothing, and says so (.ok is None), where ping would fail.
func TestPingallOnTheModel(t *testing.T) {
	dir := t.TempDir()
	src := `n1, n2 = netns("n1", ipv6=False), netns("n2")
a, b = veth("a", "b", ns=n1, peer_ns=n2)
a.addr("10.96.0.1/24").up()
b.addr("10.96.0.2/24").up()
r = pingall([n1, "n2"])
print("OK", r.ok, r.failed)
print(r.matrix)
`
	if err := os.WriteFile(filepath.Join(dir, "plan.star"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	name := uniq("m")
	s, err := session.Open(session.Options{Name: name, Sandbox: true, Script: "plan.star", Kernel: model.New(model.Options{Drivers: []string{"veth"}})})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Down()
	var out strings.Builder
	env := &builtins.Env{Session: s, Out: &out}
	in := interp.New(env)
	in.Stdout = &out
	if _, err := in.ExecFile(in.Thread("plan"), filepath.Join(dir, "plan.star")); err != nil {
		t.Fatalf("pingall on the model: %s", interp.FormatError(err))
	}
	for _, want := range []string{"OK None []\n", "pingall of 2 nodes: not run (a plan sends no packets)\n"} {
		if !strings.Contains(out.String(), want) {
			t.Errorf("output lacks %q:\n%s", want, out.String())
		}
	}
}
