package tests

import (
	"bytes"
	"context"
	"os/exec"
	"strings"
	"sync"
	"testing"
	"time"
)

// standInMachine makes a throwaway named namespace that stands in for the
// machine's own one: sessions run in it without --sandbox share it as they
// would share the machine's namespace, and the real one is never touched.
// It returns the namespace's name and a function that runs nsh in it.
func standInMachine(t *testing.T) (string, func(args ...string) result) {
	t.Helper()
	requireRoot(t)
	ns := uniq("nsh-m-")
	if out, err := exec.Command("ip", "netns", "add", ns).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", ns, err, out)
	}
	t.Cleanup(func() { exec.Command("ip", "netns", "delete", ns).Run() })
	run := func(args ...string) result {
		t.Helper()
		noteSessions(args)
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		cmd := exec.CommandContext(ctx, "ip", append([]string{"netns", "exec", ns, nshBin}, args...)...)
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		r := result{stdout: out.String(), stderr: errb.String()}
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("nsh %s: %v", strings.Join(args, " "), err)
		}
		return r
	}
	return ns, run
}

// inMachine runs a command in the stand-in machine's namespace and returns
// its output.
func inMachine(t *testing.T, ns string, argv ...string) string {
	t.Helper()
	out, err := exec.Command("ip", append([]string{"netns", "exec", ns}, argv...)...).CombinedOutput()
	if err != nil {
		t.Fatalf("ip netns exec %s %s: %v: %s", ns, strings.Join(argv, " "), err, out)
	}
	return string(out)
}

func TestSharedSysctlLastSessionRestores(t *testing.T) {
	for _, order := range [][2]int{{0, 1}, {1, 0}} {
		ns, run := standInMachine(t)
		fwd := func() string {
			return strings.TrimSpace(inMachine(t, ns, "cat", "/proc/sys/net/ipv4/ip_forward"))
		}
		if got := fwd(); got != "0" {
			t.Fatalf("a fresh namespace forwards: ip_forward=%s", got)
		}
		sessions := []string{uniq("fa"), uniq("fb")}
		for _, s := range sessions {
			downAtEndIn(t, run, s)
			if r := run("run", writeLab(t, "fwd", "ip_forward(host)\n"), "--session", s); r.code != 0 {
				t.Fatalf("run %s: %s", s, r)
			}
		}
		first, last := sessions[order[0]], sessions[order[1]]
		if r := run("down", "--session", first); r.code != 0 {
			t.Fatalf("down %s: %s", first, r)
		}
		if got := fwd(); got != "1" {
			t.Errorf("down of %s while %s still forwards: ip_forward=%s, want 1", first, last, got)
		}
		if r := run("down", "--session", last); r.code != 0 {
			t.Fatalf("down %s: %s", last, r)
		}
		if got := fwd(); got != "0" {
			t.Errorf("down of the last session %s: ip_forward=%s, want 0 as before both", last, got)
		}
	}
}

// downAtEndIn tears a session down when the test ends, if it is still up.
func downAtEndIn(t *testing.T, run func(args ...string) result, session string) {
	t.Cleanup(func() { run("down", "--session", session) })
}

const masqLab = `masquerade("10.0.0.0/16", not_out = "lo")` + "\n"

func TestSharedNatTableBothOrders(t *testing.T) {
	for _, order := range [][2]int{{0, 1}, {1, 0}} {
		ns, run := standInMachine(t)
		before := inMachine(t, ns, "iptables-save")
		sessions := []string{uniq("ta"), uniq("tb")}
		for _, s := range sessions {
			downAtEndIn(t, run, s)
			if r := run("run", writeLab(t, "masq", masqLab), "--session", s); r.code != 0 {
				t.Fatalf("run %s: %s", s, r)
			}
		}
		if r := run("down", "--session", sessions[order[0]]); r.code != 0 {
			t.Fatalf("down: %s", r)
		}
		mid := inMachine(t, ns, "iptables-save")
		if n := strings.Count(mid, "MASQUERADE"); n != 1 {
			t.Errorf("after the first down, %d MASQUERADE rules, want the other session's 1:\n%s", n, mid)
		}
		if r := run("down", "--session", sessions[order[1]]); r.code != 0 {
			t.Fatalf("down: %s", r)
		}
		if got := inMachine(t, ns, "iptables-save"); stripSave(got) != stripSave(before) {
			t.Errorf("after both sessions went, iptables-save differs (order %v):\n%s", order, diffText(stripSave(before), stripSave(got)))
		}
	}
}

func TestSharedNatTableForeignRuleKeepsIt(t *testing.T) {
	ns, run := standInMachine(t)
	sessions := []string{uniq("ta"), uniq("tb")}
	for _, s := range sessions {
		downAtEndIn(t, run, s)
		if r := run("run", writeLab(t, "masq", masqLab), "--session", s); r.code != 0 {
			t.Fatalf("run %s: %s", s, r)
		}
	}
	inMachine(t, ns, "iptables", "-t", "nat", "-A", "POSTROUTING", "-s", "192.0.2.7/32", "-j", "RETURN")
	for _, s := range sessions {
		if r := run("down", "--session", s); r.code != 0 {
			t.Fatalf("down %s: %s", s, r)
		}
	}
	got := inMachine(t, ns, "iptables-save")
	if !strings.Contains(got, "-A POSTROUTING -s 192.0.2.7/32 -j RETURN") || strings.Contains(got, "MASQUERADE") {
		t.Errorf("the foreign rule must stay and nsh's go:\n%s", got)
	}
}

func TestSharedParallelSessions(t *testing.T) {
	ns, run := standInMachine(t)
	before := inMachine(t, ns, "iptables-save")
	const n = 4
	var sessions []string
	for i := 0; i < n; i++ {
		s := uniq("tp")
		sessions = append(sessions, s)
		downAtEndIn(t, run, s)
	}
	lab := masqLab + `iptables("mangle", "PREROUTING", ["-s", "10.9.0.0/16", "-j", "RETURN"])` + "\nip_forward(host)\n"
	parallel := func(args func(s string) []string) {
		var wg sync.WaitGroup
		errs := make([]string, n)
		for i, s := range sessions {
			wg.Add(1)
			go func() {
				defer wg.Done()
				if r := run(args(s)...); r.code != 0 {
					errs[i] = s + ": " + r.String()
				}
			}()
		}
		wg.Wait()
		for _, e := range errs {
			if e != "" {
				t.Error(e)
			}
		}
	}
	parallel(func(s string) []string { return []string{"run", writeLab(t, "par", lab), "--session", s} })
	if t.Failed() {
		return
	}
	if got := strings.Count(inMachine(t, ns, "iptables-save"), "MASQUERADE"); got != n {
		t.Errorf("%d MASQUERADE rules after %d parallel sessions, want %d", got, n, n)
	}
	parallel(func(s string) []string { return []string{"down", "--session", s} })
	if got := inMachine(t, ns, "iptables-save"); stripSave(got) != stripSave(before) {
		t.Errorf("after parallel teardown, iptables-save differs:\n%s", diffText(stripSave(before), stripSave(got)))
	}
	if got := strings.TrimSpace(inMachine(t, ns, "cat", "/proc/sys/net/ipv4/ip_forward")); got != "0" {
		t.Errorf("after every session went, ip_forward=%s, want 0", got)
	}
}
