// NAT, port forwarding and firewall rule tests: every rule kind under
// --sandbox, the tutorials' NAT labs in scripts/, bad input, the
// environment (a missing iptables, the legacy backend, a FORWARD policy of
// DROP), and one test on the machine's own namespace that proves nsh down
// restores iptables-save and the sysctls exactly.
package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/google/nftables"
)

// nshEnv runs the nsh binary with extra environment variables.
func nshEnv(t *testing.T, env []string, args ...string) result {
	t.Helper()
	return nshWith(t, runOpts{env: env}, args...)
}

// sandboxSave returns iptables-save (or another save binary) run in a
// session's host.
func sandboxSave(t *testing.T, session string, save ...string) string {
	t.Helper()
	if len(save) == 0 {
		save = []string{"iptables-save"}
	}
	r := nsh(t, append([]string{"exec", "--session", session, "host", "--"}, save...)...)
	if r.code != 0 {
		t.Fatalf("iptables-save in the sandbox of %s: %s", session, r)
	}
	return r.stdout
}

// machineSave returns the machine's own iptables-save without comments
// and counters, the form in which nsh down must restore it.
func machineSave(t *testing.T) string {
	t.Helper()
	out, err := exec.Command("iptables-save").Output()
	if err != nil {
		t.Fatalf("iptables-save: %v", err)
	}
	return stripSave(string(out))
}

var countersRE = regexp.MustCompile(`\[[0-9]+:[0-9]+\]`)

func stripSave(s string) string {
	var out []string
	for _, l := range strings.Split(s, "\n") {
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		out = append(out, countersRE.ReplaceAllString(l, ""))
	}
	return strings.Join(out, "\n")
}

// ruleLines returns the -A lines of an iptables-save output that carry
// comment.
func ruleLines(save, comment string) []string {
	var out []string
	for _, l := range strings.Split(save, "\n") {
		if strings.HasPrefix(l, "-A ") && strings.Contains(l, `"`+comment+`"`) {
			out = append(out, l)
		}
	}
	return out
}

// assertNoMachineRules fails if the machine's own firewall holds a rule of
// the session.
func assertNoMachineRules(t *testing.T, session string) {
	t.Helper()
	if l := ruleLines(machineSave(t), "nsh:"+session); len(l) > 0 {
		t.Errorf("rules of session %s on the machine: %q", session, l)
	}
}

// TestNATScripts runs the tutorials' NAT labs in scripts/ under --sandbox,
// one after the other (they use the tutorials' fixed names): each one's
// checks must pass, its rules must be in the sandbox and not on the
// machine, and nsh down must leave nothing behind.
func TestNATScripts(t *testing.T) {
	requireRoot(t)
	for _, c := range []struct {
		script string
		rules  int
	}{
		{"seed002-4-internet.star", 1},
		{"seed002-5-dnat.star", 3},
		{"seed001-4-internet.star", 1},
		{"seed003-3-internet.star", 2},
	} {
		t.Run(strings.TrimSuffix(c.script, ".star"), func(t *testing.T) {
			waitNames(t, "earth", "neptune", "internet", "netns1", "netns2", "netns_0", "netns_1", "netnstest", "child")
			session := uniq("nat")
			downAtEnd(t, session)
			r := nsh(t, "run", "--sandbox", "--session", session, filepath.Join(repoRoot, "scripts", c.script))
			if r.code != 0 {
				t.Fatalf("%s: %s", c.script, r)
			}
			if got := ruleLines(sandboxSave(t, session), "nsh:"+session); len(got) != c.rules {
				t.Errorf("%s: %d rules in the sandbox, want %d: %q", c.script, len(got), c.rules, got)
			}
			assertNoMachineRules(t, session)
			mustNsh(t, "down", "--session", session)
			assertNoMachineRules(t, session)
		})
	}
}

// waitNames waits until none of the tutorials' fixed namespace names is
// taken, by another test that runs the same tutorials.
func waitNames(t *testing.T, names ...string) {
	t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		var taken []string
		for _, n := range names {
			if _, err := os.Lstat(filepath.Join("/run/netns", n)); err == nil {
				taken = append(taken, n)
			}
		}
		if len(taken) == 0 {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("namespaces %v are taken: something else runs the tutorials' labs", taken)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// TestMasqueradeRule checks masquerade()'s rule, its value, its --explain
// command, and that undo deletes exactly it (and the table iptables-nft
// made for it).
func TestMasqueradeRule(t *testing.T) {
	requireRoot(t)
	session := uniq("masq")
	downAtEnd(t, session)
	br := uniq("mb")
	p := writeLab(t, "masq", lab(`
bridge("{BR}")
step("rules")
r = masquerade("10.77.0.0/16", not_out = "{BR}")
print(r.table, r.chain, r.ns.name, " ".join(r.args))
o = masquerade("10.78.0.0/16", out = "{BR}")
`, map[string]string{"BR": br}))
	r := mustNsh(t, "run", "--sandbox", "--explain", "--session", session, p)
	comment := "nsh:" + session
	want := "nat POSTROUTING host -s 10.77.0.0/16 ! -o " + br + " -m comment --comment " + comment + " -j MASQUERADE"
	if !strings.Contains(r.stdout, want) {
		t.Errorf("rule value: got %q, want %q", r.stdout, want)
	}
	sb := sandboxIn(t, r.stderr)
	for _, cmd := range []string{
		"+ ip netns exec " + sb + " iptables -t nat -A POSTROUTING -s 10.77.0.0/16 ! -o " + br + " -m comment --comment " + comment + " -j MASQUERADE",
		"+ ip netns exec " + sb + " iptables -t nat -A POSTROUTING -s 10.78.0.0/16 -o " + br + " -m comment --comment " + comment + " -j MASQUERADE",
	} {
		if !strings.Contains(r.stderr, cmd) {
			t.Errorf("--explain lacks %q:\n%s", cmd, r.stderr)
		}
	}
	save := sandboxSave(t, session)
	for _, l := range []string{
		`-A POSTROUTING -s 10.77.0.0/16 ! -o ` + br + ` -m comment --comment "` + comment + `" -j MASQUERADE`,
		`-A POSTROUTING -s 10.78.0.0/16 -o ` + br + ` -m comment --comment "` + comment + `" -j MASQUERADE`,
	} {
		if !strings.Contains(save, l) {
			t.Errorf("iptables-save in the sandbox lacks %q:\n%s", l, save)
		}
	}
	st := mustNsh(t, "status", "--session", session)
	if !regexp.MustCompile(`(?m)^iptables: (nft|legacy) `).MatchString(st.stdout) {
		t.Errorf("status does not name the iptables backend:\n%s", st.stdout)
	}
	mustNsh(t, "undo", "--session", session)
	save = sandboxSave(t, session)
	if l := ruleLines(save, comment); len(l) > 0 {
		t.Errorf("rules left after undo: %q", l)
	}
	if strings.Contains(save, "*nat") && strings.Contains(iptablesVersion(t), "nf_tables") {
		t.Errorf("undo left the nat table that iptables-nft made for the rules:\n%s", save)
	}
	mustNsh(t, "down", "--session", session)
}

func iptablesVersion(t *testing.T) string {
	out, err := exec.Command("iptables", "--version").Output()
	if err != nil {
		t.Skip("iptables is not installed")
	}
	return string(out)
}

// TestDnatRule checks dnat() with and without local, with a destination,
// and for udp, and that the port forward really reaches a server inside a
// namespace from another namespace and from host itself.
func TestDnatRule(t *testing.T) {
	requireRoot(t)
	session := uniq("dnat")
	downAtEnd(t, session)
	v := map[string]string{"SRV": uniq("ds"), "CLI": uniq("dc"), "A": uniq("da"), "B": uniq("db")}
	p := writeLab(t, "dnat", lab(`
srv = netns("{SRV}")
cli = netns("{CLI}")
a, a2 = veth("{A}", "eth0", peer_ns = srv)
b, b2 = veth("{B}", "eth0", peer_ns = cli)
a.addr("10.60.0.1/24").up()
a2.addr("10.60.0.2/24").up()
b.addr("198.51.100.1/24").up()
b2.addr("198.51.100.2/24").up()
srv.route("default", via = "10.60.0.1")
ip_forward(host)
serve(srv, "10.60.0.2:8000", reply = "inside")
rs = dnat(3000, "10.60.0.2:8000")
print(len(rs), [r.chain for r in rs])
print(len(dnat(3001, "10.60.0.2:8000", local = False)))
dnat(3002, "10.60.0.2:8000", dst = "198.51.100.1")
dnat(5353, "10.60.0.2:53", proto = "udp", local = False)
for addr in ["198.51.100.1:3000", "198.51.100.1:3002"]:
    for ns in [cli, host]:
        c = connect(ns, addr, timeout = 3)
        if not c.ok or c.reply != "inside":
            fail("%s -> %s: %s" % (ns.name, addr, c))
c = connect(cli, "198.51.100.1:3001", timeout = 3)
if not c.ok:
    fail("the PREROUTING rule without local does not forward: %s" % c)
if connect(host, "198.51.100.1:3001").ok:
    fail("local=False, but host's own connection was forwarded")
`, v))
	r := mustNsh(t, "run", "--sandbox", "--session", session, p)
	if !strings.Contains(r.stdout, `2 ["PREROUTING", "OUTPUT"]`) || !strings.Contains(r.stdout, "\n1\n") {
		t.Errorf("dnat's rule lists: %s", r.stdout)
	}
	save := sandboxSave(t, session)
	comment := `-m comment --comment "nsh:` + session + `"`
	for _, l := range []string{
		`-A PREROUTING -p tcp -m tcp --dport 3000 ` + comment + ` -j DNAT --to-destination 10.60.0.2:8000`,
		`-A OUTPUT -p tcp -m addrtype --dst-type LOCAL -m tcp --dport 3000 ` + comment + ` -j DNAT --to-destination 10.60.0.2:8000`,
		`-A PREROUTING -d 198.51.100.1/32 -p tcp -m tcp --dport 3002 ` + comment + ` -j DNAT --to-destination 10.60.0.2:8000`,
		`-A OUTPUT -d 198.51.100.1/32 -p tcp -m tcp --dport 3002 ` + comment + ` -j DNAT --to-destination 10.60.0.2:8000`,
		`-A PREROUTING -p udp -m udp --dport 5353 ` + comment + ` -j DNAT --to-destination 10.60.0.2:53`,
	} {
		if !strings.Contains(save, l) {
			t.Errorf("iptables-save in the sandbox lacks %q:\n%s", l, save)
		}
	}
	if n := len(ruleLines(save, "nsh:"+session)); n != 6 {
		t.Errorf("%d rules, want 6:\n%s", n, save)
	}
	assertNoMachineRules(t, session)
	mustNsh(t, "down", "--session", session)
}

// TestIptablesRule checks iptables() in every table, in a namespace,
// inserted and appended, in a chain made with iptables -N, and the
// stdlib's forward_accept and nat_gateway.
func TestIptablesRule(t *testing.T) {
	requireRoot(t)
	session := uniq("ipt")
	downAtEnd(t, session)
	v := map[string]string{"NS": uniq("in")}
	p := writeLab(t, "ipt", lab(`
load("@nsh//firewall.star", "forward_accept", "nat_gateway")
n = netns("{NS}")
exec_in(host, ["iptables", "-N", "LAB"], check = True)
iptables("filter", "INPUT", ["-p", "tcp", "--dport", "22", "-j", "ACCEPT"])
iptables("filter", "LAB", "-s 192.0.2.0/24 -j RETURN")
iptables("mangle", "PREROUTING", ["-i", "lo", "-j", "MARK", "--set-mark", "7"])
iptables("raw", "OUTPUT", ["-p", "udp", "-j", "NOTRACK"], insert = True)
r = iptables("filter", "FORWARD", ["-j", "ACCEPT"], ns = n)
print(r.ns.name)
print(len(forward_accept("br9")))
nat_gateway("10.99.0.0/16", not_out = "br9")
`, v))
	r := mustNsh(t, "run", "--sandbox", "--explain", "--session", session, p)
	comment := `-m comment --comment "nsh:` + session + `"`
	save := sandboxSave(t, session)
	for _, l := range []string{
		`-A INPUT -p tcp -m tcp --dport 22 ` + comment + ` -j ACCEPT`,
		`-A LAB -s 192.0.2.0/24 ` + comment + ` -j RETURN`,
		`-A PREROUTING -i lo ` + comment + ` -j MARK --set-xmark 0x7/0xffffffff`,
		`-A OUTPUT -p udp ` + comment + ` -j NOTRACK`,
		`-A FORWARD -o br9 ` + comment + ` -j ACCEPT`,
		`-A FORWARD -i br9 ` + comment + ` -j ACCEPT`,
		`-A POSTROUTING -s 10.99.0.0/16 ! -o br9 ` + comment + ` -j MASQUERADE`,
	} {
		if !strings.Contains(save, l) {
			t.Errorf("iptables-save in the sandbox lacks %q:\n%s", l, save)
		}
	}
	sb := sandboxIn(t, r.stderr)
	for _, cmd := range []string{
		"+ ip netns exec " + sb + " iptables -I FORWARD 1 -i br9 -m comment --comment nsh:" + session + " -j ACCEPT",
		"+ ip netns exec " + sb + " iptables -t raw -I OUTPUT 1 -p udp -m comment --comment nsh:" + session + " -j NOTRACK",
		"+ ip netns exec " + v["NS"] + " iptables -A FORWARD -m comment --comment nsh:" + session + " -j ACCEPT",
	} {
		if !strings.Contains(r.stderr, cmd) {
			t.Errorf("--explain lacks %q:\n%s", cmd, r.stderr)
		}
	}
	out := nsh(t, "exec", "--session", session, v["NS"], "--", "iptables", "-S", "FORWARD")
	if !strings.Contains(out.stdout, "nsh:"+session) {
		t.Errorf("no rule in namespace %s: %s", v["NS"], out)
	}
	if got := strings.TrimSpace(mustNsh(t, "exec", "--session", session, "host", "--", "cat", "/proc/sys/net/ipv4/ip_forward").stdout); got != "1" {
		t.Errorf("nat_gateway: ip_forward is %s, want 1", got)
	}
	// Undo removes the rules one by one; the chain LAB made by exec_in is
	// not nsh's, and stays until the sandbox goes.
	mustNsh(t, "undo", "--session", session)
	if l := ruleLines(sandboxSave(t, session), "nsh:"+session); len(l) > 0 {
		t.Errorf("rules left after undo: %q", l)
	}
	mustNsh(t, "down", "--session", session)
}

// TestRuleBadInputs checks that bad arguments fail with the script
// position and a sentence naming the problem, and change nothing: with
// --keep, the rule added on the line before is the only one.
func TestRuleBadInputs(t *testing.T) {
	requireRoot(t)
	for _, c := range []struct{ call, want string }{
		{`dnat(70000, "10.0.0.2:80")`, "dnat: bad port 70000: want 1 to 65535"},
		{`dnat(0, "10.0.0.2:80")`, "dnat: bad port 0: want 1 to 65535"},
		{`dnat(80, "10.0.0.2:80", proto = "icmp")`, `dnat: bad protocol "icmp": want tcp or udp`},
		{`dnat(80, "10.0.0.2")`, `dnat: bad to "10.0.0.2": want IP:PORT`},
		{`dnat(80, "10.0.0.2:65536")`, `dnat: bad to "10.0.0.2:65536"`},
		{`dnat(80, "10.0.0.2:80", dst = "10.0.0.300")`, `dnat: bad dst "10.0.0.300"`},
		{`masquerade("10.0.0.0/33")`, `masquerade: bad src "10.0.0.0/33"`},
		{`masquerade("10.0.0.1/16")`, `masquerade: bad src "10.0.0.1/16": host bits are set (did you mean 10.0.0.0/16?)`},
		{`masquerade("10.0.0.0/16", out = "a", not_out = "b")`, "masquerade: out and not_out exclude each other"},
		{`masquerade("10.0.0.0/16", out = "a-very-long-name0")`, "longer than the kernel's limit of 15"},
		{`iptables("nat", "FORWARD", ["-j", "ACCEPT"])`, `iptables: unknown chain "FORWARD" in table nat: want PREROUTING, INPUT, OUTPUT or POSTROUTING`},
		{`iptables("filter", "forward", ["-j", "ACCEPT"])`, `(did you mean "FORWARD"?)`},
		{`iptables("natt", "POSTROUTING", ["-j", "ACCEPT"])`, `iptables: unknown table "natt": want filter, nat, mangle or raw`},
		{`iptables("filter", "FORWARD", ["-A", "FORWARD", "-j", "ACCEPT"])`, `iptables: args must not contain "-A"`},
		{`iptables("filter", "FORWARD", ["-j", "NOSUCHTARGET"])`, "iptables: bad rule -j NOSUCHTARGET"},
		{`iptables("filter", "FORWARD", ["-s", "10.0.0.0/40", "-j", "ACCEPT"])`, "iptables: bad rule -s 10.0.0.0/40"},
	} {
		session := uniq("bad")
		downAtEnd(t, session)
		p := writeLab(t, "bad", "masquerade(\"10.5.0.0/16\")\n"+c.call+"\n")
		r := nsh(t, "run", "--sandbox", "--keep", "--session", session, p)
		if r.code == 0 {
			t.Errorf("%s: succeeded", c.call)
			continue
		}
		if !strings.Contains(r.stderr, "bad.star:2:") || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%s: stderr %q, want the position bad.star:2: and %q", c.call, r.stderr, c.want)
		}
		if n := len(ruleLines(sandboxSave(t, session), "nsh:"+session)); n != 1 {
			t.Errorf("%s: %d rules in the sandbox, want only the one of line 1", c.call, n)
		}
		mustNsh(t, "down", "--session", session)
	}
}

// TestIptablesMissing checks the error when there is no iptables binary.
func TestIptablesMissing(t *testing.T) {
	requireRoot(t)
	session := uniq("noipt")
	downAtEnd(t, session)
	p := writeLab(t, "noipt", "netns(\""+uniq("ni")+"\")\nmasquerade(\"10.5.0.0/16\")\n")
	r := nshEnv(t, []string{"NSH_IPTABLES=/nonexistent/iptables"}, "run", "--sandbox", "--session", session, p)
	if r.code == 0 || !strings.Contains(r.stderr, "noipt.star:2:") || !strings.Contains(r.stderr, "iptables is not installed: apt-get install iptables") {
		t.Errorf("want an error naming the Debian package at noipt.star:2: %s", r)
	}
}

// TestLegacyBackend runs a rule through iptables-legacy (NSH_IPTABLES), in
// the sandbox only, and checks that down deletes it through the same
// backend without being told.
func TestLegacyBackend(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("iptables-legacy"); err != nil {
		t.Skip("iptables-legacy is not installed")
	}
	session := uniq("leg")
	downAtEnd(t, session)
	p := writeLab(t, "leg", "masquerade(\"10.5.0.0/16\")\n")
	env := []string{"NSH_IPTABLES=iptables-legacy"}
	if r := nshEnv(t, env, "run", "--sandbox", "--explain", "--session", session, p); r.code != 0 || !strings.Contains(r.stderr, " iptables-legacy -t nat -A POSTROUTING") {
		t.Fatalf("run with iptables-legacy: %s", r)
	}
	if n := len(ruleLines(sandboxSave(t, session, "iptables-legacy-save"), "nsh:"+session)); n != 1 {
		t.Errorf("%d legacy rules in the sandbox, want 1", n)
	}
	if st := nshEnv(t, env, "status", "--session", session); !strings.Contains(st.stdout, "iptables: legacy (iptables v") {
		t.Errorf("status does not say legacy:\n%s", st.stdout)
	}
	mustNsh(t, "undo", "--session", session)
	if n := len(ruleLines(sandboxSave(t, session, "iptables-legacy-save"), "nsh:"+session)); n != 0 {
		t.Errorf("undo left %d legacy rules", n)
	}
	mustNsh(t, "down", "--session", session)
}

// TestForwardDropWarning makes the sandbox's FORWARD policy DROP, as
// Docker does, and checks that a lab that forwards is warned with the fix,
// that the fix (forward_accept) makes it work, and that a lab that applied
// the fix first is not warned.
func TestForwardDropWarning(t *testing.T) {
	requireRoot(t)
	v := map[string]string{"A": uniq("fa"), "B": uniq("fb"), "BR": uniq("fr"), "VA": uniq("va"), "VB": uniq("vb")}
	build := `
load("@nsh//firewall.star", "forward_accept")
exec_in(host, "iptables -P FORWARD DROP", check = True)
a = netns("{A}")
b = netns("{B}")
br = bridge("{BR}")
br.addr("10.61.0.1/24").up()
x, x2 = veth("{VA}", "eth0", peer_ns = a)
x.master(br).up()
x2.addr("10.61.0.2/24").up()
y, y2 = veth("{VB}", "eth0", peer_ns = b)
y.addr("10.62.0.1/24").up()
y2.addr("10.62.0.2/24").up()
a.route("default", via = "10.61.0.1")
b.route("default", via = "10.62.0.1")
serve(b, "10.62.0.2:80")
`
	t.Run("warned", func(t *testing.T) {
		session := uniq("fwd")
		downAtEnd(t, session)
		p := writeLab(t, "fwd", lab(build+`
ip_forward(host)
if connect(a, "10.62.0.2:80", timeout = 2).ok:
    fail("forwarded through a FORWARD policy of DROP")
forward_accept(br)
c = connect(a, "10.62.0.2:80", timeout = 3)
if not c.ok:
    fail("forward_accept did not let the lab through: %s" % c)
`, v))
		r := mustNsh(t, "run", "--sandbox", "--session", session, p)
		for _, w := range []string{"nsh: warning: the FORWARD chain of host has policy DROP", "forward_accept(\"" + v["BR"] + "\")", "bridge-nf-call-iptables"} {
			if !strings.Contains(r.stderr, w) {
				t.Errorf("warning lacks %q:\n%s", w, r.stderr)
			}
		}
		mustNsh(t, "down", "--session", session)
	})
	t.Run("fixed first", func(t *testing.T) {
		session := uniq("fwd")
		downAtEnd(t, session)
		p := writeLab(t, "fwd", lab(build+`
forward_accept(br)
ip_forward(host)
masquerade("10.61.0.0/24", out = "{VB}")
`, v))
		r := mustNsh(t, "run", "--sandbox", "--session", session, p)
		if strings.Contains(r.stderr, "warning") {
			t.Errorf("warned although the lab accepts its traffic:\n%s", r.stderr)
		}
		mustNsh(t, "down", "--session", session)
	})
}

// TestNATHostRestore runs a NAT lab on the machine's own namespace, without
// --sandbox, and proves that nsh down restores iptables-save (counters
// aside), ip_forward and every sysctl it changed exactly; and that a rule
// someone else added meanwhile survives down, while a sysctl someone else
// changed since is reported and left alone. The lab's "internet" is a
// namespace with documentation addresses: no lab traffic goes to the
// machine's uplink. Whatever happens, the cleanup puts the machine back.
func TestNATHostRestore(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("iptables"); err != nil {
		t.Skip("iptables is not installed")
	}
	const (
		fwd = "/proc/sys/net/ipv4/ip_forward"
		ttl = "/proc/sys/net/ipv4/ip_default_ttl"
	)
	readProc := func(p string) string {
		b, err := os.ReadFile(p)
		if err != nil {
			t.Fatal(err)
		}
		return strings.TrimSpace(string(b))
	}
	v := map[string]string{"LAN": uniq("hl"), "INET": uniq("hi"), "LH": uniq("hv"), "UP": uniq("hu")}
	other := uniq("other")
	otherRule := []string{"-t", "nat", "-A", "POSTROUTING", "-s", "192.0.2.250/32", "-m", "comment", "--comment", other, "-j", "RETURN"}
	beforeSave, beforeFwd, beforeTTL := machineSave(t), readProc(fwd), readProc(ttl)
	beforeRuleset := nftRuleset(t)
	var sessions []string
	t.Cleanup(func() {
		for _, s := range sessions {
			if _, err := os.Stat(filepath.Join("/run/nsh", s)); err == nil {
				nsh(t, "down", "--session", s)
			}
		}
		// Whatever is left of the test's own making, the hard way.
		del := append([]string{}, otherRule...)
		del[2] = "-D"
		exec.Command("iptables", del...).Run()
		save, _ := exec.Command("iptables-save").Output()
		table := ""
		for _, l := range strings.Split(string(save), "\n") {
			if strings.HasPrefix(l, "*") {
				table = l[1:]
			}
			for _, s := range sessions {
				if strings.HasPrefix(l, "-A ") && strings.Contains(l, `"nsh:`+s+`"`) {
					args := strings.Fields(strings.ReplaceAll(l, `"`, ""))
					args[0] = "-D"
					exec.Command("iptables", append([]string{"-t", table}, args...)...).Run()
				}
			}
		}
		os.WriteFile(fwd, []byte(beforeFwd), 0)
		os.WriteFile(ttl, []byte(beforeTTL), 0)
		for _, n := range []string{v["LAN"], v["INET"]} {
			exec.Command("ip", "netns", "delete", n).Run()
		}
		for _, l := range []string{v["LH"], v["UP"]} {
			exec.Command("ip", "link", "delete", l).Run()
		}
		// Tables that iptables-nft made and that are empty again.
		dropNewEmptyTables(t, beforeRuleset)
		if got := machineSave(t); got != beforeSave {
			t.Errorf("the machine's iptables-save after cleanup differs:\n%s", diffText(beforeSave, got))
		}
	})
	hostLab := lab(`
load("@nsh//check.star", "serves")
lan = netns("{LAN}")
inet = netns("{INET}")
a, a2 = veth("{LH}", "eth0", peer_ns = lan)
a.addr("198.51.100.1/24").up()
a2.addr("198.51.100.2/24").up()
lan.route("default", via = "198.51.100.1")
u, u2 = veth("{UP}", "eth0", peer_ns = inet)
u.addr("203.0.113.1/24").up()
u2.addr("203.0.113.254/24").up()
serve(inet, "203.0.113.254:80")
ip_forward(host)
masquerade("198.51.100.0/24", out = "{UP}")
serve(lan, "198.51.100.2:8000", reply = "lan server")
dnat(8080, "198.51.100.2:8000", dst = "203.0.113.1")
c = serves(lan, "203.0.113.254:80", timeout = 3)
if not c.reply.startswith("203.0.113.1:"):
    fail("the internet saw %s, want the host's uplink 203.0.113.1" % c.reply)
serves(inet, "203.0.113.1:8080", want = "lan server", timeout = 3)
serves(host, "203.0.113.1:8080", want = "lan server", timeout = 3)
`, v)

	t.Run("exact restore", func(t *testing.T) {
		session := uniq("host")
		sessions = append(sessions, session)
		p := writeLab(t, "host", hostLab)
		mustNsh(t, "run", "--session", session, p)
		if readProc(fwd) != "1" {
			t.Errorf("ip_forward is %s during the lab, want 1", readProc(fwd))
		}
		if n := len(ruleLines(machineSave(t), "nsh:"+session)); n != 3 {
			t.Errorf("%d rules of the lab on the machine, want 3", n)
		}
		mustNsh(t, "down", "--session", session)
		if got := machineSave(t); got != beforeSave {
			t.Errorf("iptables-save after down differs from before:\n%s", diffText(beforeSave, got))
		}
		// iptables-save hides the empty tables and base chains that
		// iptables-nft leaves; nf_tables itself shows them.
		if got := strings.Join(nftRuleset(t), "\n"); got != strings.Join(beforeRuleset, "\n") {
			t.Errorf("the nf_tables ruleset after down differs from before:\n%s", diffText(strings.Join(beforeRuleset, "\n"), got))
		}
		if got := readProc(fwd); got != beforeFwd {
			t.Errorf("ip_forward after down is %s, was %s", got, beforeFwd)
		}
	})

	t.Run("others' changes survive", func(t *testing.T) {
		session := uniq("host")
		sessions = append(sessions, session)
		p := writeLab(t, "host", hostLab+"sysctl(host, \"net.ipv4.ip_default_ttl\", 65)\n")
		mustNsh(t, "run", "--session", session, p)
		// Someone else adds a rule to the table the lab uses, and changes a
		// sysctl that the lab set.
		if out, err := exec.Command("iptables", otherRule...).CombinedOutput(); err != nil {
			t.Fatalf("iptables %s: %v: %s", strings.Join(otherRule, " "), err, out)
		}
		if err := os.WriteFile(ttl, []byte("77"), 0); err != nil {
			t.Fatal(err)
		}
		r := mustNsh(t, "down", "--session", session)
		if !strings.Contains(r.stderr, "net.ipv4.ip_default_ttl") || !strings.Contains(r.stderr, "someone else changed it") {
			t.Errorf("down did not report the sysctl changed by someone else:\n%s", r.stderr)
		}
		if got := readProc(ttl); got != "77" {
			t.Errorf("ip_default_ttl after down is %s, want the 77 someone else set", got)
		}
		if got := readProc(fwd); got != beforeFwd {
			t.Errorf("ip_forward after down is %s, was %s", got, beforeFwd)
		}
		check := append([]string{}, otherRule...)
		check[2] = "-C"
		if err := exec.Command("iptables", check...).Run(); err != nil {
			t.Errorf("down removed the rule someone else added: %v", err)
		}
		assertNoMachineRules(t, session)
	})
}

// nftRuleset lists the nf_tables ruleset of the test's namespace, as `nft
// list ruleset` would show it, through netlink (nft may not be
// installed): tables, chains with their hooks, types and policies, and
// rules by handle. It is empty where iptables drives the legacy backend.
func nftRuleset(t *testing.T) []string {
	t.Helper()
	c, err := nftables.New()
	if err != nil {
		t.Fatal(err)
	}
	var out []string
	tables, err := c.ListTables()
	if err != nil {
		t.Fatalf("failed to list the nf_tables tables: %v", err)
	}
	for _, tb := range tables {
		out = append(out, fmt.Sprintf("table %d %s", tb.Family, tb.Name))
	}
	chains, err := c.ListChains()
	if err != nil {
		t.Fatalf("failed to list the nf_tables chains: %v", err)
	}
	for _, ch := range chains {
		desc := fmt.Sprintf("chain %d %s %s", ch.Table.Family, ch.Table.Name, ch.Name)
		if ch.Hooknum != nil {
			desc += fmt.Sprintf(" type %s hook %d", ch.Type, *ch.Hooknum)
		}
		if ch.Policy != nil {
			desc += fmt.Sprintf(" policy %d", *ch.Policy)
		}
		out = append(out, desc)
		rules, err := c.GetRules(ch.Table, ch)
		if err != nil {
			t.Fatalf("failed to list the rules of %s %s: %v", ch.Table.Name, ch.Name, err)
		}
		for _, r := range rules {
			out = append(out, fmt.Sprintf("rule %s %s handle %d", ch.Table.Name, ch.Name, r.Handle))
		}
	}
	sort.Strings(out)
	return out
}

// dropNewEmptyTables deletes, in the test's namespace, the nf_tables
// tables that were not in the ruleset before and that hold no rule: what
// iptables-nft made for a test's rules.
func dropNewEmptyTables(t *testing.T, before []string) {
	t.Helper()
	c, err := nftables.New()
	if err != nil {
		t.Error(err)
		return
	}
	tables, err := c.ListTables()
	if err != nil {
		t.Error(err)
		return
	}
	chains, err := c.ListChains()
	if err != nil {
		t.Error(err)
		return
	}
	for _, tb := range tables {
		if slices.Contains(before, fmt.Sprintf("table %d %s", tb.Family, tb.Name)) {
			continue
		}
		empty := true
		for _, ch := range chains {
			if ch.Table.Name == tb.Name && ch.Table.Family == tb.Family {
				if rules, err := c.GetRules(tb, ch); err != nil || len(rules) > 0 {
					empty = false
				}
			}
		}
		if empty {
			c.DelTable(tb)
		}
	}
	if err := c.Flush(); err != nil {
		t.Errorf("failed to delete the empty tables the test made: %v", err)
	}
}

// diffText shows the lines only in a (-) and only in b (+).
func diffText(a, b string) string {
	in := func(s string) map[string]bool {
		m := map[string]bool{}
		for _, l := range strings.Split(s, "\n") {
			m[l] = true
		}
		return m
	}
	ma, mb := in(a), in(b)
	var out []string
	for _, l := range strings.Split(a, "\n") {
		if !mb[l] {
			out = append(out, "- "+l)
		}
	}
	for _, l := range strings.Split(b, "\n") {
		if !ma[l] {
			out = append(out, "+ "+l)
		}
	}
	return strings.Join(out, "\n")
}
