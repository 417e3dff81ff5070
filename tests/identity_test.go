// Link identity tests: a link nsh made keeps being nsh's when the kernel
// gives it another index, as it does when the link moves into a namespace
// that uses its index already; and a link someone else made under the same
// name is still left alone.
package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

// forwardLab makes a veth in host, fills a namespace with bridges until
// the veth's index is taken there, and moves the veth into it: the kernel
// must give it another index.
const forwardLab = `
a, b = veth("{A}", "{B}")
print("INDEX", a.index)
step("fill")
x = netns("{X}")
for n in range(a.index + 1):
    if bridge("{F}%d" % n, ns=x).index >= a.index:
        break
step("move")
a.move(x)
print("MOVED", a.index)
`

// reverseLab makes a veth whose end A is in a namespace and whose end B is
// in host, fills host until A's index is taken there, and moves A to host.
const reverseLab = `
x = netns("{X}")
step("veth")
a, b = veth("{A}", "{B}", ns=x)
print("INDEX", a.index)
for n in range(a.index + 1):
    if bridge("{F}%d" % n).index >= a.index:
        break
step("move")
a.move(host, name="{M}")
print("MOVED", a.index)
`

// identityVars returns fresh names for the labs above.
func identityVars() map[string]string {
	return map[string]string{"A": uniq("ia"), "B": uniq("ib"), "X": uniq("ix"), "F": uniq("if"), "M": uniq("im")}
}

// runRenumbered runs a lab that prints INDEX and MOVED and checks that the
// kernel did renumber the moved link. It returns both indexes.
func runRenumbered(t *testing.T, script string, args ...string) (int, int) {
	t.Helper()
	r := mustNsh(t, append([]string{"run", script}, args...)...)
	i, moved := pidFrom(t, r.stdout, "INDEX"), pidFrom(t, r.stdout, "MOVED")
	if i == moved {
		t.Fatalf("the kernel kept index %d in the move: the lab did not force a renumbering\n%s", i, r)
	}
	return i, moved
}

// noForeignWarning fails if nsh called one of its own links foreign.
func noForeignWarning(t *testing.T, r result) {
	t.Helper()
	for _, w := range []string{"someone replaced it", "not the link nsh"} {
		if strings.Contains(r.stderr, w) {
			t.Errorf("nsh called its own link foreign:\n%s", r)
			return
		}
	}
}

// ipIn runs ip -n NS ARGS... as someone other than nsh would.
func ipIn(t *testing.T, ns string, args ...string) {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"-n", ns}, args...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip -n %s %s: %v\n%s", ns, strings.Join(args, " "), err, out)
	}
}

// TestRenumberedLinkUndo moves a veth from the sandbox into a namespace
// where its index is taken, then undoes the move, the namespace and the
// veth one step at a time from new processes: each undo removes exactly
// its step, and nsh never calls its own veth foreign.
func TestRenumberedLinkUndo(t *testing.T) {
	requireRoot(t)
	session := uniq("t")
	downAtEnd(t, session)
	v := identityVars()
	i, _ := runRenumbered(t, writeLab(t, "forward", lab(forwardLab, v)), "--sandbox", "--session", session)
	sb := sandboxOf(t, session)

	r := mustNsh(t, "undo", "--session", session)
	noForeignWarning(t, r)
	a := link(t, sb, v["A"])
	if a == nil || link(t, v["X"], v["A"]) != nil {
		t.Fatalf("undo of the move did not bring %s back to the sandbox", v["A"])
	}
	if a.Attrs().Index != i {
		t.Errorf("%s came back with index %d, want the %d it had before the move", v["A"], a.Attrs().Index, i)
	}
	noForeignWarning(t, mustNsh(t, "undo", "--session", session))
	if netnsExists(v["X"]) {
		t.Errorf("undo of step fill left namespace %s", v["X"])
	}
	noForeignWarning(t, mustNsh(t, "undo", "--session", session))
	if link(t, sb, v["A"]) != nil || link(t, sb, v["B"]) != nil {
		t.Errorf("undo of the veth's step left it in the sandbox")
	}
	noForeignWarning(t, mustNsh(t, "down", "--session", session))
}

// TestRenumberedLinkReverse moves one end of a veth from a namespace into
// the sandbox, where its index is taken, renaming it, and undoes the move,
// then the veth, from new processes: the veth is gone from both.
func TestRenumberedLinkReverse(t *testing.T) {
	requireRoot(t)
	session := uniq("t")
	downAtEnd(t, session)
	v := identityVars()
	i, _ := runRenumbered(t, writeLab(t, "reverse", lab(reverseLab, v)), "--sandbox", "--session", session)
	sb := sandboxOf(t, session)

	noForeignWarning(t, mustNsh(t, "undo", "--session", session))
	a := link(t, v["X"], v["A"])
	if a == nil || link(t, sb, v["M"]) != nil {
		t.Fatalf("undo of the move did not bring %s back to %s", v["A"], v["X"])
	}
	if a.Attrs().Index != i {
		t.Errorf("%s came back with index %d, want the %d it had before the move", v["A"], a.Attrs().Index, i)
	}
	noForeignWarning(t, mustNsh(t, "undo", "--session", session))
	if link(t, v["X"], v["A"]) != nil || link(t, sb, v["B"]) != nil {
		t.Errorf("undo of the veth's step left it behind")
	}
	if !netnsExists(v["X"]) {
		t.Errorf("undo of the veth's step removed namespace %s of the step before", v["X"])
	}
	noForeignWarning(t, mustNsh(t, "down", "--session", session))
}

// TestRenumberedLinkIndexTaken has someone else take the index the veth
// had before its move while it is away, so that moving it back must
// renumber it again; one undo of all three steps still removes it.
func TestRenumberedLinkIndexTaken(t *testing.T) {
	requireRoot(t)
	session := uniq("t")
	downAtEnd(t, session)
	v := identityVars()
	i, _ := runRenumbered(t, writeLab(t, "taken", lab(forwardLab, v)), "--sandbox", "--session", session)
	sb := sandboxOf(t, session)
	other := uniq("io")
	ipIn(t, sb, "link", "add", other, "index", fmt.Sprint(i), "type", "bridge")

	r := mustNsh(t, "undo", "--session", session, "--steps", "3")
	noForeignWarning(t, r)
	if link(t, sb, v["A"]) != nil || link(t, sb, v["B"]) != nil {
		t.Errorf("undo left the veth in the sandbox:\n%s", r)
	}
	if o := link(t, sb, other); o == nil || o.Attrs().Index != i {
		t.Errorf("undo touched the link someone else made with index %d: %v", i, o)
	}
	mustNsh(t, "down", "--session", session)
}

// TestRenumberedLinkPendingMove reverts a move that the journal records as
// begun but not done, as after nsh was killed between the two: down from
// another process still takes the veth away.
func TestRenumberedLinkPendingMove(t *testing.T) {
	requireRoot(t)
	session := uniq("t")
	downAtEnd(t, session)
	v := identityVars()
	runRenumbered(t, writeLab(t, "pending", lab(forwardLab, v)), "--sandbox", "--session", session)
	sb := sandboxOf(t, session)
	dropDone(t, session, "link.move")

	noForeignWarning(t, mustNsh(t, "undo", "--session", session, "--steps", "2"))
	if link(t, sb, v["A"]) == nil {
		t.Fatalf("undo of the pending move did not bring %s back", v["A"])
	}
	noForeignWarning(t, mustNsh(t, "undo", "--session", session))
	if link(t, sb, v["A"]) != nil || link(t, sb, v["B"]) != nil {
		t.Errorf("undo of the veth's step left it in the sandbox")
	}
	mustNsh(t, "down", "--session", session)
}

// dropDone removes from a session's journal the "done" record of its
// operation of the given kind, as if nsh had been killed after applying it
// and before recording that.
func dropDone(t *testing.T, session, kind string) {
	t.Helper()
	path := filepath.Join("/run/nsh", session, "journal")
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.SplitAfter(data, []byte("\n"))
	id := 0
	var out []byte
	for _, l := range lines {
		var rec struct {
			T    string `json:"t"`
			ID   int    `json:"id"`
			Kind string `json:"kind"`
		}
		json.Unmarshal(l, &rec)
		if rec.T == "op" && rec.Kind == kind {
			id = rec.ID
		}
		if rec.T == "done" && rec.ID == id && id != 0 {
			continue
		}
		out = append(out, l...)
	}
	if id == 0 || len(out) == len(data) {
		t.Fatalf("no done %s operation in the journal:\n%s", kind, data)
	}
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}

// TestMovedLinkReplaced checks that a link someone else made under the
// name of nsh's veth is left alone: first where nsh moved the veth (undo
// does not move the stranger back), then where nsh made it (undo does not
// delete the stranger).
func TestMovedLinkReplaced(t *testing.T) {
	requireRoot(t)
	session := uniq("t")
	downAtEnd(t, session)
	v := identityVars()
	runRenumbered(t, writeLab(t, "replaced", lab(forwardLab, v)), "--sandbox", "--session", session)
	sb := sandboxOf(t, session)
	// Someone deletes nsh's veth and makes one of the same name where it was.
	c, d := uniq("ic"), uniq("id")
	ipIn(t, v["X"], "link", "del", v["A"])
	ipIn(t, v["X"], "link", "add", v["A"], "type", "veth", "peer", "name", c)

	r := mustNsh(t, "undo", "--session", session)
	if !strings.Contains(r.stderr, "not the link nsh moved there") {
		t.Errorf("undo of the move did not say it left the stranger alone:\n%s", r)
	}
	if link(t, v["X"], v["A"]) == nil || link(t, sb, v["A"]) != nil {
		t.Errorf("undo of the move moved the stranger %s out of %s", v["A"], v["X"])
	}
	// And someone makes one of the same name where nsh made its own.
	ipIn(t, sb, "link", "add", v["A"], "type", "veth", "peer", "name", d)
	r = mustNsh(t, "undo", "--session", session, "--steps", "2")
	if !strings.Contains(r.stderr, "not the link nsh created") {
		t.Errorf("undo of the veth did not say it left the stranger alone:\n%s", r)
	}
	if link(t, sb, v["A"]) == nil || link(t, sb, d) == nil {
		t.Errorf("undo deleted the stranger %s that someone else made in the sandbox", v["A"])
	}
	mustNsh(t, "down", "--session", session)
}

// TestRenumberedLinkOnHost runs the lab on the machine's own namespace,
// without --sandbox (run it in tests' private VM: /work/shared/tools/vm.sh),
// where the defect showed: down left the moved veth in host for good.
func TestRenumberedLinkOnHost(t *testing.T) {
	requireRoot(t)
	session := uniq("t")
	downAtEnd(t, session)
	v := identityVars()
	t.Cleanup(func() {
		// Whatever nsh left, the hard way.
		exec.Command("ip", "link", "del", v["A"]).Run()
		exec.Command("ip", "netns", "del", v["X"]).Run()
	})
	runRenumbered(t, writeLab(t, "host", lab(forwardLab, v)), "--session", session)
	if _, err := netlink.LinkByName(v["B"]); err != nil {
		t.Fatalf("veth end %s is not in host: %v", v["B"], err)
	}
	r := mustNsh(t, "down", "--session", session)
	noForeignWarning(t, r)
	for _, name := range []string{v["A"], v["B"]} {
		if _, err := netlink.LinkByName(name); err == nil {
			t.Errorf("down left %s in host:\n%s", name, r)
		}
	}
	if netnsExists(v["X"]) {
		t.Errorf("down left namespace %s", v["X"])
	}
}

// TestRenumberedLinkIndexTakenTwoProcesses is TestRenumberedLinkIndexTaken
// with the move undone by one nsh and the veth's step by a later one: the
// index the link came back with is journaled with the move's undo, so the
// later process knows the link for nsh's own.
func TestRenumberedLinkIndexTakenTwoProcesses(t *testing.T) {
	requireRoot(t)
	session := uniq("t")
	downAtEnd(t, session)
	v := identityVars()
	i, _ := runRenumbered(t, writeLab(t, "taken2", lab(forwardLab, v)), "--sandbox", "--session", session)
	sb := sandboxOf(t, session)
	other := uniq("io")
	ipIn(t, sb, "link", "add", other, "index", fmt.Sprint(i), "type", "bridge")

	noForeignWarning(t, mustNsh(t, "undo", "--session", session))
	if a := link(t, sb, v["A"]); a == nil || a.Attrs().Index == i {
		t.Fatalf("undo of the move: %s is %v, want it back with another index than %d", v["A"], a, i)
	}
	r := mustNsh(t, "undo", "--session", session, "--steps", "2")
	noForeignWarning(t, r)
	if link(t, sb, v["A"]) != nil || link(t, sb, v["B"]) != nil {
		t.Errorf("a later undo left the veth in the sandbox:\n%s", r)
	}
	if o := link(t, sb, other); o == nil || o.Attrs().Index != i {
		t.Errorf("undo touched the link someone else made with index %d: %v", i, o)
	}
	mustNsh(t, "down", "--session", session)
}
