package tests

import (
	"fmt"
	"os/exec"
	"regexp"
	"slices"
	"strings"
	"testing"

	"github.com/nshlab/nsh/docs"
)

// badCase is a script whose last line is bad input.
type badCase struct {
	name string
	// src is the script; {N} is replaced by a unique name. Its last
	// line is the one that fails.
	src string
	// want are strings the error line must contain (after {N} is
	// replaced): the object it names and what is wrong.
	want []string
}

var badCases = []badCase{
	{"name too long", `veth("{N}0123456789", "{N}p")`, []string{`veth:`, `"{N}0123456789"`, "longer than", "15"}},
	{"peer name too long", `veth("{N}", "{N}0123456789abcdef")`, []string{`veth:`, `"{N}0123456789abcdef"`, "longer than"}},
	{"name with slash", `bridge("{N}/x")`, []string{`bridge:`, `"{N}/x"`, `'/'`}},
	{"name with space", `bridge("{N} x")`, []string{`bridge:`, `"{N} x"`, "white space"}},
	{"netns name with slash", `netns("{N}/x")`, []string{`netns:`, `"{N}/x"`, `'/'`}},
	{"netns name with space", `netns("{N} x")`, []string{`netns:`, `"{N} x"`, "white space"}},
	{"bad CIDR", `bridge("{N}").addr("10.0.0.300/24")`, []string{`addr:`, `"10.0.0.300/24"`, "CIDR"}},
	{"CIDR without prefix", `bridge("{N}").addr("10.0.0.1")`, []string{`addr:`, `"10.0.0.1"`, "prefix length"}},
	{"bad route destination", `route(host, "10.0.0.0/33", dev="lo")`, []string{`route:`, `"10.0.0.0/33"`}},
	{"bad gateway", `route(host, "default", via="10.0.0.256")`, []string{`route:`, `"10.0.0.256"`, "gateway"}},
	{"bad ping address", `ping(host, "10.1.2")`, []string{`ping:`, `"10.1.2"`}},
	{"bad connect address", `connect(host, "10.1.2.3")`, []string{`connect:`, `"10.1.2.3"`}},
	{"unknown namespace", `exec_in("{N}", "true")`, []string{`exec_in:`, `unknown namespace "{N}"`}},
	{"namespace path out of /run/netns", `veth("{N}a", "{N}b", ns="../../proc/self/ns/net")`, []string{`veth:`, `"../../proc/self/ns/net"`, `'/'`}},
	{"unknown namespace for a link", `veth("{N}a", "{N}b", ns="{N}")`, []string{`veth:`, `unknown namespace "{N}"`}},
	{"unknown link", `host.link("{N}")`, []string{`link:`, `unknown link "{N}"`}},
	{"unknown bridge", `veth("{N}a", "{N}b")[0].master("{N}br")`, []string{`master:`, `no bridge "{N}br"`}},
	{"master not a bridge", `veth("{N}a", "{N}b")[0].master("{N}b")`, []string{`master:`, `"{N}b"`, "is not a bridge"}},
	{"route via unknown dev", `route(host, "10.9.0.0/24", dev="{N}")`, []string{`route:`, `unknown link "{N}"`}},
	{"link exists", "bridge(\"{N}\")\nbridge(\"{N}\")", []string{`bridge:`, `"{N}"`, "already exists"}},
	{"veth peer exists", "bridge(\"{N}p\")\nveth(\"{N}a\", \"{N}p\")", []string{`veth:`, `"{N}p"`, "already exists"}},
	{"netns exists", "netns(\"{N}\")\nnetns(\"{N}\")", []string{`netns:`, `"{N}"`, "already exists"}},
	{"wrong argument type", `veth(1, "{N}")`, []string{`veth:`, "name", "got int, want string"}},
	{"missing argument", `veth("{N}")`, []string{`veth:`, "missing argument for peer"}},
	{"too many arguments", `bridge("{N}", host, "x")`, []string{`bridge:`, "got 3 arguments, want at most 2"}},
	{"unknown keyword", `netns("{N}", loopback=False)`, []string{`netns:`, "unexpected keyword argument", "loopback"}},
	{"wrong type for ns", `bridge("{N}", ns=1)`, []string{`bridge:`, "ns", "got int"}},
	{"wrong method argument", `bridge("{N}").set_mtu("big")`, []string{`set_mtu:`, "got string, want int"}},
	{"bad mtu", `bridge("{N}").set_mtu(20)`, []string{`set_mtu:`, `"{N}"`, "MTU 20"}},
	{"bad mac", `bridge("{N}").set_mac("zz")`, []string{`set_mac:`, `"{N}"`, `"zz"`}},
	{"non-net sysctl", `sysctl(host, "kernel.hostname", "x")`, []string{`sysctl:`, `"kernel.hostname"`}},
	{"sysctl value None", `sysctl(host, "net.ipv4.ip_forward", None)`, []string{`sysctl:`, `net.ipv4.ip_forward`, "None"}},
	{"unknown sysctl", `sysctl(host, "net.ipv4.{N}", 1)`, []string{`sysctl:`, `net.ipv4.{N}`}},
	{"exec_in bad command", `exec_in(host, 42)`, []string{`exec_in:`, "cmd", "got int"}},
}

// TestBadInput runs each bad input at the end of a script that has built
// something already, under --sandbox, and checks the one-line error (the
// script position, the builtin and the object), the exit code, and that
// nothing is left.
func TestBadInput(t *testing.T) {
	requireRoot(t)
	runBadCases(t, badCases)
}

// runBadCases runs each case as TestBadInput says. Before the bad line,
// the script has made namespace {N}pre and bridge {N}prebr (up) in the
// sandbox; the bad line may refer to them as x and "{N}prebr".
func runBadCases(t *testing.T, cases []badCase) {
	t.Helper()
	for _, c := range cases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			before := snapshot(t)
			n := uniq("bi")
			src := "x = netns(\"" + n + "pre\")\nbridge(\"" + n + "prebr\").up()\n" + strings.ReplaceAll(c.src, "{N}", n) + "\n"
			line := strings.Count(src, "\n")
			script := writeLab(t, "bad", src)
			r := nsh(t, "run", script, "--sandbox", "--session", uniq("t"))
			if r.code == 0 {
				t.Fatalf("exit 0 for bad input: %s", r)
			}
			pos := regexp.MustCompile(fmt.Sprintf(`(?m)^(?:\S*/)?bad\.star:%d:\d+: .*$`, line))
			errLine := pos.FindString(r.stderr)
			if errLine == "" {
				t.Fatalf("no error line starting with bad.star:%d:COL:\n%s", line, r.stderr)
			}
			if strings.Contains(r.stderr, "Traceback") {
				t.Errorf("error is more than one line:\n%s", r.stderr)
			}
			for _, w := range c.want {
				w = strings.ReplaceAll(w, "{N}", n)
				if !strings.Contains(errLine, w) {
					t.Errorf("error %q lacks %q", errLine, w)
				}
			}
			if netnsExists(n + "pre") {
				t.Errorf("what the script built before the bad line was not rolled back")
			}
			assertClean(t, before)
		})
	}
}

// TestNeverAdopts checks that nsh refuses a namespace it did not create,
// and leaves it alone.
func TestNeverAdopts(t *testing.T) {
	requireRoot(t)
	n := uniq("ad")
	if out, err := exec.Command("ip", "netns", "add", n).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "delete", n).Run() })
	before := snapshot(t)
	script := writeLab(t, "adopt", fmt.Sprintf("netns(%q)\n", n))
	r := nsh(t, "run", script, "--sandbox", "--session", uniq("t"))
	if r.code == 0 || !strings.Contains(r.stderr, fmt.Sprintf(`adopt.star:1:6: netns: namespace %q already exists`, n)) {
		t.Errorf("netns over an existing one: %s", r)
	}
	if !netnsExists(n) {
		t.Fatalf("nsh removed a namespace it did not create")
	}
	assertClean(t, before)
}

// driverKinds are the link kinds the kernel may lack that a builtin of
// nsh creates, each with a call that creates one named {N} (after a
// bridge {N}p, a parent for kinds that need one). A kind counts when nsh
// has that builtin (its docs entry exists).
var driverKinds = []struct{ kind, builtin, call string }{
	{"dummy", "dummy", `dummy("{N}")`},
	{"vxlan", "vxlan", `vxlan("{N}", 42)`},
	{"macvlan", "macvlan", `macvlan("{N}", "{N}p")`},
	{"ipvlan", "ipvlan", `ipvlan("{N}", "{N}p")`},
	{"vlan", "vlan", `vlan("{N}", "{N}p", 42)`},
	{"bond", "bond", `bond("{N}")`},
	{"vrf", "vrf", `vrf("{N}", 42)`},
	{"wireguard", "wireguard", `wireguard("{N}")`},
}

// TestMissingDriver checks that a link kind the kernel lacks gets a
// one-line error at the call's position that names the kind's driver, and
// changes nothing; and that has_driver() tells which kinds are there. It
// asks has_driver which kinds nsh can create are missing here, and makes
// one of each. On a kernel that has them all, the error path cannot be
// reached from a script; the test then checks the other side of the
// probe: each kind has_driver reports is created (and rolled back).
func TestMissingDriver(t *testing.T) {
	requireRoot(t)
	var kinds []string
	for _, k := range driverKinds {
		if _, ok := docs.Entry(k.builtin); ok {
			kinds = append(kinds, k.kind)
		}
	}
	if len(kinds) == 0 {
		t.Fatal("nsh has none of the link builtins this test knows")
	}
	probe := "print(\"HAS\", has_driver(\"veth\"), has_driver(\"bridge\"), has_driver(\"nosuchkind\"))\n"
	for _, k := range kinds {
		probe += fmt.Sprintf("print(%q, has_driver(%q))\n", k, k)
	}
	r := nsh(t, "run", writeLab(t, "probe", probe), "--sandbox", "--rm", "--session", uniq("t"))
	if r.code != 0 || !strings.Contains(r.stdout, "HAS True True False\n") {
		t.Fatalf("has_driver: %s", r)
	}
	missing := map[string]bool{}
	for _, k := range kinds {
		switch {
		case strings.Contains(r.stdout, k+" False\n"):
			missing[k] = true
		case !strings.Contains(r.stdout, k+" True\n"):
			t.Fatalf("no answer of has_driver(%q): %s", k, r)
		}
	}
	t.Logf("link kinds this kernel lacks, of those nsh creates: %v", missing)
	for _, k := range driverKinds {
		if !slices.Contains(kinds, k.kind) {
			continue
		}
		t.Run(k.kind, func(t *testing.T) {
			before := snapshot(t)
			n := uniq("dd")
			src := lab("bridge(\"{N}p\")\nnetns(\"{N}n\")\n"+k.call+"\n", map[string]string{"N": n})
			r := nsh(t, "run", writeLab(t, "driver", src), "--sandbox", "--rm", "--session", uniq("t"))
			if !missing[k.kind] {
				// has_driver said it is there: then it can be made.
				if r.code != 0 {
					t.Errorf("%s failed though has_driver(%q) is True: %s", k.call, k.kind, r)
				}
				assertClean(t, before)
				return
			}
			if r.code == 0 {
				t.Fatalf("%s succeeded though has_driver(%q) is False: %s", k.call, k.kind, r)
			}
			pos := regexp.MustCompile(`(?m)^(?:\S*/)?driver\.star:3:\d+: .*$`)
			msg := pos.FindString(r.stderr)
			if msg == "" {
				t.Fatalf("no error at driver.star:3: %s", r)
			}
			for _, w := range []string{k.builtin + ":", fmt.Sprintf("%q", n), k.kind + " driver"} {
				if !strings.Contains(msg, w) {
					t.Errorf("error %q lacks %q", msg, w)
				}
			}
			if strings.Contains(r.stderr, "Traceback") || strings.Contains(r.stderr, "goroutine ") || strings.Contains(r.stderr, "panic:") {
				t.Errorf("the error is more than one line: %s", r.stderr)
			}
			if netnsExists(n + "n") {
				t.Errorf("namespace %sn, made before the failing line, survived", n)
			}
			assertClean(t, before)
		})
	}
}
