package tests

import (
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// crashLab builds a lot, step by step, then waits for a spawned process
// that never ends, so that nsh can be killed at any point of it.
const crashLab = `
for i in range(6):
    step("s%d" % i)
    n = netns("{N}n%d" % i)
    a, b = veth("{N}a%d" % i, "{N}b%d" % i, ns=n)
    a.addr("10.70.%d.2/24" % i).up()
    b.addr("10.70.%d.1/24" % i).up()
    br = bridge("{N}r%d" % i).up()
    n.route("default", via="10.70.%d.1" % i)
    sysctl(n, "net.ipv4.ip_forward", 1)
step("wait")
p = spawn(n, ["sleep", "600"])
print("PID", p.pid)
p.wait()
`

// TestSIGKILL kills `nsh run` with SIGKILL after a growing number of
// operations has reached the journal, and at the end while it idles, and
// checks that `nsh down` from another process removes everything: the
// namespaces, the links, the spawned process, the sandbox and the session.
func TestSIGKILL(t *testing.T) {
	requireRoot(t)
	for _, after := range []int{1, 2, 3, 5, 8, 13, 21, 34, 45, -1} {
		name := fmt.Sprintf("after_%d_ops", after)
		if after < 0 {
			name = "idle_at_end"
		}
		t.Run(name, func(t *testing.T) {
			before := snapshot(t)
			session := uniq("t")
			n := uniq("k")
			script := writeLab(t, "crash", lab(crashLab, map[string]string{"N": n}))
			cmd, out := startNsh(t, "run", script, "--sandbox", "--session", session)
			if after > 0 {
				if !waitFor(30*time.Second, func() bool { return journalOps(session) >= after }) {
					t.Fatalf("the journal never reached %d operations:\n%s", after, out)
				}
			} else {
				if !waitFor(30*time.Second, func() bool { return strings.Contains(out.String(), "PID ") }) {
					t.Fatalf("the lab never got to its end:\n%s", out)
				}
				time.Sleep(100 * time.Millisecond)
			}
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			pid := 0
			if strings.Contains(out.String(), "PID ") {
				pid = pidFrom(t, out.String(), "PID")
			}
			ops := journalOps(session)
			if ops == 0 {
				// Killed before the journal had its first operation:
				// there is nothing to tear down, only maybe a session
				// directory.
				if _, err := os.Stat(filepath.Join("/run/nsh", session, "journal")); err != nil {
					os.RemoveAll(filepath.Join("/run/nsh", session))
					assertClean(t, before)
					return
				}
			}
			r := nsh(t, "down", "--session", session)
			if r.code != 0 {
				t.Fatalf("down after SIGKILL at %d operations: %s", ops, r)
			}
			if pid != 0 && !waitGone(pid) {
				t.Errorf("spawned process %d survived down", pid)
			}
			for i := 0; i < 6; i++ {
				if netnsExists(fmt.Sprintf("%sn%d", n, i)) {
					t.Errorf("namespace %sn%d survived down", n, i)
				}
			}
			assertClean(t, before)
			// down again is idempotent: success, saying there was nothing left.
			if r := nsh(t, "down", "--session", session); r.code != 0 || !strings.Contains(r.stderr, "nothing to tear down") {
				t.Errorf("second down: %s", r)
			}
		})
	}
}

// TestSIGKILLThenUndo kills nsh while it idles at the end of a lab with
// several steps, and undoes the steps one by one from new processes.
func TestSIGKILLThenUndo(t *testing.T) {
	requireRoot(t)
	session := uniq("t")
	downAtEnd(t, session)
	n := uniq("ku")
	script := writeLab(t, "crashundo", lab(crashLab, map[string]string{"N": n}))
	cmd, out := startNsh(t, "run", script, "--sandbox", "--session", session)
	if !waitFor(30*time.Second, func() bool { return strings.Contains(out.String(), "PID ") }) {
		t.Fatalf("the lab never got to its end:\n%s", out)
	}
	pid := pidFrom(t, out.String(), "PID")
	cmd.Process.Signal(syscall.SIGKILL)
	cmd.Wait()
	mustNsh(t, "undo", "--session", session)
	if !waitGone(pid) {
		t.Errorf("undo of step wait left process %d", pid)
	}
	if !netnsExists(n + "n5") {
		t.Fatalf("undo of step wait removed step s5's namespace")
	}
	mustNsh(t, "undo", "--session", session, "--steps", "2")
	if netnsExists(n+"n5") || netnsExists(n+"n4") || !netnsExists(n+"n3") {
		t.Errorf("undo --steps 2 did not revert exactly s5 and s4")
	}
	mustNsh(t, "down", "--session", session)
}

// TestDownWhenSandboxGone checks that down finishes a session whose
// sandbox someone deleted, and then touches nothing in the machine's own
// namespace.
func TestDownWhenSandboxGone(t *testing.T) {
	requireRoot(t)
	session := uniq("t")
	downAtEnd(t, session)
	n := uniq("sg")
	script := writeLab(t, "sbgone", lab(`
bridge("{N}")
netns("{N}n")
`, map[string]string{"N": n}))
	mustNsh(t, "run", script, "--sandbox", "--session", session)
	sb := sandboxOf(t, session)
	if out, err := execOut("ip", "netns", "delete", sb); err != nil {
		t.Fatalf("ip netns delete: %v %s", err, out)
	}
	machine := machineNet(t)
	r := mustNsh(t, "down", "--session", session)
	if !strings.Contains(r.stdout+r.stderr, fmt.Sprintf("session %q is down", session)) {
		t.Errorf("down does not say the session is down: %s", r)
	}
	if netnsExists(n + "n") {
		t.Errorf("down left namespace %sn", n)
	}
	if _, err := os.Stat(filepath.Join("/run/nsh", session)); err == nil {
		t.Errorf("down left the session's directory")
	}
	if after := machineNet(t); after != machine {
		t.Errorf("down of a session whose sandbox is gone changed the machine's network:\n%s", diffLines(machine, after))
	}
	if r := nsh(t, "status", "--session", session); r.code == 0 {
		t.Errorf("status of a session that is down exits 0: %s", r)
	}
}

// TestSIGKILLKillsExecIn kills nsh while exec_in waits for a command, in a
// named namespace and in the sandbox: the command, and a process it
// started in the background, must die with nsh, since left running they
// would keep their namespace alive after down removed the pin, where
// nothing would show it.
func TestSIGKILLKillsExecIn(t *testing.T) {
	requireRoot(t)
	for _, where := range []string{"n", "host"} {
		t.Run(where, func(t *testing.T) {
			before := snapshot(t)
			session, n := uniq("t"), uniq("x")
			dir := t.TempDir()
			shPid, bgPid := filepath.Join(dir, "sh"), filepath.Join(dir, "bg")
			helperPid, netnsFile := filepath.Join(dir, "helper"), filepath.Join(dir, "netns")
			script := writeLab(t, "execkill", fmt.Sprintf(`
n = netns(%q)
exec_in(%s, ["sh", "-c", "readlink /proc/self/ns/net > %s; echo $PPID > %s; echo $$ > %s; sleep 600 & echo $! > %s; wait"])
`, n, where, netnsFile, helperPid, shPid, bgPid))
			cmd, out := startNsh(t, "run", script, "--sandbox", "--session", session)
			readPid := func(file string) int {
				var pid int
				b, _ := os.ReadFile(file)
				fmt.Sscanf(string(b), "%d", &pid)
				return pid
			}
			if !waitFor(30*time.Second, func() bool { return readPid(shPid) > 0 && readPid(bgPid) > 0 }) {
				t.Fatalf("exec_in never started its command:\n%s", out)
			}
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			for what, pid := range map[string]int{"command": readPid(shPid), "command's background job": readPid(bgPid)} {
				if !waitGone(pid) {
					syscall.Kill(pid, syscall.SIGKILL)
					t.Errorf("the %s of exec_in (pid %d) survived nsh's SIGKILL", what, pid)
				}
			}
			if r := nsh(t, "down", "--session", session); r.code != 0 {
				t.Fatalf("down: %s", r)
			}
			if pid := readPid(helperPid); !waitGone(pid) {
				t.Errorf("the helper of exec_in (pid %d) survived nsh's SIGKILL and down", pid)
			}
			if b, _ := os.ReadFile(netnsFile); len(b) == 0 {
				t.Errorf("the command did not record its namespace")
			} else {
				if left := processesIn(strings.TrimSpace(string(b))); len(left) > 0 {
					t.Errorf("processes %v still in the namespace of exec_in after down", left)
				}
			}
			assertClean(t, before)
		})
	}
}
