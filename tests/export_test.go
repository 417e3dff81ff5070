package tests

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"
)

// cmdTimeout bounds every command the export tests run: a command that
// hangs (a background process that holds its output) fails its test,
// named, instead of the whole suite's timeout.
const cmdTimeout = 2 * time.Minute

// command is exec.Command with cmdTimeout, and a WaitDelay so that a
// process left behind that holds the output does not hold the test.
func command(name string, args ...string) (*exec.Cmd, context.CancelFunc) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 5 * time.Second
	return cmd, cancel
}

// output runs a command with cmdTimeout and returns its standard output.
func output(name string, args ...string) ([]byte, error) {
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, name, args...)
	cmd.WaitDelay = 5 * time.Second
	out, err := cmd.Output()
	if errors.Is(ctx.Err(), context.DeadlineExceeded) {
		err = fmt.Errorf("%s %s: timed out after %v: %w", name, strings.Join(args, " "), cmdTimeout, err)
	}
	return out, err
}

// runBash runs `bash sh arg` with LAB_STATE=state and cmdTimeout: its
// output goes to a file, which the lab's background processes may keep
// open, not to a pipe that the test would wait on.
func runBash(t *testing.T, sh, arg, state string) {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), cmdTimeout)
	defer cancel()
	cmd := exec.CommandContext(ctx, "bash", sh, arg)
	cmd.Env = append(os.Environ(), "LAB_STATE="+state)
	f, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	cmd.Stdout, cmd.Stderr = f, f
	err = cmd.Run()
	out, _ := os.ReadFile(f.Name())
	if ctx.Err() != nil {
		t.Fatalf("bash %s %s: timed out after %v (it hangs)\n%s", filepath.Base(sh), arg, cmdTimeout, out)
	}
	if err != nil {
		src, _ := os.ReadFile(sh)
		t.Fatalf("bash %s %s: %v\n%s\n--- the script:\n%s", filepath.Base(sh), arg, err, out, src)
	}
}

// nsState is a deep snapshot of one network namespace: its links (kind,
// state, master, MTU, txqueuelen, qdisc, peer), addresses (with broadcast
// and scope), routes of every table, iptables rules of every table and
// sysctls, one fact a line, sorted. MAC addresses, interface indexes and
// link-local addresses are left out: they differ between two builds of
// the same lab by nature.
func nsState(t *testing.T, ns string) string {
	t.Helper()
	var lines []string
	add := func(f string, a ...any) { lines = append(lines, fmt.Sprintf(f, a...)) }
	ipJSON := func(args ...string) []map[string]any {
		out, err := output("ip", append([]string{"-n", ns, "-j"}, args...)...)
		if err != nil {
			t.Fatalf("ip -n %s %v: %v", ns, args, err)
		}
		var v []map[string]any
		if err := json.Unmarshal(out, &v); err != nil {
			t.Fatalf("ip -n %s %v: %v: %s", ns, args, err, out)
		}
		return v
	}
	// The names of the namespaces this one knows by nsid, for veth peers.
	nsids := map[string]string{}
	for _, e := range ipJSON("netns", "list-id") {
		if name, ok := e["name"].(string); ok {
			nsids[fmt.Sprint(e["nsid"])] = name
		}
	}
	links := ipJSON("-d", "link", "show")
	names := map[string]string{}
	for _, l := range links {
		names[fmt.Sprint(l["ifindex"])] = fmt.Sprint(l["ifname"])
	}
	for _, l := range links {
		kind, slave := "", ""
		if li, ok := l["linkinfo"].(map[string]any); ok {
			kind, _ = li["info_kind"].(string)
			slave, _ = li["info_slave_kind"].(string)
			if d, ok := li["info_data"].(map[string]any); ok && kind == "macvlan" {
				kind += " mode " + fmt.Sprint(d["mode"])
			}
		}
		var flags []string
		if fl, ok := l["flags"].([]any); ok {
			for _, f := range fl {
				switch f {
				case "LOWER_UP", "NO-CARRIER", "M-DOWN": // carrier: comes a moment later
				default:
					flags = append(flags, fmt.Sprint(f))
				}
			}
		}
		peer := ""
		if p, ok := l["link"].(string); ok && p != "" {
			peer = p // in the same namespace
		} else if idx, ok := l["link_index"]; ok {
			where := ns
			if id, ok := l["link_netnsid"]; ok {
				where = nsids[fmt.Sprint(id)]
				if where == "" {
					where = "nsid?" // the machine's own, which has no name
				}
			}
			peer = fmt.Sprintf("%s@%s", peerName(t, where, idx, names), where)
		}
		add("link %s kind=%s slave=%s flags=%v master=%v mtu=%v txqlen=%v qdisc=%v peer=%s promisc=%v",
			l["ifname"], kind, slave, flags, l["master"], l["mtu"], l["txqlen"], l["qdisc"], peer, l["promiscuity"])
	}
	for _, l := range ipJSON("addr", "show") {
		infos, _ := l["addr_info"].([]any)
		for _, x := range infos {
			a := x.(map[string]any)
			if a["scope"] == "link" && a["family"] == "inet6" {
				continue
			}
			add("addr %s %s %v/%v brd=%v scope=%v", l["ifname"], a["family"], a["local"], a["prefixlen"], a["broadcast"], a["scope"])
		}
	}
	for _, fam := range []string{"-4", "-6"} {
		for _, r := range ipJSON(fam, "route", "show", "table", "all") {
			dst := fmt.Sprint(r["dst"])
			if strings.HasPrefix(dst, "fe80::") || strings.HasPrefix(dst, "ff00::") || (fam == "-6" && r["type"] == "multicast") {
				continue // link-local: comes with a link
			}
			delete(r, "expires")
			// linkdown is the carrier, as LOWER_UP of a link: a tun's
			// goes when the process that made it has exited, a moment
			// after.
			if fl, ok := r["flags"].([]any); ok {
				r["flags"] = slices.DeleteFunc(fl, func(f any) bool { return f == "linkdown" })
			}
			b, _ := json.Marshal(r)
			add("route %s %s", fam, b)
		}
	}
	for _, save := range []string{"iptables-save", "ip6tables-save"} {
		out, err := output("ip", "netns", "exec", ns, save)
		if err != nil {
			t.Fatalf("%s in %s: %v", save, ns, err)
		}
		table := ""
		for _, line := range strings.Split(string(out), "\n") {
			if line == "" || strings.HasPrefix(line, "#") || line == "COMMIT" {
				continue
			}
			if strings.HasPrefix(line, "*") {
				table = line
				continue
			}
			if i := strings.Index(line, " ["); i > 0 && strings.HasPrefix(line, ":") {
				line = line[:i]
			}
			add("%s %s %s", save, table, line)
		}
	}
	out, err := output("ip", "netns", "exec", ns, "sysctl", "-a")
	if err != nil && len(out) == 0 {
		t.Fatalf("sysctl -a in %s: %v", ns, err)
	}
	for _, line := range strings.Split(string(out), "\n") {
		key, _, _ := strings.Cut(line, " = ")
		if !volatileSysctl(key) && (strings.HasPrefix(key, "net.ipv4.") || strings.HasPrefix(key, "net.ipv6.") || strings.HasPrefix(key, "net.bridge.") || strings.HasPrefix(key, "net.core.")) {
			add("sysctl %s", line)
		}
	}
	sort.Strings(lines)
	return strings.Join(lines, "\n")
}

// volatileSysctl reports whether a sysctl differs between two namespaces
// made alike: random keys, and counters.
func volatileSysctl(key string) bool {
	for _, s := range []string{"tcp_fastopen_key", "stable_secret", "base_reachable_time", "hash_", "nf_conntrack_count", "rt_cache_rebuild_count"} {
		if strings.Contains(key, s) {
			return true
		}
	}
	return false
}

// peerName names the link with index idx in namespace ns.
func peerName(t *testing.T, ns string, idx any, here map[string]string) string {
	if ns == "" || ns == "nsid?" {
		return "?"
	}
	out, err := output("ip", "-n", ns, "-j", "link", "show")
	if err != nil {
		return "?"
	}
	var v []map[string]any
	json.Unmarshal(out, &v)
	for _, l := range v {
		if fmt.Sprint(l["ifindex"]) == fmt.Sprint(idx) {
			return fmt.Sprint(l["ifname"])
		}
	}
	return "?"
}

// labState is the deep snapshot of a lab: its host namespace (the
// sandbox, renamed HOST) and each of its namespaces.
func deepLab(t *testing.T, host string, nss []string) string {
	t.Helper()
	var b strings.Builder
	for _, ns := range append([]string{host}, nss...) {
		fmt.Fprintf(&b, "== netns %s\n%s\n", ns, nsState(t, ns))
	}
	return strings.ReplaceAll(b.String(), host, "HOST")
}

// machineState is the deep snapshot of the test's own namespace, and the
// list of named namespaces.
func machineState(t *testing.T) string {
	t.Helper()
	ents, _ := os.ReadDir("/run/netns")
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	self, err := os.Readlink("/proc/self/ns/net")
	if err != nil {
		t.Fatal(err)
	}
	// The machine's own namespace, named for ip -n while the snapshot
	// is taken.
	pin := uniq("self")
	if out, err := output("ip", "netns", "attach", pin, fmt.Sprint(os.Getpid())); err != nil {
		t.Fatalf("ip netns attach: %v: %s", err, out)
	}
	defer output("ip", "netns", "delete", pin)
	// /etc/netns is the machine's too: a lab's files there must go with it.
	var etc []string
	filepath.Walk("/etc/netns", func(path string, info os.FileInfo, err error) error {
		if err == nil && path != "/etc/netns" {
			etc = append(etc, path)
		}
		return nil
	})
	return fmt.Sprintf("netns %v (%s)\netc/netns %v\n%s", names, self, etc, nsState(t, pin))
}

// labNamespaces returns the namespaces (not the sandbox) that a
// session's journal says it made and did not delete.
func labNamespaces(t *testing.T, session string) []string {
	t.Helper()
	r := mustNsh(t, "status", "--session", session, "--json")
	var st []struct {
		Steps []struct {
			Name string `json:"name"`
			Ops  []struct {
				Kind    string   `json:"kind"`
				Explain []string `json:"explain"`
			} `json:"ops"`
		} `json:"steps"`
	}
	if err := json.Unmarshal([]byte(r.stdout), &st); err != nil {
		t.Fatalf("nsh status --json: %v\n%s", err, r.stdout)
	}
	var out []string
	for _, s := range st {
		for _, step := range s.Steps {
			for _, op := range step.Ops {
				switch {
				case step.Name == "sandbox":
				case op.Kind == "netns.add":
					name := strings.TrimPrefix(op.Explain[0], "ip netns add ")
					if !slices.Contains(out, name) {
						out = append(out, name)
					}
				case op.Kind == "netns.delete":
					// Made and deleted again (until another add).
					name := strings.TrimPrefix(op.Explain[0], "ip netns delete ")
					out = slices.DeleteFunc(out, func(n string) bool { return n == name })
				}
			}
		}
	}
	return out
}

// TestExportBuildsTheSameLab checks, for every script of scripts/, that
// the script nsh export writes (with --sandbox) builds, run by bash, the
// same lab as nsh run --sandbox: the same deep snapshot of the sandbox
// and of every namespace, once the sandboxes' names are set aside; and
// that its down leaves the machine exactly as it was before up.
func TestExportBuildsTheSameLab(t *testing.T) {
	requireRoot(t)
	n := 0
	for _, s := range labScripts(t) {
		n++
		script, name, need := s.path, s.name, s.need
		if need != "" {
			// A script that needs a machine a test makes (vxlan-site.star
			// needs machine-a or machine-b, which tests/vxlan_test.go
			// makes) cannot be run here: its export must fail, at the
			// line that needs it, and write nothing.
			t.Run(name, func(t *testing.T) {
				t.Logf("%s is not built here: it needs %s", s.file, need)
				sh := filepath.Join(t.TempDir(), name+".sh")
				r := nsh(t, "export", "--sandbox", script, "-o", sh)
				if r.code == 0 || !strings.Contains(r.stderr, s.file+":") {
					t.Errorf("nsh export of %s, which needs %s, did not fail at a line of it: %s", s.file, need, r)
				}
				if _, err := os.Stat(sh); err == nil {
					t.Errorf("nsh export of %s failed but wrote %s", s.file, sh)
				}
			})
			continue
		}
		t.Run(name, func(t *testing.T) {
			// The lab as nsh builds it.
			downAtEnd(t, name)
			mustNsh(t, "run", "--sandbox", "--session", name, script)
			nss := labNamespaces(t, name)
			want := deepLab(t, sandboxOf(t, name), nss)
			mustNsh(t, "down", "--session", name)

			// The lab as the exported script builds it.
			sh := filepath.Join(t.TempDir(), name+".sh")
			mustNsh(t, "export", "--sandbox", "--session", name, script, "-o", sh)
			before := machineState(t)
			state := filepath.Join(t.TempDir(), "state")
			downed := false
			t.Cleanup(func() {
				if !downed { // up failed or hung: remove what it made
					cmd, cancel := command("bash", sh, "down")
					defer cancel()
					cmd.Env = append(os.Environ(), "LAB_STATE="+state)
					cmd.Run()
				}
			})
			runBash(t, sh, "up", state)
			got := deepLab(t, name+"-host", nss)
			downed = true
			runBash(t, sh, "down", state)
			if got != want {
				t.Errorf("the exported script built another lab than nsh run:\n%s", diffLines(want, got))
			}
			if after := machineState(t); after != before {
				t.Errorf("the exported script's down did not restore the machine:\n%s", diffLines(before, after))
			}
		})
	}
	if n < 10 {
		t.Errorf("only %d scripts", n)
	}
}

// TestExportSession checks nsh export --session on a lab built in the
// REPL: the script builds the same lab, and its down removes it all.
func TestExportSession(t *testing.T) {
	requireRoot(t)
	name := uniq("exp")
	downAtEnd(t, name)
	r := nshInput(t, `
a = netns("a")
b = netns("b")
x, y = veth("x", "y", ns = a, peer_ns = b)
x.addr("10.9.0.1/24").up()
y.addr("10.9.0.2/24", brd = "+").up()
br = bridge("br0")
br.addr("10.8.0.1/24").up()
u, v = veth("u", "v", peer_ns = a)
u.master(br).up()
v.set_mtu(1400)
ip_forward(host)
masquerade("10.9.0.0/24")
a.route("default", via = "10.9.0.2")
undo()
a.route("10.7.0.0/16", via = "10.9.0.2")
`, "repl", "--sandbox", "--session", name)
	if r.code != 0 {
		t.Fatalf("repl: %s", r)
	}
	nss := labNamespaces(t, name)
	want := deepLab(t, sandboxOf(t, name), nss)
	sh := filepath.Join(t.TempDir(), name+".sh")
	mustNsh(t, "export", "--session", name, "-o", sh)
	src, _ := os.ReadFile(sh)
	if strings.Contains(string(src), "default via") {
		t.Errorf("the export has the route that undo() removed:\n%s", src)
	}
	mustNsh(t, "down", "--session", name)
	before := machineState(t)
	state := filepath.Join(t.TempDir(), "state")
	for _, arg := range []string{"up", "down"} {
		runBash(t, sh, arg, state)
		if arg == "up" {
			if got := deepLab(t, name+"-host", nss); got != want {
				t.Errorf("the exported script built another lab than the REPL:\n%s", diffLines(want, got))
			}
		}
	}
	if after := machineState(t); after != before {
		t.Errorf("the exported script's down did not restore the machine:\n%s", diffLines(before, after))
	}
}
