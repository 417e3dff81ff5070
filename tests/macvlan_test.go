// Macvlan tests: macvlan() against the real kernel, under --sandbox, with
// names that cannot collide. A veth pair stands in for a network card
// and its cable.
package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

// macvlanLab makes a card (veth end {T} in namespace {X}, its cable {W}
// in {Y} at 10.91.0.254) and, in step "macvlans", two macvlans {M1} and
// {M2} on it in mode {MODE}: {M1} stays in {X}, {M2} moves to {Z}. Then
// it pings from {X}: {M2} (PEER) and the cable (WIRE).
const macvlanLab = `
x, y, z = netns("{X}"), netns("{Y}"), netns("{Z}")
t, w = veth("{T}", "{W}", ns=x, peer_ns=y)
t.up()
w.addr("10.91.0.254/24").up()
step("macvlans")
m1 = macvlan("{M1}", t, mode="{MODE}").addr("10.91.0.1/24").up()
m2 = macvlan("{M2}", "{T}", ns=x, mode="{MODE}").move(z).addr("10.91.0.2/24").up()
print("KIND", m1.kind, m2.kind, m1.peer)
print("PEER", ping(x, "10.91.0.2", timeout=3).ok)
print("WIRE", ping(x, "10.91.0.254", timeout=3).ok)
`

func macvlanVars(mode string) map[string]string {
	return map[string]string{"X": uniq("mx"), "Y": uniq("my"), "Z": uniq("mz"), "T": uniq("mt"), "W": uniq("mw"),
		"M1": uniq("ma"), "M2": uniq("mb"), "MODE": mode}
}

// macvlanOf returns the macvlan named name in ns, failing the test if it
// is missing or of another kind.
func macvlanOf(t *testing.T, ns, name string) *netlink.Macvlan {
	t.Helper()
	l := link(t, ns, name)
	if l == nil {
		t.Fatalf("no link %s in %s", name, ns)
	}
	m, ok := l.(*netlink.Macvlan)
	if !ok {
		t.Fatalf("%s in %s is a %s, not a macvlan", name, ns, l.Type())
	}
	return m
}

// TestMacvlanBridge makes two macvlans in mode bridge on one veth end in
// a namespace, moves one away, and checks that they reach each other and
// the veth's peer, that --explain shows the ip commands, that undo of
// their step removes both (the one moved away too) and leaves the veth,
// and that down leaves nothing.
func TestMacvlanBridge(t *testing.T) {
	requireRoot(t)
	session := uniq("t")
	downAtEnd(t, session)
	v := macvlanVars("bridge")
	r := mustNsh(t, "run", writeLab(t, "macvlan", lab(macvlanLab, v)), "--sandbox", "--explain", "--session", session)
	for _, want := range []string{"KIND macvlan macvlan None", "PEER True", "WIRE True"} {
		if !strings.Contains(r.stdout, want+"\n") {
			t.Errorf("output lacks %q:\n%s", want, r)
		}
	}
	for _, want := range []string{
		"ip -n " + v["X"] + " link add " + v["M1"] + " link " + v["T"] + " type macvlan mode bridge",
		"ip -n " + v["X"] + " link add " + v["M2"] + " link " + v["T"] + " type macvlan mode bridge",
	} {
		if !strings.Contains(r.stderr, "+ "+want+"\n") {
			t.Errorf("--explain lacks %q:\n%s", want, r.stderr)
		}
	}
	parent := link(t, v["X"], v["T"])
	m1 := macvlanOf(t, v["X"], v["M1"])
	if m1.Mode != netlink.MACVLAN_MODE_BRIDGE || parent == nil || m1.ParentIndex != parent.Attrs().Index {
		t.Errorf("%s: mode %d, parent index %d; want bridge (%d) on %s", v["M1"], m1.Mode, m1.ParentIndex, netlink.MACVLAN_MODE_BRIDGE, v["T"])
	}
	macvlanOf(t, v["Z"], v["M2"])

	mustNsh(t, "undo", "--session", session)
	if link(t, v["X"], v["M1"]) != nil || link(t, v["Z"], v["M2"]) != nil {
		t.Errorf("undo of step macvlans left a macvlan behind")
	}
	if link(t, v["X"], v["T"]) == nil || !netnsExists(v["Z"]) {
		t.Errorf("undo of step macvlans removed what the step before made")
	}
	mustNsh(t, "down", "--session", session)
	for _, ns := range []string{v["X"], v["Y"], v["Z"]} {
		if netnsExists(ns) {
			t.Errorf("down left namespace %s", ns)
		}
	}
}

// TestMacvlanModes makes the lab in mode private, where the two macvlans
// of one parent must not reach each other but still reach the wire, and
// checks that the kernel has the mode asked for: the mode is not ignored.
func TestMacvlanModes(t *testing.T) {
	requireRoot(t)
	session := uniq("t")
	downAtEnd(t, session)
	v := macvlanVars("private")
	r := mustNsh(t, "run", writeLab(t, "private", lab(macvlanLab, v)), "--sandbox", "--session", session)
	for _, want := range []string{"PEER False", "WIRE True"} {
		if !strings.Contains(r.stdout, want+"\n") {
			t.Errorf("output lacks %q:\n%s", want, r)
		}
	}
	if m := macvlanOf(t, v["X"], v["M1"]); m.Mode != netlink.MACVLAN_MODE_PRIVATE {
		t.Errorf("%s has mode %d, want private (%d)", v["M1"], m.Mode, netlink.MACVLAN_MODE_PRIVATE)
	}
	mustNsh(t, "down", "--session", session)

	// Every mode, each on a parent of its own (passthru wants to be its
	// parent's only macvlan), in the sandbox.
	session = uniq("t")
	downAtEnd(t, session)
	modes := map[string]netlink.MacvlanMode{
		"private": netlink.MACVLAN_MODE_PRIVATE, "vepa": netlink.MACVLAN_MODE_VEPA,
		"bridge": netlink.MACVLAN_MODE_BRIDGE, "passthru": netlink.MACVLAN_MODE_PASSTHRU,
		"source": netlink.MACVLAN_MODE_SOURCE,
	}
	names := map[string]string{}
	var src strings.Builder
	for mode := range modes {
		names[mode] = uniq("mm")
		src.WriteString(lab(`p, _ = veth("{N}p", "{N}q")
m = macvlan("{N}", p, mode="{MODE}")
if m.kind != "macvlan" or m.ns != host:
    fail("macvlan {N}: kind %s in %s" % (m.kind, m.ns))
`, map[string]string{"N": names[mode], "MODE": mode}))
	}
	mustNsh(t, "run", writeLab(t, "modes", src.String()), "--sandbox", "--session", session)
	sb := sandboxOf(t, session)
	for mode, want := range modes {
		if m := macvlanOf(t, sb, names[mode]); m.Mode != want {
			t.Errorf("macvlan of mode %s has mode %d, want %d", mode, m.Mode, want)
		}
	}
	mustNsh(t, "down", "--session", session)
}

// TestMacvlanBadInput checks that bad arguments to macvlan() fail with
// the script position and the object, and change nothing.
func TestMacvlanBadInput(t *testing.T) {
	requireRoot(t)
	runBadCases(t, []badCase{
		{"unknown mode", `macvlan("{N}", "{N}prebr", mode="bridged")`, []string{`macvlan:`, `"{N}"`, `unknown mode "bridged"`, "private, vepa, bridge, passthru or source"}},
		{"parent missing", `macvlan("{N}", "{N}p")`, []string{`macvlan:`, `failed to add macvlan "{N}"`, `no parent link "{N}p"`}},
		{"parent missing in namespace", `macvlan("{N}", "{N}prebr", ns=x)`, []string{`macvlan:`, `"{N}"`, `no parent link "{N}prebr" in namespace "{N}pre"`}},
		{"name too long", `macvlan("{N}0123456789", "{N}prebr")`, []string{`macvlan:`, `"{N}0123456789"`, "longer than", "15"}},
		{"parent name too long", `macvlan("{N}", "{N}0123456789")`, []string{`macvlan:`, `"{N}0123456789"`, "longer than"}},
		{"parent loopback", `macvlan("{N}", "lo")`, []string{`macvlan:`, `"{N}"`, `parent "lo" is not an Ethernet link`}},
		{"parent of wrong type", `macvlan("{N}", 7)`, []string{`macvlan:`, "parent", "got int, want link or string"}},
		{"parent in another namespace", `macvlan("{N}", veth("{N}a", "{N}b", ns=x)[0], ns=host)`, []string{`macvlan:`, `"{N}"`, `"{N}a"`, "beside its parent"}},
		{"passthru beside another", "macvlan(\"{N}a\", \"{N}prebr\")\nmacvlan(\"{N}b\", \"{N}prebr\", mode=\"passthru\")", []string{`macvlan:`, `"{N}b"`, "passthru", "only one"}},
		{"parent a bridge port", "a, b = veth(\"{N}a\", \"{N}b\")\na.master(\"{N}prebr\")\nmacvlan(\"{N}m\", a)", []string{`macvlan:`, `"{N}m"`, `parent "{N}a"`, "port of a bridge"}},
		{"name taken", "veth(\"{N}a\", \"{N}b\")\nmacvlan(\"{N}b\", \"{N}prebr\")", []string{`macvlan:`, `a link named "{N}b" already exists`}},
	})
}

// TestMacvlanScript runs scripts/macvlan.star, which fails itself when
// macvlans of one parent do not reach each other in mode bridge or do in
// mode private, then tears it down: nothing may be left.
func TestMacvlanScript(t *testing.T) {
	requireRoot(t)
	dir := filepath.Join(repoRoot, "scripts")
	if _, err := os.Stat(filepath.Join(dir, "macvlan.star")); err != nil {
		t.Fatal(err)
	}
	session := uniq("t")
	downAtEnd(t, session)
	r := nshIn(t, dir, "run", "macvlan.star", "--sandbox", "--session", session)
	if r.code != 0 || !strings.Contains(r.stdout, "mv-c cannot reach 10.88.0.4") {
		t.Fatalf("macvlan.star failed:\n%s", r)
	}
	mustNsh(t, "down", "--session", session)
	if netnsExists("mv-a") || netnsExists("mv-host") {
		t.Errorf("down left the script's namespaces")
	}
}
