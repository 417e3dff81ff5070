package tests

import (
	"bytes"
	"context"
	"github.com/nshlab/nsh/builtins/ops"
	"github.com/nshlab/nsh/builtins/session"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"testing"
	"time"
)

// unprivileged returns a command that runs nsh with args as the user
// nobody, with no groups: a copy of the binary that nobody may run, and
// TMPDIR set to tmp.
func unprivileged(t *testing.T, tmp string, args ...string) *exec.Cmd {
	t.Helper()
	bin := filepath.Join(nobodyDir(t), "nsh")
	cmd := exec.Command("setpriv", append([]string{"--reuid=65534", "--regid=65534", "--clear-groups", "--", bin}, args...)...)
	cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "HOME="+tmp)
	return cmd
}

var nobodyBin string

// nobodyDir returns a directory, readable by all, that holds a copy of
// the nsh binary.
func nobodyDir(t *testing.T) string {
	t.Helper()
	if nobodyBin != "" {
		return nobodyBin
	}
	dir, err := os.MkdirTemp("", "nsh-nobody-")
	if err != nil {
		t.Fatal(err)
	}
	os.Chmod(dir, 0o755)
	src, err := os.ReadFile(nshBin)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(dir, "nsh"), src, 0o755); err != nil {
		t.Fatal(err)
	}
	nobodyBin = dir
	return dir
}

// nobodyTemp returns a fresh directory that nobody may write to.
func nobodyTemp(t *testing.T) string {
	t.Helper()
	dir := t.TempDir()
	if err := os.Chmod(dir, 0o777); err != nil {
		t.Fatal(err)
	}
	// t.TempDir's parent is private to root.
	for d := filepath.Dir(dir); d != os.TempDir() && d != "/"; d = filepath.Dir(d) {
		os.Chmod(d, 0o755)
	}
	return dir
}

// explainLines returns the lines of --explain ("+ CMD") in out, with the
// sandbox's name (that of the first namespace added) replaced.
func explainLines(out string) []string {
	var cmds []string
	sandbox := ""
	for _, line := range strings.Split(out, "\n") {
		if !strings.HasPrefix(line, "+ ") {
			continue
		}
		if sandbox == "" && strings.HasPrefix(line, "+ ip netns add nsh-sb-") {
			sandbox = strings.TrimPrefix(line, "+ ip netns add ")
		}
		if sandbox != "" {
			line = strings.ReplaceAll(line, sandbox, "SANDBOX")
		}
		cmds = append(cmds, line)
	}
	return cmds
}

var notRun = regexp.MustCompile(`a plan does not run`)

// TestPlanAsNobody checks, for every script of scripts/, that nsh plan
// run as an unprivileged user prints the commands that nsh run --explain
// prints as root, in the same order, and leaves nothing behind: no
// namespace, no session, no file in its TMPDIR. A plan may stop early only
// where the script computes with the output of a command, which a plan
// does not run, and it must say so; its commands must still be all of
// the run's.
func TestPlanAsNobody(t *testing.T) {
	requireRoot(t)
	if _, err := exec.LookPath("setpriv"); err != nil {
		t.Fatal("setpriv (util-linux) is needed to run nsh as an unprivileged user")
	}
	n := 0
	for _, s := range labScripts(t) {
		n++
		script, name, need := s.path, s.name, s.need
		if need != "" {
			// A script that needs a machine a test makes (vxlan-site.star
			// needs machine-a or machine-b) stops here in a run and in a
			// plan alike: the plan must fail at a line of it.
			t.Run(name, func(t *testing.T) {
				t.Logf("%s is not planned here: it needs %s", s.file, need)
				r := nsh(t, "plan", "--sandbox", "--session", name, script)
				if r.code == 0 || !strings.Contains(r.stderr, s.file+":") {
					t.Errorf("nsh plan of %s, which needs %s, did not fail at a line of it: %s", s.file, need, r)
				}
			})
			continue
		}
		t.Run(name, func(t *testing.T) {
			downAtEnd(t, name)
			r := mustNsh(t, "run", "--sandbox", "--explain", "--session", name, script)
			want := explainLines(r.stderr)
			// The run names by PID the namespace of a process it
			// started; a plan, which starts none, names it by name.
			st, err := session.Inspect(name)
			if err != nil {
				t.Fatal(err)
			}
			want = namesForPids(want, st)
			mustNsh(t, "down", "--session", name)

			before := snapshot(t)
			tmp := nobodyTemp(t)
			ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
			defer cancel()
			cmd := unprivileged(t, tmp, "plan", "--sandbox", "--session", name, script)
			cmd = exec.CommandContext(ctx, cmd.Path, cmd.Args[1:]...)
			cmd.Env = append(os.Environ(), "TMPDIR="+tmp, "HOME="+tmp)
			var stdout, stderr bytes.Buffer
			cmd.Stdout, cmd.Stderr = &stdout, &stderr
			err = cmd.Run()
			if err != nil && !notRun.MatchString(stderr.String()) {
				t.Fatalf("nsh plan as nobody: %v\nstdout:\n%s\nstderr:\n%s", err, stdout.String(), stderr.String())
			}
			if err == nil && !strings.Contains(stderr.String(), "nothing was changed") {
				t.Errorf("nsh plan has no summary:\n%s", stderr.String())
			}
			got := explainLines(stdout.String())
			if !slices.Equal(got, want) {
				t.Errorf("nsh plan (as nobody) and nsh run --explain (as root) differ:\nplan:\n%s\nrun:\n%s\n%s",
					strings.Join(got, "\n"), strings.Join(want, "\n"), diffLines(strings.Join(want, "\n"), strings.Join(got, "\n")))
			}
			if len(want) == 0 {
				t.Errorf("nsh run --explain printed no command")
			}
			assertClean(t, before)
			left, _ := os.ReadDir(tmp)
			if len(left) > 0 {
				var names []string
				for _, e := range left {
					names = append(names, e.Name())
				}
				t.Errorf("nsh plan left files in its TMPDIR: %v", names)
			}
		})
	}
	if n < 10 {
		t.Errorf("only %d scripts", n)
	}
}

// TestPlanReportsErrors checks that a plan reports, with the script's
// position, an error that a run would hit and that is known without the
// kernel, and a namespace name that is taken on the machine.
func TestPlanReportsErrors(t *testing.T) {
	requireRoot(t)
	taken := uniq("taken")
	if out, err := exec.Command("ip", "netns", "add", taken).CombinedOutput(); err != nil {
		t.Fatalf("ip netns add: %v: %s", err, out)
	}
	defer exec.Command("ip", "netns", "delete", taken).Run()
	for _, c := range []struct {
		src, want string
	}{
		{"a = netns(\"a\")\nx, y = veth(\"x\", \"y\", ns = a)\nx.addr(\"10.0.0.300/24\")\n", `lab.star:3:.*10.0.0.300/24`},
		{"a = netns(\"a\")\nb = netns(\"a\")\n", `lab.star:2:.*namespace "a".*already exists`},
		{"a = netns(\"a\")\na.route(\"default\", via = \"10.1.1.1\")\n", `lab.star:2:.*10.1.1.1`},
		{"netns(\"" + taken + "\")\n", `lab.star:1:.*` + taken + `.*already exists`},
		{"ping(host, \"10.0.0.1\")\nfail(\"checked\")\n", `lab.star:2:.*not checked.*checked`},
	} {
		tmp := nobodyTemp(t)
		p := filepath.Join(tmp, "lab.star")
		if err := os.WriteFile(p, []byte(c.src), 0o644); err != nil {
			t.Fatal(err)
		}
		cmd := unprivileged(t, tmp, "plan", p)
		out, _ := cmd.CombinedOutput()
		if !regexp.MustCompile(c.want).Match(out) {
			t.Errorf("plan of %q: want /%s/, got:\n%s", c.src, c.want, out)
		}
	}
}

// TestPlanValues checks what a script sees in a plan from what a plan
// does not run: probes, commands and processes.
func TestPlanValues(t *testing.T) {
	tmp := t.TempDir()
	p := filepath.Join(tmp, "lab.star")
	src := `
a = netns("a")
r = ping(a, "127.0.0.1")
print("ping", r.ok, r.sent, r.received, r.rtt_ms)
c = connect(a, "127.0.0.1:80")
print("connect", c.ok, repr(c.reply), c.error)
x = exec_in(a, ["echo", "hi"], env = {"K": "v"}, input = "in put")
print("exec", x.ok, x.code, repr(x.stdout), repr(x.stderr))
s = serve(a, "127.0.0.1:80", reply = "hi")
print("serve", s.pid, s.running())
w = spawn(a, ["sleep", "9"]).wait()
print("wait", w.ok, w.code)
`
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(nshBin, "plan", p)
	var stdout, stderr bytes.Buffer
	cmd.Stdout, cmd.Stderr = &stdout, io.MultiWriter(&stderr)
	if err := cmd.Run(); err != nil {
		t.Fatalf("nsh plan: %v\n%s\n%s", err, stdout.String(), stderr.String())
	}
	for _, want := range []string{
		"ping None 0 0 None",
		`connect None "" not run: a plan sends no packets`,
		`exec None None "" ""`,
		"serve 0 False",
		"wait None None",
		"+ printf %s 'in put' | K=v ip netns exec a echo hi",
		"+ # serve(): nsh's own TCP server on 127.0.0.1:80 in a",
		"+ ip netns exec a sleep 9 &",
	} {
		if !strings.Contains(stdout.String()+stderr.String(), want) {
			t.Errorf("plan output lacks %q:\nstdout:\n%s\nstderr:\n%s", want, stdout.String(), stderr.String())
		}
	}
	if strings.Contains(stdout.String(), "__nsh") {
		t.Errorf("plan shows nsh's hidden command:\n%s", stdout.String())
	}
}

// sandboxIn returns the name of the sandbox that --explain output shows
// being made (its first namespace).
func sandboxIn(t *testing.T, out string) string {
	t.Helper()
	m := regexp.MustCompile(`(?m)^\+ ip netns add (nsh-sb-\S+)$`).FindStringSubmatch(out)
	if m == nil {
		t.Fatalf("no sandbox made in:\n%s", out)
	}
	return m[1]
}

// namesForPids replaces, in explain lines, each ` netns PID` by which a
// run named the namespace of a process it started (veth peer_ns=p,
// link.move(p)) by ` netns NAME`, the name its operation records: a plan
// starts no process, and names the namespace so.
func namesForPids(lines []string, st *session.Status) []string {
	pids := map[string]string{}
	for _, step := range st.Steps {
		for _, e := range step.Entries {
			switch o := e.Op.(type) {
			case *ops.LinkMove:
				if o.ToPid > 0 {
					pids[strconv.Itoa(o.ToPid)] = o.ToNS
				}
			case *ops.LinkAdd:
				if v, ok := o.Type.(*ops.Veth); ok && v.PeerPid > 0 {
					pids[strconv.Itoa(v.PeerPid)] = v.PeerNS
				}
			}
		}
	}
	byPid := regexp.MustCompile(` netns ([0-9]+)\b`)
	out := make([]string, len(lines))
	for i, l := range lines {
		out[i] = byPid.ReplaceAllStringFunc(l, func(m string) string {
			if ns, ok := pids[strings.TrimPrefix(m, " netns ")]; ok {
				return " netns " + ns
			}
			return m
		})
	}
	return out
}
