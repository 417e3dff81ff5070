package tests

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strings"
	"syscall"
	"testing"
)

// The only programs nsh may run, besides the user's own commands and
// itself: the iptables family (iptables, iptables-save, ip6tables, their
// -nft and -legacy variants, and the xtables multi-binaries they link to).
var allowedProgram = regexp.MustCompile(`^(ip6?tables|xtables)(-|$)`)

// jailDirs are the directories of programs that the jail hides.
var jailDirs = []string{"/usr/sbin", "/usr/bin", "/sbin", "/bin", "/usr/local/sbin", "/usr/local/bin"}

// jailExtra are programs that the jail traps even where the machine does
// not have them, as nsh might try them by absolute path: the network tools
// that nsh does the work of.
var jailExtra = []string{
	"nft", "ip", "tc", "bridge", "ss", "sysctl", "modprobe", "ethtool", "brctl", "ifconfig",
	"route", "ping", "conntrack", "ebtables", "arptables", "nsenter", "unshare", "mount",
	"umount", "sh", "bash", "dash",
}

const (
	// envJail holds a jailPlan: the test binary, started with it, is the
	// jail's helper instead of running tests.
	envJail = "NSH_TEST_JAIL"
	// envTrapLog names the file where a trapped program records its run.
	envTrapLog = "NSH_TEST_TRAP_LOG"
)

// jailPlan tells the helper where to work and which nsh commands to run.
type jailPlan struct {
	Dir  string     `json:"dir"`
	Nsh  string     `json:"nsh"`
	Cmds [][]string `json:"cmds"`
}

// jailResult is the outcome of one nsh command in the jail.
type jailResult struct {
	Args   []string `json:"args"`
	Stdout string   `json:"stdout"`
	Stderr string   `json:"stderr"`
	Code   int      `json:"code"`
}

// jailOrTrap runs the test binary as the jail's helper, or as a trapped
// program (a name in a jailed directory that links to the test binary),
// instead of running tests. It reports whether it did, and the exit code.
func jailOrTrap() (int, bool) {
	exe, err := os.Executable()
	if err == nil && filepath.Base(os.Args[0]) != filepath.Base(exe) {
		msg := fmt.Sprintf("%s is not allowed: nsh may run only iptables (argv %q)\n", os.Args[0], os.Args)
		if log := os.Getenv(envTrapLog); log != "" {
			if f, err := os.OpenFile(log, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o644); err == nil {
				f.WriteString(msg)
				f.Close()
			}
		}
		os.Stderr.WriteString("nsh test trap: " + msg)
		return 127, true
	}
	plan := os.Getenv(envJail)
	if plan == "" {
		return 0, false
	}
	if err := jailMain(plan, exe); err != nil {
		fmt.Fprintln(os.Stderr, "jail:", err)
		return 1, true
	}
	return 0, true
}

// jailMain runs in a mount namespace of its own. It hides every program
// in jailDirs behind a tmpfs that holds only the iptables family (the real
// files, bound) and, for every other name, a link to the trap; then it
// runs the plan's nsh commands with a PATH of only the iptables family,
// and prints their results as JSON.
func jailMain(planJSON, trap string) error {
	var plan jailPlan
	if err := json.Unmarshal([]byte(planJSON), &plan); err != nil {
		return err
	}
	var dirs []string
	for _, d := range jailDirs {
		real, err := filepath.EvalSymlinks(d)
		if err != nil {
			continue
		}
		if st, err := os.Stat(real); err == nil && st.IsDir() && !slices.Contains(dirs, real) {
			dirs = append(dirs, real)
		}
	}
	// Keep the real directories in sight, then hide them.
	staged := map[string]string{}
	for i, d := range dirs {
		s := filepath.Join(plan.Dir, "real", fmt.Sprint(i))
		if err := os.MkdirAll(s, 0o755); err != nil {
			return err
		}
		if err := syscall.Mount(d, s, "", syscall.MS_BIND, ""); err != nil {
			return fmt.Errorf("bind %s: %w", d, err)
		}
		staged[d] = s
	}
	for _, d := range dirs {
		entries, err := os.ReadDir(staged[d])
		if err != nil {
			return err
		}
		if err := syscall.Mount("nshjail", d, "tmpfs", 0, "mode=0755"); err != nil {
			return fmt.Errorf("tmpfs on %s: %w", d, err)
		}
		names := map[string]bool{}
		for _, e := range entries {
			names[e.Name()] = true
		}
		for _, n := range jailExtra {
			names[n] = true
		}
		for n := range names {
			src, dst := filepath.Join(staged[d], n), filepath.Join(d, n)
			st, err := os.Lstat(src)
			switch {
			case err != nil || !allowedProgram.MatchString(n):
				err = os.Symlink(trap, dst)
			case st.Mode()&os.ModeSymlink != 0:
				var target string
				if target, err = os.Readlink(src); err == nil {
					err = os.Symlink(target, dst)
				}
			case st.Mode().IsRegular():
				if err = os.WriteFile(dst, nil, 0o755); err == nil {
					err = syscall.Mount(src, dst, "", syscall.MS_BIND, "")
				}
			}
			if err != nil {
				return fmt.Errorf("%s: %w", dst, err)
			}
		}
	}
	bin := filepath.Join(plan.Dir, "bin")
	if err := os.MkdirAll(bin, 0o755); err != nil {
		return err
	}
	for _, n := range []string{"iptables", "iptables-save", "iptables-restore", "ip6tables", "ip6tables-save", "ip6tables-restore"} {
		for _, d := range dirs {
			if _, err := os.Stat(filepath.Join(d, n)); err == nil {
				os.Symlink(filepath.Join(d, n), filepath.Join(bin, n))
				break
			}
		}
	}
	log := filepath.Join(plan.Dir, "trapped")
	env := []string{"PATH=" + bin, envTrapLog + "=" + log}
	for _, kv := range os.Environ() {
		if !strings.HasPrefix(kv, "PATH=") && !strings.HasPrefix(kv, envJail+"=") {
			env = append(env, kv)
		}
	}
	// The trap must work, or the test would prove nothing.
	for _, p := range []string{"/usr/sbin/nft", "/bin/sh"} {
		cmd := exec.Command(p)
		cmd.Env = env
		if err := cmd.Run(); err == nil {
			return fmt.Errorf("%s ran in the jail", p)
		}
	}
	if b, err := os.ReadFile(log); err != nil || strings.Count(string(b), "\n") != 2 {
		return fmt.Errorf("the trap did not record nft and sh: %q, %v", b, err)
	}
	if err := os.Remove(log); err != nil {
		return err
	}
	var results []jailResult
	for _, args := range plan.Cmds {
		cmd := exec.Command(plan.Nsh, args...)
		cmd.Env = env
		var out, errb bytes.Buffer
		cmd.Stdout, cmd.Stderr = &out, &errb
		err := cmd.Run()
		r := jailResult{Args: args, Stdout: out.String(), Stderr: errb.String()}
		var ee *exec.ExitError
		if errors.As(err, &ee) {
			r.Code = ee.ExitCode()
		} else if err != nil {
			return err
		}
		results = append(results, r)
	}
	return json.NewEncoder(os.Stdout).Encode(results)
}

// TestOnlyIptables runs NAT and firewall labs, and takes them down, with
// no program in reach but the iptables family: in a mount namespace where
// every other program in /usr/sbin, /usr/bin, /sbin and /bin (and the
// network tools nsh might try by absolute path, such as /usr/sbin/nft)
// is a trap that records its run, with PATH holding only iptables. nsh
// must work, and never spring a trap. The labs use no exec_in: they are
// nsh's own code paths (the probes run nsh itself).
func TestOnlyIptables(t *testing.T) {
	requireRoot(t)
	iptablesVersion(t)
	session := uniq("only")
	downAtEnd(t, session)
	v := map[string]string{"SRV": uniq("os"), "CLI": uniq("oc"), "A": uniq("oa"), "B": uniq("ob")}
	p := writeLab(t, "only", lab(`
load("@nsh//firewall.star", "forward_accept")
srv = netns("{SRV}")
cli = netns("{CLI}")
a, a2 = veth("{A}", "eth0", peer_ns = srv)
b, b2 = veth("{B}", "eth0", peer_ns = cli)
a.addr("10.61.0.1/24").up()
a2.addr("10.61.0.2/24").up()
b.addr("198.51.100.1/24").up()
b2.addr("198.51.100.2/24").up()
srv.route("default", via = "10.61.0.1")
cli.route("default", via = "198.51.100.1")
ip_forward(host)
masquerade("10.61.0.0/24", out = "{B}")
serve(srv, "10.61.0.2:8000", reply = "inside")
dnat(3000, "10.61.0.2:8000", dst = "198.51.100.1")
forward_accept("{A}")
# The filter table of a namespace with INPUT only, then a rule in OUTPUT:
# iptables-nft makes the OUTPUT base chain.
iptables("filter", "INPUT", ["-p", "tcp", "--dport", "22", "-j", "ACCEPT"], ns = srv)
iptables("filter", "OUTPUT", ["-d", "192.0.2.1", "-j", "DROP"], ns = srv)
iptables("mangle", "PREROUTING", ["-i", "{B}", "-j", "MARK", "--set-mark", "7"])
for ns in [cli, host]:
    c = connect(ns, "198.51.100.1:3000", timeout = 3)
    if not c.ok or c.reply != "inside":
        fail("%s -> 198.51.100.1:3000: %s" % (ns.name, c))
`, v))
	dir := t.TempDir()
	plan, err := json.Marshal(jailPlan{
		Dir: dir,
		Nsh: nshBin,
		Cmds: [][]string{
			{"run", "--sandbox", "--session", session, p},
			{"status", "--session", session},
			{"undo", "--session", session},
			{"run", "--sandbox", "--session", session, p},
			{"down", "--session", session},
		},
	})
	if err != nil {
		t.Fatal(err)
	}
	helper := exec.Command(os.Args[0])
	helper.Env = append(os.Environ(), envJail+"="+string(plan))
	helper.SysProcAttr = &syscall.SysProcAttr{Unshareflags: syscall.CLONE_NEWNS}
	var out, errb bytes.Buffer
	helper.Stdout, helper.Stderr = &out, &errb
	if err := helper.Run(); err != nil {
		t.Fatalf("the jail failed: %v\n%s", err, errb.String())
	}
	if b, err := os.ReadFile(filepath.Join(dir, "trapped")); err == nil {
		t.Errorf("nsh ran programs other than iptables:\n%s", b)
	} else if !os.IsNotExist(err) {
		t.Error(err)
	}
	var results []jailResult
	if err := json.Unmarshal(out.Bytes(), &results); err != nil {
		t.Fatalf("the jail's results: %v\n%s\n%s", err, out.String(), errb.String())
	}
	for _, r := range results {
		if r.Code != 0 {
			t.Errorf("nsh %s: exit %d\nstdout:\n%s\nstderr:\n%s", strings.Join(r.Args, " "), r.Code, r.Stdout, r.Stderr)
		}
		if (r.Args[0] == "undo" || r.Args[0] == "down") && strings.TrimSpace(r.Stderr) != "" {
			t.Errorf("nsh %s complained:\n%s", strings.Join(r.Args, " "), r.Stderr)
		}
	}
	if len(results) != 5 {
		t.Errorf("%d results from the jail, want 5", len(results))
	}
}
