package tests

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// The tests of the session's deferring executor (builtins/session/defer.go):
// the ups it defers to a barrier, with a bridge brought up after its
// ports, leave the lab the script says; every read sees what came before
// it; a failure in a deferred batch is reported at its own line and
// leaves nothing after it; a SIGKILL in a batch is torn down by nsh down.

// execStar is a star of N namespaces around bridge br0 in host, written
// as the bench's (tests/bench/lab_linux.go): the bridge up first, then
// every namespace's veth enslaved and up. {P} prefixes the namespaces.
const execStar = `N = {N}
br = bridge("br0")
br.addr("10.77.0.1/16")
br.up()
for i in range(1, N + 1):
    n = netns("{P}" + str(i))
    v, h = veth("v%d" % i, "h%d" % i, ns=n, peer_ns=host)
    h.master(br)
    h.up()
    v.addr("10.77.0.%d/16" % (i + 1))
    v.up()
    route(n, "default", via="10.77.0.1")
`

// execStarIP is the same star as an ip script, in the script's order, in
// hub namespace HUB.
func execStarIP(hub, prefix string, n int) string {
	var b strings.Builder
	b.WriteString("set -e\n")
	fmt.Fprintf(&b, "ip netns add %s\nip -n %s link set lo up\n", hub, hub)
	fmt.Fprintf(&b, "ip -n %s link add br0 type bridge\nip -n %s addr add 10.77.0.1/16 dev br0\nip -n %s link set br0 up\n", hub, hub, hub)
	for i := 1; i <= n; i++ {
		ns := fmt.Sprintf("%s%d", prefix, i)
		fmt.Fprintf(&b, "ip netns add %s\nip -n %s link set lo up\n", ns, ns)
		fmt.Fprintf(&b, "ip -n %s link add v%d type veth peer name h%d netns %s\n", ns, i, i, hub)
		fmt.Fprintf(&b, "ip -n %s link set h%d master br0\nip -n %s link set h%d up\n", hub, i, hub, i)
		fmt.Fprintf(&b, "ip -n %s addr add 10.77.0.%d/16 dev v%d\nip -n %s link set v%d up\n", ns, i+1, i, ns, i)
		fmt.Fprintf(&b, "ip -n %s route add default via 10.77.0.1\n", ns)
	}
	return b.String()
}

func starNames(prefix string, n int) []string {
	var out []string
	for i := 1; i <= n; i++ {
		out = append(out, fmt.Sprintf("%s%d", prefix, i))
	}
	return out
}

// TestExecutorStarSameAsIP builds a star with nsh, whose ups the executor
// defers to the script's end and applies with the bridge last, and the
// same star with the ip script in the script's order (the bridge up
// first), under the same namespace names, and compares their deep
// snapshots (nsState: links with flags and masters, addresses, routes,
// rules, sysctls).
func TestExecutorStarSameAsIP(t *testing.T) {
	requireRoot(t)
	const n = 6
	before := snapshot(t)
	prefix := uniq("xs")
	session := uniq("t")
	script := writeLab(t, "star", lab(execStar, map[string]string{"N": fmt.Sprint(n), "P": prefix}))
	mustNsh(t, "run", script, "--sandbox", "--session", session)
	got := deepLab(t, sandboxOf(t, session), starNames(prefix, n))
	mustNsh(t, "down", "--session", session)
	assertClean(t, before)

	hub := uniq("xh")
	sh := filepath.Join(t.TempDir(), "star.sh")
	os.WriteFile(sh, []byte(execStarIP(hub, prefix, n)), 0o755)
	defer func() {
		for _, ns := range append(starNames(prefix, n), hub) {
			exec.Command("ip", "netns", "del", ns).Run()
		}
	}()
	if out, err := exec.Command("bash", sh).CombinedOutput(); err != nil {
		t.Fatalf("ip script: %v\n%s", err, out)
	}
	want := deepLab(t, hub, starNames(prefix, n))
	if got != want {
		t.Errorf("the star nsh built differs from the ip script's:\n%s", diffLines(want, got))
	}
}

// TestExecutorBarriers checks that what a script reads or probes in the
// middle of a build sees everything the script did before it: a ping
// across half a star, an exec_in that lists a link just made, enslaved
// and up, a link's attribute; then the rest of the star, and a ping
// across all of it.
func TestExecutorBarriers(t *testing.T) {
	requireRoot(t)
	before := snapshot(t)
	prefix := uniq("xb")
	session := uniq("t")
	script := writeLab(t, "barriers", lab(`
br = bridge("br0")
br.addr("10.78.0.1/16")
br.up()
def node(i):
    n = netns("{P}" + str(i))
    v, h = veth("v%d" % i, "h%d" % i, ns=n, peer_ns=host)
    h.master(br)
    h.up()
    v.addr("10.78.0.%d/16" % (i + 1))
    v.up()
    return n
a = node(1)
b = node(2)
r = ping(a, "10.78.0.3")
if not r.ok:
    fail("half a star: %s cannot reach 10.78.0.3" % a)
c = node(3)
out = exec_in(host, ["ip", "-o", "link", "show", "h3"]).stdout
if "master br0" not in out or ",UP" not in out:
    fail("h3 right after it was made: %s" % out)
out = exec_in(c, ["ip", "-o", "link", "show", "v3"]).stdout
if ",UP" not in out:
    fail("v3 right after it was made: %s" % out)
d = node(4)
e = node(5)
if not ping(e, "10.78.0.2").ok:
    fail("the whole star: %s cannot reach 10.78.0.2" % e)
`, map[string]string{"P": prefix}))
	r := nsh(t, "run", script, "--sandbox", "--rm", "--session", session)
	if r.code != 0 {
		t.Errorf("the script saw a state that is not what it did before:\n%s", r)
		nsh(t, "down", "--session", session)
	}
	assertClean(t, before)
}

// failStar is a star whose third hub end fails to come up at the
// script's end (NSH_TEST_FLUSH=fail=h3), in a batch with the bridge and
// the other ends: line 8 is h.up().
const failStar = `br = bridge("br0")
br.addr("10.79.0.1/16")
br.up()
for i in range(1, 5):
    n = netns("{P}" + str(i))
    v, h = veth("v%d" % i, "h%d" % i, ns=n, peer_ns=host)
    h.master(br)
    h.up()
    v.addr("10.79.0.%d/16" % (i + 1))
    v.up()
    route(n, "default", via="10.79.0.1")
`

// TestExecutorFailure checks that an up that fails in a deferred batch is
// reported at its own line, that nothing the script did after it is left
// (kept with --keep: the namespaces made after it are gone, the ones
// before are there), and that down then leaves nothing.
func TestExecutorFailure(t *testing.T) {
	requireRoot(t)
	before := snapshot(t)
	prefix := uniq("xf")
	session := uniq("t")
	script := writeLab(t, "failing", lab(failStar, map[string]string{"P": prefix}))
	r := nshWith(t, runOpts{env: []string{"NSH_TEST_FLUSH=fail=h3"}}, "run", script, "--sandbox", "--keep", "--session", session)
	if r.code == 0 {
		t.Fatalf("the run succeeded although h3's up failed:\n%s", r)
	}
	if !strings.Contains(r.stderr, "failing.star:8:9: up: failed to set link \"h3\" up") {
		t.Errorf("the failure is not reported at h.up() (failing.star:8:9):\n%s", r.stderr)
	}
	for i := 1; i <= 3; i++ {
		if !netnsExists(fmt.Sprintf("%s%d", prefix, i)) {
			t.Errorf("namespace %s%d, made before the failing up, is gone", prefix, i)
		}
	}
	if netnsExists(prefix + "4") {
		t.Errorf("namespace %s4, made after the failing up, is there", prefix)
	}
	if out, _ := execOut("ip", "-n", prefix+"3", "route", "show", "default"); strings.TrimSpace(out) != "" {
		t.Errorf("the default route of %s3, added after the failing up, is there: %s", prefix, out)
	}
	if out, _ := execOut("ip", "-n", prefix+"2", "route", "show", "default"); !strings.Contains(out, "10.79.0.1") {
		t.Errorf("the default route of %s2, added before the failing up, is missing: %q", prefix, out)
	}
	mustNsh(t, "down", "--session", session)
	assertClean(t, before)

	// Without --keep the run is rolled back.
	r = nshWith(t, runOpts{env: []string{"NSH_TEST_FLUSH=fail=h3"}}, "run", script, "--sandbox", "--session", session)
	if r.code == 0 || !strings.Contains(r.stderr, "rolled back") {
		t.Errorf("run without --keep: %s", r)
	}
	assertClean(t, before)
}

// TestExecutorSIGKILL kills nsh with SIGKILL in the middle of a deferred
// batch (NSH_TEST_FLUSH=kill=K: after K of the batch's ups are applied)
// and checks that nsh down from another process removes everything.
func TestExecutorSIGKILL(t *testing.T) {
	requireRoot(t)
	for _, k := range []int{1, 3, 4} {
		t.Run(fmt.Sprintf("after_%d_ups", k), func(t *testing.T) {
			before := snapshot(t)
			prefix := uniq("xk")
			session := uniq("t")
			script := writeLab(t, "killed", lab(failStar, map[string]string{"P": prefix}))
			r := nshWith(t, runOpts{env: []string{fmt.Sprintf("NSH_TEST_FLUSH=kill=%d", k)}}, "run", script, "--sandbox", "--session", session)
			if r.code != -1 {
				t.Fatalf("nsh was not killed in the batch (exit %d):\n%s", r.code, r)
			}
			if journalOps(session) == 0 {
				t.Fatalf("nothing journaled before the kill")
			}
			if !netnsExists(prefix + "4") {
				t.Fatalf("killed before the lab was built: the kill was not in the final batch")
			}
			mustNsh(t, "down", "--session", session)
			for i := 1; i <= 4; i++ {
				if netnsExists(fmt.Sprintf("%s%d", prefix, i)) {
					t.Errorf("namespace %s%d survived down", prefix, i)
				}
			}
			assertClean(t, before)
		})
	}
}

// TestExecutorWithProcess checks that nothing is deferred while a process
// the script started may be running: it watches the kernel as the script
// goes on, so a link brought up after it started must be up before the
// script waits for it.
func TestExecutorWithProcess(t *testing.T) {
	requireRoot(t)
	before := snapshot(t)
	prefix := uniq("xp")
	session := uniq("t")
	script := writeLab(t, "watched", lab(`
a = netns("{P}a")
v, w = veth("v0", "w0", ns=a)
p = spawn(a, ["sh", "-c", "for i in $(seq 200); do ip -o link show v0 | grep -q ',UP' && exit 0; sleep 0.05; done; exit 1"])
v.up()
r = p.wait(timeout=30)
if r.code != 0:
    fail("the process never saw v0 up: it was deferred past the wait")
`, map[string]string{"P": prefix}))
	r := nsh(t, "run", script, "--sandbox", "--rm", "--session", session)
	if r.code != 0 {
		t.Errorf("%s", r)
		nsh(t, "down", "--session", session)
	}
	assertClean(t, before)
}
