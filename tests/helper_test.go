package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nshlab/nsh/builtins/sys/nsexec"
)

// processesIn returns the processes of the machine whose network
// namespace is link ("net:[INODE]", as /proc/PID/ns/net reads).
func processesIn(link string) []string {
	var out []string
	ents, _ := os.ReadDir("/proc")
	for _, e := range ents {
		if l, err := os.Readlink(filepath.Join("/proc", e.Name(), "ns", "net")); err == nil && l == link {
			var pid int
			if fmt.Sscanf(e.Name(), "%d", &pid); pid > 0 && procAlive(pid) {
				out = append(out, e.Name())
			}
		}
	}
	return out
}

// TestExecHelperLifetime checks that exec_in runs the commands of a
// namespace through one warm helper, and that neither ns.delete(), undo(),
// the end of nsh nor down leaves a helper behind, or a process that keeps
// a deleted namespace alive (with the other end of its veth).
func TestExecHelperLifetime(t *testing.T) {
	requireRoot(t)
	session := uniq("t")
	downAtEnd(t, session)
	_, err := os.Stat(nsexec.HelperDir())
	hadDir := err == nil
	n := uniq("wh")
	script := writeLab(t, "helper", lab(`
n = netns("{N}")
m = netns("{N}m")
veth("{N}a", "{N}b", ns=n, peer_ns=m)
def helper(ns):
    return exec_in(ns, "echo $PPID", check=True).stdout.strip()
h1 = helper(n)
print("SAME", h1 == helper(n), h1 != helper(m), h1 != helper(host))
print("NETNS1", exec_in(n, "readlink /proc/self/ns/net").stdout.strip())
print("HELPER1", h1)
step("del")
n.delete()
print("PEERGONE", "{N}b" not in exec_in(m, "ls /sys/class/net").stdout)
print("H1ALIVE", exec_in(host, "test -d /proc/%s && echo yes || echo no" % h1).stdout.strip())
undo()
print("HELPER2", helper(n))
print("NETNS2", exec_in(n, "readlink /proc/self/ns/net").stdout.strip())
`, map[string]string{"N": n}))
	r := mustNsh(t, "run", script, "--sandbox", "--session", session)
	for _, want := range []string{"SAME True True True", "PEERGONE True", "H1ALIVE no"} {
		if !strings.Contains(r.stdout, want+"\n") {
			t.Errorf("output lacks %q:\n%s", want, r.stdout)
		}
	}
	h2 := pidFrom(t, r.stdout, "HELPER2")
	if !waitGone(h2) {
		t.Errorf("helper %d outlived nsh run", h2)
	}
	var netns2 string
	for _, line := range strings.Split(r.stdout, "\n") {
		if s, ok := strings.CutPrefix(line, "NETNS2 "); ok {
			netns2 = s
		}
	}
	if !strings.HasPrefix(netns2, "net:[") {
		t.Fatalf("no NETNS2 line:\n%s", r.stdout)
	}
	mustNsh(t, "down", "--session", session)
	if left := processesIn(netns2); len(left) > 0 {
		t.Errorf("processes %v still in namespace %s after down", left, netns2)
	}
	if _, err := os.Stat(nsexec.HelperDir()); err == nil && !hadDir {
		t.Errorf("%s, where helpers record themselves, is left after down", nsexec.HelperDir())
	}
}
