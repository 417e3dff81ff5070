// The oracle: every lab of the five seed tutorials, built twice, once by
// the tutorial's own commands (tests/oracle/LAB.sh, run by bash in a
// stand-in host namespace) and once by nsh (scripts/LAB.star under
// --sandbox), must end in the same state, compared deeply; and so must
// the lab rebuilt by bash from what nsh's --explain printed.
package tests

import (
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// oracleLabs are the labs of the seeds, each a script in scripts/ and the
// tutorial's commands in tests/oracle/, named alike.
var oracleLabs = []string{
	"seed000-1-netns",
	"seed000-2-veth",
	"seed000-3-move-back",
	"seed000-4-clone",
	"seed000-5-bridge",
	"seed001-1-netns",
	"seed001-2-veth",
	"seed001-3-bridge",
	"seed001-4-internet",
	"seed002-1-veth",
	"seed002-2-bridge",
	"seed002-3-host",
	"seed002-4-internet",
	"seed002-5-dnat",
	"seed003-1-pair",
	"seed003-2-lan",
	"seed003-3-internet",
	"seed004-1-netns",
	"seed004-2-delete",
	"seed004-3-dummy",
	"seed004-4-veth-pid",
}

// notOracleLabs are the seed scripts that are not compared with an
// oracle here, each with the test that covers it instead.
var notOracleLabs = map[string]string{
	// Containers: their state is processes and PID, UTS, IPC and mount
	// namespaces as much as the network.
	"seed000-6-clone":      "seed 000's clone() program as a container: tests/containers_test.go",
	"seed001-3-containers": "seed 001's mini container: tests/containers_test.go",
	"seed003-1-pid":        "seed 003's PID namespaces: tests/containers_test.go",
	"seed002-dualstack":    "not a lab of the tutorial: seed 002's lab with IPv6 beside IPv4, tests/kernel6_test.go",
}

// TestOracleLabsListed checks that every seed script has its oracle and
// is in oracleLabs, or says in notOracleLabs which test covers it, so that
// no lab goes uncompared.
func TestOracleLabsListed(t *testing.T) {
	listed := map[string]bool{}
	for _, l := range oracleLabs {
		listed[l] = true
		if _, err := os.Stat(filepath.Join(repoRoot, "tests", "oracle", l+".sh")); err != nil {
			t.Errorf("lab %s has no oracle: %v", l, err)
		}
		if _, err := os.Stat(filepath.Join(repoRoot, "scripts", l+".star")); err != nil {
			t.Errorf("lab %s has no script: %v", l, err)
		}
	}
	scripts, _ := filepath.Glob(filepath.Join(repoRoot, "scripts", "seed*.star"))
	for _, s := range scripts {
		if name := strings.TrimSuffix(filepath.Base(s), ".star"); !listed[name] && notOracleLabs[name] == "" {
			t.Errorf("scripts/%s.star is not in oracleLabs", name)
		}
	}
}

// TestOracle builds each lab with the tutorial's commands, with nsh, and
// with bash from nsh's --explain, and fails on any difference in the
// state they leave.
func TestOracle(t *testing.T) {
	requireRoot(t)
	for _, bin := range []string{"ip", "nsenter", "sysctl", "ss", "iptables-save", "bash"} {
		if _, err := exec.LookPath(bin); err != nil {
			t.Fatalf("the oracle needs %s: %v", bin, err)
		}
	}
	fresh := freshSysctls(t)
	keepEtcNetns(t)
	for _, lab := range oracleLabs {
		t.Run(lab, func(t *testing.T) {
			waitNames(t, "earth", "neptune", "internet", "netns1", "netns2", "netns_0", "netns_1", "netnstest", "child")
			want, explained := nshState(t, lab, fresh)
			got := oracleState(t, lab, fresh, filepath.Join(repoRoot, "tests", "oracle", lab+".sh"))
			if d := diffStates(got, want); d != "" {
				t.Errorf("nsh's %s.star differs from the tutorial's commands (- tutorial, + nsh):\n%s", lab, d)
			}
			replay := filepath.Join(t.TempDir(), lab+"-explain.sh")
			if err := os.WriteFile(replay, []byte(explained), 0o644); err != nil {
				t.Fatal(err)
			}
			again := oracleState(t, lab, fresh, replay)
			if d := diffStates(got, again); d != "" {
				t.Errorf("bash replaying nsh's --explain of %s.star differs from the tutorial's commands (- tutorial, + replay):\n%s\nreplay:\n%s", lab, d, explained)
			}
		})
	}
}

// TestOracleBuiltins compares what every builtin that changes the kernel
// sets, with the parameters the seeds do not use, with what its iproute2
// or iptables command sets (tests/oracle/audit).
func TestOracleBuiltins(t *testing.T) {
	requireRoot(t)
	fresh := freshSysctls(t)
	dir := filepath.Join(repoRoot, "tests", "oracle", "audit")
	waitNames(t, "a")
	want, explained := nshStateOf(t, dir, "builtins", fresh)
	got := oracleState(t, "builtins", fresh, filepath.Join(dir, "builtins.sh"))
	if d := diffStates(got, want); d != "" {
		t.Errorf("nsh's builtins differ from their iproute2 commands (- iproute2, + nsh):\n%s", d)
	}
	replay := filepath.Join(t.TempDir(), "builtins-explain.sh")
	if err := os.WriteFile(replay, []byte(explained), 0o644); err != nil {
		t.Fatal(err)
	}
	if d := diffStates(got, oracleState(t, "builtins", fresh, replay)); d != "" {
		t.Errorf("bash replaying --explain differs from the iproute2 commands (- iproute2, + replay):\n%s\nreplay:\n%s", d, explained)
	}
}

// nshState runs the lab's script under --sandbox --explain, takes its
// state, tears it down, and returns the state and a bash script made of
// what --explain printed.
func nshState(t *testing.T, lab string, fresh map[string]string) ([]string, string) {
	t.Helper()
	return nshStateOf(t, filepath.Join(repoRoot, "scripts"), lab, fresh)
}

// nshStateOf is nshState for the script LAB.star in dir.
func nshStateOf(t *testing.T, dir, lab string, fresh map[string]string) ([]string, string) {
	t.Helper()
	session := uniq("or")
	downAtEnd(t, session)
	before := netnsNames()
	r := nshIn(t, dir, "run", "--sandbox", "--explain", "--session", session, lab+".star")
	if r.code != 0 {
		t.Fatalf("nsh run %s.star: %s", lab, r)
	}
	var sandbox string
	var labNS []string
	for n := range netnsNames() {
		switch {
		case before[n]:
		case strings.HasPrefix(n, "nsh-sb-"+session+"-"):
			sandbox = n
		default:
			labNS = append(labNS, n)
		}
	}
	if sandbox == "" {
		t.Fatalf("no sandbox namespace for session %s", session)
	}
	state := takeState(t, sandbox, labNS, fresh)
	mustNsh(t, "down", "--session", session)
	return state, explainScript(r.stderr, sandbox)
}

// explainScript turns what --explain printed ("+ CMD" lines) into a bash
// script that builds the same lab in a stand-in host: it leaves out the
// sandbox's own creation (the stand-in is made the same way), names the
// stand-in where a command names the sandbox, and gives a command that
// names the pid of a process nsh started (ip link set X netns PID) the
// pid of the process the replay started instead.
func explainScript(stderr, sandbox string) string {
	var b strings.Builder
	b.WriteString(oraclePrelude)
	pidRE := regexp.MustCompile(` netns ([0-9]+)\b`)
	for _, line := range strings.Split(stderr, "\n") {
		cmd, ok := strings.CutPrefix(line, "+ ")
		if !ok {
			continue
		}
		if cmd == "ip netns add "+sandbox || cmd == "ip -n "+sandbox+" link set lo up" {
			continue
		}
		cmd = strings.ReplaceAll(cmd, sandbox, `"$ORACLE_HOST"`)
		if checkRE.MatchString(cmd) && !strings.HasSuffix(cmd, "&") {
			// A check the script ran (exec_in), which may fail on purpose.
			cmd += " || true"
		}
		cmd = pidRE.ReplaceAllStringFunc(cmd, func(m string) string {
			if strings.TrimSpace(m) == "netns 1" {
				// The machine's first process: in the stand-in host, the
				// replay's own shell.
				return " netns $$"
			}
			return ` netns "$ORACLE_PID"`
		})
		b.WriteString(cmd + "\n")
		if strings.HasSuffix(cmd, "&") {
			if m := regexp.MustCompile(`^ip netns exec (\S+) `).FindStringSubmatch(cmd); m != nil {
				b.WriteString("ORACLE_PID=$!; in_netns " + m[1] + " $ORACLE_PID\n")
			}
		}
	}
	return b.String()
}

// checkRE matches what --explain shows of exec_in with a command string:
// a check, not a change.
var checkRE = regexp.MustCompile(`^(ip netns exec \S+ )?/bin/sh -c `)

// oraclePrelude is sourced by every oracle script and replay: it stops at
// the first failing command, and defines in_netns, which waits until a
// process started in the background (ip netns exec NS CMD &) is in its
// namespace, so that a later `netns PID` names that namespace.
const oraclePrelude = `set -eu
in_netns() {
	local want
	want=$(stat -L -c %i "/run/netns/$1")
	while [ "$(stat -L -c %i "/proc/$2/ns/net" 2>/dev/null)" != "$want" ]; do
		kill -0 "$2"
		sleep 0.01
	done
}
`

// oracleState runs a bash script in a new stand-in host namespace (with
// lo up, as nsh's sandbox), takes the state it leaves, and removes the
// namespaces it made, the processes in them, and their /etc/netns files.
func oracleState(t *testing.T, lab string, fresh map[string]string, script string) []string {
	t.Helper()
	before := netnsNames()
	standin := uniq("orh")
	if out, err := exec.Command("ip", "netns", "add", standin).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add %s: %v: %s", standin, err, out)
	}
	var made []string
	defer func() { removeLab(t, append(made, standin)) }()
	if out, err := exec.Command("ip", "-n", standin, "link", "set", "lo", "up").CombinedOutput(); err != nil {
		t.Fatalf("lo up in %s: %v: %s", standin, err, out)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "nsenter", "--net=/run/netns/"+standin, "bash", "-c",
		oraclePrelude+`. "$1"`, "oracle", script)
	cmd.Dir = t.TempDir()
	cmd.Env = append(os.Environ(), "ORACLE_HOST="+standin)
	// The background processes of the lab (a server, a process whose
	// namespace a link moves to) outlive the script: its output is a
	// file, which they may hold open, not a pipe to wait for.
	outf, err := os.CreateTemp(t.TempDir(), "out")
	if err != nil {
		t.Fatal(err)
	}
	defer outf.Close()
	cmd.Stdout, cmd.Stderr = outf, outf
	err = cmd.Run()
	out, _ := os.ReadFile(outf.Name())
	for n := range netnsNames() {
		if !before[n] && n != standin {
			made = append(made, n)
		}
	}
	if err != nil {
		t.Fatalf("bash %s: %v\n%s", filepath.Base(script), err, out)
	}
	return takeState(t, standin, made, fresh)
}

// removeLab stops the processes in the namespaces, deletes them, and
// removes their /etc/netns files.
func removeLab(t *testing.T, names []string) {
	inos := map[uint64]bool{}
	for _, n := range names {
		var st syscall.Stat_t
		if syscall.Stat("/run/netns/"+n, &st) == nil {
			inos[st.Ino] = true
		}
	}
	procs, _ := filepath.Glob("/proc/[0-9]*/ns/net")
	for _, p := range procs {
		var st syscall.Stat_t
		if syscall.Stat(p, &st) == nil && inos[st.Ino] {
			pid, _ := strconv.Atoi(strings.Split(p, "/")[2])
			if pid > 1 && pid != os.Getpid() {
				syscall.Kill(pid, syscall.SIGKILL)
			}
		}
	}
	for _, n := range names {
		exec.Command("ip", "netns", "delete", n).Run()
		os.RemoveAll(filepath.Join("/etc/netns", n))
	}
}

func netnsNames() map[string]bool {
	m := map[string]bool{}
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		m[e.Name()] = true
	}
	return m
}

// takeState takes the state of the lab, waiting until it stops changing
// by itself (a bridge port's state) and no IPv6 address is tentative
// (duplicate address detection, after which its local route appears).
func takeState(t *testing.T, host string, lab []string, fresh map[string]string) []string {
	t.Helper()
	var prev []string
	for i := 0; i < 50; i++ {
		s := deepState(t, host, lab, fresh)
		settled := !strings.Contains(strings.Join(s, "\n"), `tentative=true`)
		if i > 0 && settled && strings.Join(s, "\n") == strings.Join(prev, "\n") {
			return s
		}
		prev = s
		time.Sleep(300 * time.Millisecond)
	}
	return prev
}

// deepState is the state of the lab's namespaces, host (the stand-in or
// the sandbox) named "host", as sorted lines "NS: WHAT: ...": links (kind,
// flags, operstate, mtu, txqueuelen, master, veth peer as name@namespace,
// and every other attribute ip -d shows, but those the kernel makes up:
// index, MAC address, timers), addresses, routes of every table, rules,
// iptables and ip6tables of every table with policies, sysctls that differ
// from a fresh namespace, listening sockets, and /etc/netns files.
func deepState(t *testing.T, host string, lab []string, fresh map[string]string) []string {
	t.Helper()
	all := append([]string{host}, lab...)
	name := func(n string) string {
		if n == host {
			return "host"
		}
		return n
	}
	var out []string
	names := append([]string(nil), lab...)
	sort.Strings(names)
	out = append(out, "namespaces: "+strings.Join(names, " "))
	// nsids: what each namespace calls the others.
	nsids := map[string]map[int]string{}
	for _, n := range all {
		nsids[n] = map[int]string{}
		for _, line := range strings.Split(run(t, "ip", "-n", n, "netns", "list-id"), "\n") {
			var id int
			var other string
			if _, err := fmt.Sscanf(line, "nsid %d (iproute2 netns name: %s", &id, &other); err == nil {
				nsids[n][id] = strings.TrimSuffix(other, ")")
			}
		}
	}
	links := map[string]map[int]string{}
	var raw = map[string][]map[string]any{}
	for _, n := range all {
		var ls []map[string]any
		if err := json.Unmarshal([]byte(run(t, "ip", "-n", n, "-d", "-j", "link", "show")), &ls); err != nil {
			t.Fatalf("ip -d -j link in %s: %v", n, err)
		}
		raw[n] = ls
		links[n] = map[int]string{}
		for _, l := range ls {
			links[n][int(l["ifindex"].(float64))] = l["ifname"].(string)
		}
	}
	for _, n := range all {
		p := name(n) + ": "
		for _, l := range raw[n] {
			ifname := l["ifname"].(string)
			if li, ok := l["link_index"].(float64); ok {
				peerNS := n
				if id, ok := l["link_netnsid"].(float64); ok {
					peerNS = nsids[n][int(id)]
				}
				peer := "if?"
				if pl, ok := links[peerNS]; ok {
					peer = pl[int(li)]
				}
				l["peer"] = peer + "@" + name(peerNS)
				if peerNS == "" {
					l["peer"] = "(another namespace)"
				}
			}
			for _, kv := range flatten("", l) {
				if !volatileLinkKey.MatchString(kv[0]) {
					out = append(out, p+"link "+ifname+": "+kv[0]+"="+kv[1])
				}
			}
		}
		out = append(out, addrLines(t, n, p)...)
		for _, fam := range []string{"-4", "-6"} {
			for _, r := range jsonList(t, "ip", "-n", n, fam, "-j", "route", "show", "table", "all") {
				out = append(out, p+"route"+fam+": "+routeLine(r))
			}
			for _, r := range jsonList(t, "ip", "-n", n, fam, "-j", "rule", "show") {
				out = append(out, p+"rule"+fam+": "+flatLine(r, nil))
			}
		}
		for _, save := range []string{"iptables-save", "ip6tables-save"} {
			for _, l := range strings.Split(stripSave(run(t, "ip", "netns", "exec", n, save)), "\n") {
				if l != "" {
					out = append(out, p+save+": "+nshComment.ReplaceAllString(l, ""))
				}
			}
		}
		for k, v := range sysctls(t, n) {
			if f, ok := fresh[freshKey(k)]; (!ok || f != v) && !oracleVolatileSysctl.MatchString(k) {
				out = append(out, p+"sysctl: "+k+" = "+v)
			}
		}
		for _, l := range strings.Split(run(t, "ip", "netns", "exec", n, "ss", "-Hltnu"), "\n") {
			if f := strings.Fields(l); len(f) >= 5 {
				out = append(out, p+"listen: "+f[0]+" "+f[4])
			}
		}
		if n != host {
			filepath.Walk(filepath.Join("/etc/netns", n), func(path string, info os.FileInfo, err error) error {
				if err == nil && !info.IsDir() {
					b, _ := os.ReadFile(path)
					out = append(out, fmt.Sprintf("%setc: %s: %q", p, strings.TrimPrefix(path, "/etc/netns/"), b))
				}
				return nil
			})
		}
	}
	sort.Strings(out)
	return out
}

// nshComment is the comment nsh marks its rules with, so that it deletes
// only its own: the one difference from the tutorials' rules, left out of
// the comparison (docs/from-the-tutorials.md).
var nshComment = regexp.MustCompile(` -m comment --comment "?nsh:[^" ]*"?`)

// volatileLinkKey matches the attributes of a link that the kernel makes
// up anew for every link (index, MAC address, the bridge ID made of it),
// timers and counters, and what takeState replaces (link_index and
// link_netnsid, by peer).
var volatileLinkKey = regexp.MustCompile(`^(ifindex|link_index|link_netnsid|address|perm_address|broadcast|stats.*|.*timer.*|.*bridge_id|.*root_id|.*designated_.*|.*root_port|.*root_path_cost|.*topology_change.*)$`)

var oracleVolatileSysctl = regexp.MustCompile(`(nf_conntrack_count|stable_secret|tcp_fastopen_key|\.base_reachable_time|\.base_reachable_time_ms|netdev_rss_key|ipv6\.conf\..*\.use_oif_addrs_only)`)

func addrLines(t *testing.T, n, p string) []string {
	var out []string
	for _, l := range jsonList(t, "ip", "-n", n, "-j", "addr", "show") {
		for _, a := range asList(l["addr_info"]) {
			a := a.(map[string]any)
			delete(a, "valid_life_time")
			delete(a, "preferred_life_time")
			if s, _ := a["local"].(string); strings.HasPrefix(s, "fe80:") {
				a["local"] = "fe80::(from the MAC)"
			}
			out = append(out, p+"addr "+l["ifname"].(string)+": "+flatLine(a, nil))
		}
	}
	return out
}

func routeLine(r map[string]any) string {
	if s, _ := r["dst"].(string); strings.HasPrefix(s, "fe80::") && s != "fe80::/64" {
		r["dst"] = "fe80::(from the MAC)"
	}
	return flatLine(r, nil)
}

func flatLine(m map[string]any, skip *regexp.Regexp) string {
	var parts []string
	for _, kv := range flatten("", m) {
		if skip == nil || !skip.MatchString(kv[0]) {
			parts = append(parts, kv[0]+"="+kv[1])
		}
	}
	return strings.Join(parts, " ")
}

// flatten turns a JSON value into sorted key=value pairs, with dotted
// keys for nested objects.
func flatten(prefix string, v any) [][2]string {
	var out [][2]string
	switch v := v.(type) {
	case map[string]any:
		keys := make([]string, 0, len(v))
		for k := range v {
			keys = append(keys, k)
		}
		sort.Strings(keys)
		for _, k := range keys {
			key := k
			if prefix != "" {
				key = prefix + "." + k
			}
			out = append(out, flatten(key, v[k])...)
		}
	case []any:
		var parts []string
		for _, x := range v {
			b, _ := json.Marshal(x)
			parts = append(parts, string(b))
		}
		out = append(out, [2]string{prefix, "[" + strings.Join(parts, ",") + "]"})
	default:
		b, _ := json.Marshal(v)
		out = append(out, [2]string{prefix, string(b)})
	}
	return out
}

func asList(v any) []any {
	l, _ := v.([]any)
	return l
}

func jsonList(t *testing.T, args ...string) []map[string]any {
	t.Helper()
	var l []map[string]any
	s := strings.TrimSpace(run(t, args...))
	if s == "" {
		return nil
	}
	if err := json.Unmarshal([]byte(s), &l); err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, s)
	}
	return l
}

// run runs a command and returns its standard output; it fails the test
// if the command fails.
func run(t *testing.T, args ...string) string {
	t.Helper()
	var out, errb bytes.Buffer
	cmd := exec.Command(args[0], args[1:]...)
	cmd.Stdout, cmd.Stderr = &out, &errb
	if err := cmd.Run(); err != nil {
		t.Fatalf("%s: %v: %s", strings.Join(args, " "), err, errb.String())
	}
	return out.String()
}

// sysctls returns the net.* sysctls of a namespace.
func sysctls(t *testing.T, n string) map[string]string {
	t.Helper()
	cmd := exec.Command("ip", "netns", "exec", n, "sysctl", "-a")
	out, _ := cmd.Output() // some keys cannot be read: sysctl says so and goes on
	m := map[string]string{}
	for _, l := range strings.Split(string(out), "\n") {
		k, v, ok := strings.Cut(l, " = ")
		if ok && strings.HasPrefix(k, "net.") {
			m[k] = v
		}
	}
	return m
}

// perIf matches the sysctls of one interface, which a fresh namespace has
// for lo only: they are compared with the fresh namespace's defaults.
var perIf = regexp.MustCompile(`^(net\.ipv[46]\.(conf|neigh))\.([^.]+)\.(.*)$`)

func freshKey(k string) string {
	if m := perIf.FindStringSubmatch(k); m != nil && m[3] != "all" && m[3] != "lo" {
		return m[1] + ".default." + m[4]
	}
	return k
}

// freshSysctls returns the sysctls of a new namespace with lo up, as the
// stand-in host and nsh's sandbox are made.
func freshSysctls(t *testing.T) map[string]string {
	t.Helper()
	n := uniq("orf")
	run(t, "ip", "netns", "add", n)
	defer exec.Command("ip", "netns", "delete", n).Run()
	run(t, "ip", "-n", n, "link", "set", "lo", "up")
	return sysctls(t, n)
}

// diffStates returns the lines only in a ("-") and only in b ("+").
func diffStates(a, b []string) string {
	count := func(l []string) map[string]int {
		m := map[string]int{}
		for _, x := range l {
			m[x]++
		}
		return m
	}
	ma, mb := count(a), count(b)
	var d []string
	for x, n := range ma {
		for i := mb[x]; i < n; i++ {
			d = append(d, "- "+x)
		}
	}
	for x, n := range mb {
		for i := ma[x]; i < n; i++ {
			d = append(d, "+ "+x)
		}
	}
	sort.SliceStable(d, func(i, j int) bool {
		if d[i][2:] == d[j][2:] {
			return d[i] < d[j]
		}
		return d[i][2:] < d[j][2:]
	})
	return strings.Join(d, "\n")
}

// keepEtcNetns removes /etc/netns when the test ends if it was not there
// before: the tutorials' `mkdir -p /etc/netns/NAME` makes it, and only the
// NAME directories go with their labs.
func keepEtcNetns(t *testing.T) {
	if _, err := os.Stat("/etc/netns"); err == nil {
		return
	}
	t.Cleanup(func() { os.Remove("/etc/netns") })
}
