package tests

import (
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"sort"
	"strings"
	"testing"

	"github.com/nshlab/nsh/builtins"
	"go.starlark.net/starlark"
)

// badInput is a bad call: src's last line is the one that fails, after
// the valid operations of badPrefix. In src, {U} is a name prefix of the
// case's own, {B} the prefix of the lab the cases run against (see
// badBase).
type badInput struct {
	name, src string
}

// badBase is the lab every case runs against, built once: in the
// sandbox, with IPv6 off so that no link-local address comes and goes by
// itself, a namespace {B}e, a bridge, a veth pair between them, rules in
// the filter and nat tables (so that the cases' rules find their tables:
// without the nft binary, nsh cannot remove a table iptables-nft made).
// The bridge has been up once, as the cases bring it up: a link's first
// "up" gives it a qdisc for good.
const badBase = `sysctl(host, "net.ipv6.conf.all.disable_ipv6", 1)
sysctl(host, "net.ipv6.conf.default.disable_ipv6", 1)
e = netns("{B}e")
e.sysctl("net.ipv6.conf.all.disable_ipv6", 1)
e.sysctl("net.ipv6.conf.default.disable_ipv6", 1)
bridge("{B}br").up().down()
veth("{B}v1", "{B}v2", peer_ns=e)
iptables("filter", "FORWARD", ["-i", "{B}br", "-j", "ACCEPT"])
masquerade("10.79.0.0/24")
masquerade("10.79.0.0/24", ns=e)
`

// badPrefix is what each case does before its bad line: it makes a
// namespace and a veth pair with addresses, up, and changes things that
// were there before the run (sysctls and iptables of the sandbox and of
// {B}e, an address on {B}br), so that the rollback has each kind of
// change to take back. It binds n, a (in n), b (in the sandbox), e.
const badPrefix = `n = netns("{U}n")
a, b = veth("{U}a", "{U}b", ns=n)
a.addr("10.77.0.1/24").up()
b.addr("10.77.0.2/24").up()
sysctl(host, "net.ipv4.ip_forward", 1)
masquerade("10.77.0.0/24")
e = lookup("{B}e")
e.sysctl("net.ipv4.ip_forward", 1)
masquerade("10.77.0.0/24", ns=e)
lookup("{B}br").addr("10.78.0.1/24").up()
`

// badInputs are the hand-written cases; unknownKeywordCases adds one for
// every builtin and method.
var badInputs = []badInput{
	// Names.
	{"veth name too long", `veth("{U}0123456789abcdef", "{U}p")`},
	{"veth peer name too long", `veth("{U}x", "{U}0123456789abcdef")`},
	{"bridge name too long", `bridge("{U}0123456789abcdef")`},
	{"empty link name", `bridge("")`},
	{"link name with slash", `bridge("{U}/x")`},
	{"link name with space", `bridge("{U} x")`},
	{"link name with colon", `bridge("{U}:x")`},
	{"netns name with slash", `netns("{U}/x")`},
	{"netns name dot dot", `netns("..")`},
	{"empty netns name", `netns("")`},
	{"duplicate netns", `netns("{U}n")`},
	{"duplicate link", "bridge(\"{U}d\")\nbridge(\"{U}d\")"},
	{"duplicate of a link made before the run", `bridge("{B}br")`},
	{"veth peer named as itself", `veth("{U}x", "{U}x")`},
	{"move onto a taken name", `b.move(n, name="{U}a")`},
	{"move name too long", `b.move(n, name="{U}0123456789abcdef")`},
	// Addresses and CIDRs.
	{"CIDR octet out of range", `a.addr("10.0.0.300/24")`},
	{"CIDR without prefix", `a.addr("10.0.0.1")`},
	{"IPv4 prefix too long", `a.addr("10.0.0.1/33")`},
	{"IPv6 prefix too long", `a.addr("2001:db8::1/129")`},
	{"CIDR not an address", `a.addr("earth/24")`},
	{"CIDR negative prefix", `a.addr("10.0.0.1/-1")`},
	{"address of a wrong type", `a.addr(24)`},
	{"route destination prefix too long", `route(n, "10.9.0.0/33", dev="{U}a")`},
	{"route destination not a CIDR", `route(n, "10.9.0.0", dev="{U}a")`},
	{"route gateway not an address", `route(n, "default", via="10.77.0.256")`},
	{"route via off-subnet gateway", `n.route("10.9.0.0/24", via="192.0.2.1")`},
	{"route via unknown link", `route(n, "10.9.0.0/24", dev="{U}nosuch")`},
	{"route with neither via nor dev", `route(n, "10.9.0.0/24")`},
	{"route metric of a wrong type", `route(n, "10.9.0.0/24", dev="{U}a", metric="low")`},
	{"masquerade source not a CIDR", `masquerade("10.0.0.0/40")`},
	// MACs and MTUs.
	{"MAC not hex", `a.set_mac("zz:zz:zz:zz:zz:zz")`},
	{"MAC too short", `a.set_mac("02:00:00")`},
	{"multicast MAC", `a.set_mac("01:00:5e:00:00:01")`},
	{"MAC of a wrong type", `a.set_mac(12)`},
	{"MTU zero", `a.set_mtu(0)`},
	{"MTU too large", `a.set_mtu(70000)`},
	{"MTU negative", `a.set_mtu(-1)`},
	{"MTU of a wrong type", `a.set_mtu("big")`},
	// Ports and addresses of probes and rules.
	{"dnat port too large", `dnat(70000, "10.77.0.1:80")`},
	{"dnat port zero", `dnat(0, "10.77.0.1:80")`},
	{"dnat target port too large", `dnat(80, "10.77.0.1:99999")`},
	{"dnat target not an address", `dnat(80, "earth:80")`},
	{"dnat port of a wrong type", `dnat("http", "10.77.0.1:80")`},
	{"dnat unknown protocol", `dnat(80, "10.77.0.1:80", proto="icmp")`},
	{"connect port too large", `connect(n, "10.77.0.1:65536")`},
	{"connect without port", `connect(n, "10.77.0.1")`},
	{"connect to a name", `connect(n, "earth:80")`},
	{"serve port negative", `serve(n, "10.77.0.1:-1")`},
	{"ping of a non-IP", `ping(n, "earth")`},
	{"ping count zero", `ping(n, "10.77.0.2", count=0)`},
	{"ping count of a wrong type", `ping(n, "10.77.0.2", count="3")`},
	{"ping negative timeout", `ping(n, "10.77.0.2", timeout=-1)`},
	// Namespaces and links that do not exist, or are not what is asked.
	{"unknown namespace", `exec_in("{U}nosuch", "true")`},
	{"unknown peer namespace", `veth("{U}x", "{U}y", peer_ns="{U}nosuch")`},
	{"unknown link in a namespace", `n.link("{U}nosuch")`},
	{"lookup of nothing", `lookup("{U}nosuch")`},
	{"lookup in an unknown namespace", `lookup("lo", ns="{U}nosuch")`},
	{"master to a missing bridge", `b.master("{U}nosuch")`},
	{"master to a non-bridge", `b.master(lookup("{B}v1"))`},
	{"master of a wrong type", `b.master(5)`},
	{"move to an unknown namespace", `b.move("{U}nosuch")`},
	// iptables.
	{"iptables unknown table", `iptables("nosuch", "INPUT", ["-j", "ACCEPT"])`},
	{"iptables unknown chain", `iptables("filter", "NOSUCH", ["-j", "ACCEPT"])`},
	{"iptables unknown target", `iptables("filter", "INPUT", ["-j", "NOSUCHTARGET"])`},
	{"iptables unknown option", `iptables("filter", "INPUT", ["--nosuch-option"])`},
	{"iptables args of a wrong type", `iptables("filter", "INPUT", 5)`},
	{"iptables no args", `iptables("filter", "INPUT", [])`},
	{"iptables args not strings", `iptables("filter", "INPUT", ["-j", 1])`},
	{"masquerade out and not_out", `masquerade("10.77.0.0/24", out="{U}b", not_out="{U}b")`},
	{"masquerade bad interface", `masquerade("10.77.0.0/24", out="{U} b")`},
	// sysctls.
	{"unknown sysctl", `sysctl(n, "net.ipv4.{U}", 1)`},
	{"non-net sysctl", `sysctl(n, "kernel.hostname", "x")`},
	{"sysctl key escaping /proc/sys/net", `sysctl(n, "net/../kernel/hostname", "x")`},
	{"sysctl value the kernel refuses", `sysctl(n, "net.ipv4.ip_forward", "maybe")`},
	{"sysctl key of a wrong type", `sysctl(n, 5, 1)`},
	{"sysctl without value", `sysctl(n, "net.ipv4.ip_forward")`},
	{"ip_forward of a wrong type", `ip_forward(n, on="yes")`},
	// Commands and processes.
	{"exec_in cmd of a wrong type", `exec_in(n, 42)`},
	{"exec_in cmd list with an int", `exec_in(n, ["echo", 1])`},
	{"exec_in empty cmd", `exec_in(n, [])`},
	{"exec_in cmd None", `exec_in(n, None)`},
	{"exec_in timeout of a wrong type", `exec_in(n, "true", timeout="x")`},
	{"exec_in env not a dict", `exec_in(n, "true", env=["A=1"])`},
	{"exec_in check of a failing command", `exec_in(n, "exit 3", check=True)`},
	{"exec_in of a missing binary", `exec_in(n, ["/nonexistent/nsh-no-such-binary"], check=True)`},
	{"spawn of a missing binary", `spawn(n, ["/nonexistent/nsh-no-such-binary"])`},
	{"spawn cmd of a wrong type", `spawn(n, 42)`},
	{"wait timeout of a wrong type", `spawn(n, ["sleep", "30"]).wait(timeout="x")`},
	{"stop with an unknown signal", `spawn(n, ["sleep", "30"]).stop(signal="NOSUCH")`},
	// Session control.
	{"undo negative steps", `undo(-1)`},
	{"undo steps of a wrong type", `undo("all")`},
	{"step name of a wrong type", `step(5)`},
	{"has_driver of a bad kind", `has_driver("a b")`},
	// load, fail and Starlark itself.
	{"load of a missing file", `load("nosuch.star", "x")`},
	{"load of a missing stdlib file", `load("@nsh//nosuch.star", "x")`},
	{"fail", `fail("stop here")`},
	{"division by zero", `x = 1 // 0`},
	{"unknown attribute", `a.nosuch`},
	{"call of a non-callable", `a.name()`},
	{"index out of range", `n.links()[100]`},
	{"undefined name", `nosuchbuiltin("{U}")`},
	{"syntax error", `veth("{U}x",, "{U}y")`},
}

// unknownKeywordCases returns one case for each builtin and method, with
// an unknown keyword argument (and otherwise nothing, or what it needs).
func unknownKeywordCases() []badInput {
	var out []badInput
	var names []string
	for name, v := range builtins.Predeclared(&builtins.Env{}) {
		if _, ok := v.(starlark.Callable); ok {
			names = append(names, name)
		}
	}
	sort.Strings(names)
	for _, name := range names {
		out = append(out, badInput{name + " unknown keyword", name + "(nsh_bogus=1)"})
	}
	receivers := map[string]string{"link": "a", "netns": "n", "process": `spawn(n, ["sleep", "30"])`, "container": `container("{U}c")`}
	var types []string
	for typ := range builtins.ValueMethods {
		types = append(types, typ)
	}
	sort.Strings(types)
	for _, typ := range types {
		recv, ok := receivers[typ]
		if !ok {
			panic("no receiver for methods of " + typ)
		}
		for _, m := range builtins.ValueMethods[typ] {
			out = append(out, badInput{typ + "." + m + " unknown keyword", recv + "." + m + "(nsh_bogus=1)"})
		}
	}
	return out
}

// TestBadInputCorpus runs each bad input as its own nsh run against one
// sandboxed lab, after valid operations that change the lab, and checks
// that nsh exits non-zero, names the bad line (FILE.star:LINE), shows no
// Go trace, and that the lab and the session are exactly as before the
// run. It does not check the wording of the messages.
func TestBadInputCorpus(t *testing.T) {
	requireRoot(t)
	cases := append(slices.Clone(badInputs), unknownKeywordCases()...)
	if len(cases) < 60 {
		t.Fatalf("%d cases, want at least 60", len(cases))
	}
	session := uniq("t")
	downAtEnd(t, session)
	base := uniq("bx")
	dir := t.TempDir()
	write := func(name, src string) {
		t.Helper()
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	write("base.star", lab(badBase, map[string]string{"B": base}))
	if r := nshIn(t, dir, "run", "base.star", "--sandbox", "--session", session); r.code != 0 {
		t.Fatalf("the base lab failed: %s", r)
	}
	sb := sandboxOf(t, session)
	nss := []string{sb, base + "e"}
	trace := regexp.MustCompile(`goroutine |panic:|\.go:\d+`)
	// Each case starts where the last one ended, which it must have left
	// as it found it.
	state := labState(t, session, base, nss)
	for i, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			vars := map[string]string{"B": base, "U": fmt.Sprintf("%s%03d", base, i)}
			src := lab(badPrefix+c.src+"\n", vars)
			line := strings.Count(src, "\n")
			write("bad.star", src)
			before := state
			r := nshIn(t, dir, "run", "bad.star", "--sandbox", "--session", session)
			if r.code == 0 {
				t.Errorf("exit 0 for bad line %d %q:\n%s", line, lab(c.src, vars), r)
				// Take the run back, so that the next cases start from
				// the base lab.
				mustNsh(t, "undo", "--session", session)
			}
			at := regexp.MustCompile(fmt.Sprintf(`(^|[\s/])bad\.star:%d([^0-9]|$)`, line))
			if !at.MatchString(r.stderr) {
				t.Errorf("the error does not name bad.star:%d (%q):\n%s", line, lab(c.src, vars), r.stderr)
			}
			if trace.MatchString(r.stderr) || trace.MatchString(r.stdout) {
				t.Errorf("a Go trace or a Go source position for %q:\n%s", lab(c.src, vars), r)
			}
			state = labState(t, session, base, nss)
			if state != before {
				t.Errorf("the run of %q changed the lab:\n%s", lab(c.src, vars), diffLines(before, state))
			}
		})
	}
	mustNsh(t, "down", "--session", session)
}

// labState describes what a run could change: the session as status
// shows it, the pid files of its processes, the namespaces of the test in
// /run/netns, and in each namespace of nss its links, addresses, routes,
// iptables and ip6tables rules and forwarding sysctls.
func labState(t *testing.T, session, prefix string, nss []string) string {
	t.Helper()
	var b strings.Builder
	r := nsh(t, "status", "--session", session, "--json")
	if r.code != 0 {
		t.Fatalf("status: %s", r)
	}
	b.WriteString("status:\n" + r.stdout + "\n")
	// The pid files of the processes the session runs (their logs and
	// exit statuses may stay after they are stopped).
	pids, _ := filepath.Glob(filepath.Join("/run/nsh", session, "proc", "*.pid"))
	fmt.Fprintf(&b, "processes %v\n", pids)
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		if strings.HasPrefix(e.Name(), prefix) || slices.Contains(nss, e.Name()) {
			fmt.Fprintf(&b, "netns %s\n", e.Name())
		}
	}
	for _, ns := range nss {
		for _, args := range [][]string{{"link", "show"}, {"addr", "show"}, {"route", "show", "table", "all"}, {"-6", "route", "show", "table", "all"}} {
			out, err := exec.Command("ip", append([]string{"-n", ns, "-j"}, args...)...).Output()
			if err != nil {
				t.Fatalf("ip -n %s %v: %v", ns, args, err)
			}
			var v any
			if err := json.Unmarshal(out, &v); err != nil {
				t.Fatalf("ip -n %s %v: %v", ns, args, err)
			}
			js, _ := json.MarshalIndent(dropVolatile(v), "", " ")
			fmt.Fprintf(&b, "%s: ip %s:\n%s\n", ns, strings.Join(args, " "), js)
		}
		out, err := exec.Command("ip", "netns", "exec", ns, "sh", "-c", `iptables-save; echo ip6tables:; ip6tables-save; echo sysctls:
cd /proc/sys/net && grep -H . ipv4/ip_forward ipv4/conf/all/forwarding ipv6/conf/all/forwarding ipv4/conf/all/rp_filter ipv6/conf/all/disable_ipv6`).CombinedOutput()
		if err != nil {
			t.Fatalf("rules and sysctls of %s: %v: %s", ns, err, out)
		}
		fmt.Fprintf(&b, "%s: iptables:\n", ns)
		for _, line := range strings.Split(string(out), "\n") {
			if strings.HasPrefix(line, "#") {
				continue
			}
			if i := strings.Index(line, " ["); i > 0 && strings.HasPrefix(line, ":") {
				line = line[:i]
			}
			b.WriteString(line + "\n")
		}
	}
	return b.String()
}
