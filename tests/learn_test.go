package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/creack/pty"
)

// The lessons nsh carries, as nsh learn names them.
var lessons = []string{"bridge-to-internet", "earth-and-neptune", "netns-basics", "pid-and-net", "veth-and-bridge"}

// A console is nsh running on a pseudo-terminal (creack/pty), with a
// small expect: wait for a pattern in what it shows, consume up to it.
type console struct {
	t    *testing.T
	cmd  *exec.Cmd
	pty  *os.File
	mu   sync.Mutex
	out  bytes.Buffer
	seen int
	done chan struct{}
}

func startConsole(t *testing.T, args ...string) *console {
	t.Helper()
	noteSessions(args)
	cmd := exec.Command(nshBin, args...)
	cmd.Env = append(os.Environ(), "NSH_HISTORY="+filepath.Join(t.TempDir(), "history"), "TERM=xterm")
	f, err := pty.StartWithSize(cmd, &pty.Winsize{Rows: 50, Cols: 250})
	if err != nil {
		t.Fatalf("no pseudo-terminal: %v", err)
	}
	c := &console{t: t, cmd: cmd, pty: f, done: make(chan struct{})}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := f.Read(buf)
			c.mu.Lock()
			c.out.Write(buf[:n])
			c.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() { cmd.Wait(); close(c.done) }()
	t.Cleanup(func() {
		select {
		case <-c.done:
		default:
			cmd.Process.Kill()
			<-c.done
		}
		f.Close()
	})
	return c
}

var (
	ansiSeq = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]|\r|\x08`)
	// taskResult is what nsh learn says after every statement of a task.
	taskResult = regexp.MustCompile(`still missing: [^\n]*\n|✓ Task \d+ done[^\n]*\n|\(the check of task \d+ failed[^\n]*\n`)
)

// expect waits until the console shows a match of re and returns what
// it showed up to the end of the match, without escape sequences.
func (c *console) expect(re *regexp.Regexp) (string, []string) {
	c.t.Helper()
	deadline := time.Now().Add(2 * time.Minute) // a hang, not a timing
	var exited time.Time
	for {
		c.mu.Lock()
		raw := c.out.String()[c.seen:]
		c.mu.Unlock()
		clean := ansiSeq.ReplaceAllString(raw, "")
		if m := re.FindStringSubmatchIndex(clean); m != nil {
			// Consume the raw output that holds the match.
			for k := 0; k <= len(raw); k++ {
				if re.MatchString(ansiSeq.ReplaceAllString(raw[:k], "")) {
					c.seen += k
					break
				}
			}
			var groups []string
			for i := 0; i+1 < len(m); i += 2 {
				if m[i] >= 0 {
					groups = append(groups, clean[m[i]:m[i+1]])
				} else {
					groups = append(groups, "")
				}
			}
			return clean[:m[1]], groups
		}
		select {
		case <-c.done:
			// What nsh wrote last may still be on its way from the
			// terminal: read on for a while.
			if exited.IsZero() {
				exited = time.Now()
			} else if time.Since(exited) > 5*time.Second {
				c.t.Fatalf("nsh exited without showing %s; it showed:\n%s", re, clean)
			}
			time.Sleep(20 * time.Millisecond)
		case <-time.After(20 * time.Millisecond):
		}
		if time.Now().After(deadline) {
			c.t.Fatalf("the terminal did not show %s; it showed:\n%s\n(ending in %q)", re, clean, raw[max(len(raw)-80, 0):])
		}
	}
}

func (c *console) expectText(s string) string {
	c.t.Helper()
	out, _ := c.expect(regexp.MustCompile(regexp.QuoteMeta(s)))
	return out
}

func (c *console) send(s string) {
	c.t.Helper()
	if _, err := c.pty.Write([]byte(s)); err != nil {
		c.t.Fatal(err)
	}
}

func (c *console) wait() {
	c.t.Helper()
	select {
	case <-c.done:
	case <-time.After(time.Minute):
		c.t.Fatal("nsh did not exit")
	}
}

// learnPrompt matches nsh learn's prompt and captures the task number
// and count, or "done".
func learnPrompt(lesson string) *regexp.Regexp {
	return regexp.MustCompile(`learn:` + regexp.QuoteMeta(lesson) + ` (?:(\d+)/(\d+)|(done))> *$`)
}

// at waits for the prompt and returns the current task (from 1), or 0
// when the lesson is done.
func (c *console) at(lesson string) int {
	c.t.Helper()
	_, g := c.expect(learnPrompt(lesson))
	if g[3] == "done" {
		return 0
	}
	k, _ := strconv.Atoi(g[1])
	return k
}

// statement types one statement and returns what the lesson said after
// it: a "still missing" line or a task done.
func (c *console) statement(s string) string {
	c.t.Helper()
	c.send(s + "\r")
	_, g := c.expect(taskResult)
	return g[0]
}

// solution asks show() for the current task's solution and returns its
// statements.
func (c *console) solution(lesson string, k int) []string {
	c.t.Helper()
	c.send("show()\r")
	c.expectText(fmt.Sprintf("The solution of task %d:\n", k))
	out, _ := c.expect(learnPrompt(lesson))
	var stmts []string
	for _, line := range strings.Split(out, "\n") {
		if s, ok := strings.CutPrefix(line, "    "); ok && strings.TrimSpace(s) != "" {
			stmts = append(stmts, s)
		}
	}
	if len(stmts) == 0 {
		c.t.Fatalf("show() printed no solution for task %d:\n%s", k, out)
	}
	return stmts
}

// typeSolution types the current task's solution, as shown by show(),
// and fails unless the task is then done.
func (c *console) typeSolution(lesson string, k int) {
	c.t.Helper()
	stmts := c.solution(lesson, k)
	var said string
	for _, s := range stmts {
		said = c.statement(s)
	}
	if !strings.HasPrefix(said, fmt.Sprintf("✓ Task %d done", k)) {
		c.t.Fatalf("task %d of %s is not done after its solution %q: %s", k, lesson, stmts, said)
	}
}

// learnSessionAtEnd tears a lesson's session down when the test ends and
// checks that it leaves nothing behind.
func learnSessionAtEnd(t *testing.T, session string) {
	downAtEnd(t, session)
}

// lessonLabState is the deep state of every namespace in /run/netns (the
// sandbox and the lab's): links, addresses, routes, iptables rules and
// ip_forward, as ip -j and iptables-save show them. Left out is only
// what the kernel sets by itself and no command takes back: the qdisc a
// link gets when first brought up, and IPv6 link-local addresses.
func lessonLabState(t *testing.T) string {
	t.Helper()
	ents, _ := os.ReadDir("/run/netns")
	var names []string
	for _, e := range ents {
		names = append(names, e.Name())
	}
	sort.Strings(names)
	var b strings.Builder
	fmt.Fprintf(&b, "namespaces: %v\n", names)
	for _, ns := range names {
		for _, args := range [][]string{{"-j", "link"}, {"-j", "addr"}, {"-j", "route", "show", "table", "all"}} {
			out, err := exec.Command("ip", append([]string{"-n", ns}, args...)...).Output()
			if err != nil {
				t.Fatalf("ip -n %s %v: %v", ns, args, err)
			}
			var v any
			if err := json.Unmarshal(out, &v); err != nil {
				t.Fatalf("ip -n %s %v: %v", ns, args, err)
			}
			v = dropKernelOwn(dropVolatile(v))
			js, _ := json.MarshalIndent(v, "", " ")
			fmt.Fprintf(&b, "%s: ip %s:\n%s\n", ns, strings.Join(args, " "), js)
		}
		save, err := exec.Command("ip", "netns", "exec", ns, "iptables-save").Output()
		if err != nil {
			t.Fatalf("iptables-save in %s: %v", ns, err)
		}
		fwd, _ := exec.Command("ip", "netns", "exec", ns, "cat", "/proc/sys/net/ipv4/ip_forward").Output()
		fmt.Fprintf(&b, "%s: ip_forward %s%s: iptables:\n%s\n", ns, fwd, ns, stripSave(string(save)))
	}
	return b.String()
}

// dropKernelOwn removes the qdisc of links and the IPv6 link-local
// addresses, which the kernel makes by itself when a link comes up.
func dropKernelOwn(v any) any {
	switch x := v.(type) {
	case map[string]any:
		delete(x, "qdisc")
		if ai, ok := x["addr_info"].([]any); ok {
			var keep []any
			for _, a := range ai {
				if m, ok := a.(map[string]any); ok && m["family"] == "inet6" && m["scope"] == "link" {
					continue
				}
				keep = append(keep, a)
			}
			x["addr_info"] = keep
		}
	case []any:
		for i := range x {
			x[i] = dropKernelOwn(x[i])
		}
	}
	return v
}

// TestLearnLessons drives every lesson on a terminal, as a learner would:
// it asks show() for each task's solution and types it, statement by
// statement, and sees every task pass.
func TestLearnLessons(t *testing.T) {
	requireRoot(t)
	for _, lesson := range lessons {
		t.Run(lesson, func(t *testing.T) {
			session := uniq("tlearn")
			learnSessionAtEnd(t, session)
			c := startConsole(t, "learn", lesson, "--session", session)
			c.expectText("Lesson " + lesson)
			for k := c.at(lesson); k != 0; k = c.at(lesson) {
				c.typeSolution(lesson, k)
			}
			c.send("status()\r")
			out, _ := c.expect(learnPrompt(lesson))
			if strings.Contains(out, "→") {
				t.Errorf("status() after the last task still shows a current task:\n%s", out)
			}
			c.send("\x04") // Ctrl-D
			c.expectText("nsh: lesson " + lesson + " saved, done")
			c.wait()
		})
	}
}

// TestLearnWrongStatement types statements that do not do the task: the
// task says what is still missing, and the lab stays usable.
func TestLearnWrongStatement(t *testing.T) {
	requireRoot(t)
	session := uniq("tlearn")
	learnSessionAtEnd(t, session)
	c := startConsole(t, "learn", "netns-basics", "--session", session)
	if k := c.at("netns-basics"); k != 1 {
		t.Fatalf("a new lesson starts at task %d", k)
	}
	// A statement that runs but does not do the task.
	if said := c.statement(`netns1 = netns("netns1")`); !strings.Contains(said, "still missing: lo in netns1 is up") {
		t.Errorf("after netns() with lo up: %q", said)
	}
	// A statement that fails: its error, then the task's line again.
	c.send(`veth("x" * 20, "y")` + "\r")
	out, _ := c.expect(taskResult)
	if !strings.Contains(out, "longer than") || !strings.Contains(out, "still missing: lo in netns1 is up") {
		t.Errorf("after a failing statement the terminal showed:\n%s", out)
	}
	// The lab is usable: undo() takes the namespace back, and the task
	// says so.
	if said := c.statement("undo()"); !strings.Contains(said, "still missing: there is no namespace netns1 yet") {
		t.Errorf("after undo(): %q", said)
	}
	// hint() gives the hints in turn, without a check.
	c.send("hint()\r")
	c.expectText("Hint 1 of 2:")
	c.send("hint()\r")
	c.expectText("Hint 2 of 2:")
	c.typeSolution("netns-basics", 1)
	if k := c.at("netns-basics"); k != 2 {
		t.Fatalf("after task 1 the lesson is at task %d", k)
	}
	// solve() takes back what was done in the task, and applies the
	// solution.
	c.statement(`ping(netns1, "127.0.0.1")`)
	c.send("solve()\r")
	out, _ = c.expect(taskResult)
	if !strings.Contains(out, "✓ Task 2 done") {
		t.Errorf("solve() did not do task 2:\n%s", out)
	}
	c.send("\x04")
	c.wait()
}

// TestLearnBack checks that back() restores exactly the lab of the start
// of the previous task: through addresses and links brought up (a lesson
// with links), and through iptables rules.
func TestLearnBack(t *testing.T) {
	requireRoot(t)
	for _, tc := range []struct {
		lesson string
		task   int // back() from task+1 must restore the start of task
	}{
		{"veth-and-bridge", 4},
		{"earth-and-neptune", 13},
	} {
		t.Run(tc.lesson, func(t *testing.T) {
			session := uniq("tlearn")
			learnSessionAtEnd(t, session)
			c := startConsole(t, "learn", tc.lesson, "--session", session)
			k := c.at(tc.lesson)
			for ; k < tc.task; k = c.at(tc.lesson) {
				c.typeSolution(tc.lesson, k)
			}
			start := lessonLabState(t)
			c.typeSolution(tc.lesson, k)
			if k := c.at(tc.lesson); k != tc.task+1 {
				t.Fatalf("after task %d the lesson is at task %d", tc.task, k)
			}
			if lessonLabState(t) == start {
				t.Fatalf("task %d's solution changed nothing the snapshot sees", tc.task)
			}
			c.send("back()\r")
			c.expectText(fmt.Sprintf("Back at the start of task %d.", tc.task))
			if k := c.at(tc.lesson); k != tc.task {
				t.Fatalf("after back() the lesson is at task %d, want %d", k, tc.task)
			}
			if got := lessonLabState(t); got != start {
				t.Errorf("back() did not restore the start of task %d:\n%s", tc.task, diffLines(start, got))
			}
			// And the lesson goes on from there.
			c.typeSolution(tc.lesson, tc.task)
			c.send("\x04")
			c.wait()
		})
	}
}

// TestLearnResume quits in the middle of a lesson and starts it again:
// it goes on at the same task, with the lab as it was, and the lab's
// objects have their names back for the solutions of later tasks.
func TestLearnResume(t *testing.T) {
	requireRoot(t)
	const lesson = "bridge-to-internet"
	session := uniq("tlearn")
	learnSessionAtEnd(t, session)
	c := startConsole(t, "learn", lesson, "--session", session)
	k := c.at(lesson)
	for ; k < 6; k = c.at(lesson) {
		c.typeSolution(lesson, k)
	}
	c.send("\x04")
	c.expectText("saved, at task 6 of 11")
	c.wait()
	before := lessonLabState(t)

	c = startConsole(t, "learn", lesson, "--session", session)
	c.expectText("Resuming at task 6 of 11")
	if k := c.at(lesson); k != 6 {
		t.Fatalf("resumed at task %d, want 6", k)
	}
	if got := lessonLabState(t); got != before {
		t.Errorf("the lab changed across quitting and resuming:\n%s", diffLines(before, got))
	}
	for k := 6; k != 0; k = c.at(lesson) {
		c.typeSolution(lesson, k)
	}
	c.send("\x04")
	c.wait()

	// --reset starts over with an empty lab.
	c = startConsole(t, "learn", lesson, "--session", session, "--reset")
	c.expectText("reset: its lab is torn down")
	if k := c.at(lesson); k != 1 {
		t.Fatalf("after --reset the lesson is at task %d", k)
	}
	c.send("\x04")
	c.wait()
}

// TestLearnCheck runs nsh learn --check on every lesson, and on lessons
// whose checks are wrong: one that passes before its solution, and one
// that its solution does not satisfy.
func TestLearnCheck(t *testing.T) {
	requireRoot(t)
	r := nsh(t, "learn", "--check")
	if r.code != 0 {
		t.Fatalf("nsh learn --check: %s", r)
	}
	for _, l := range lessons {
		if !regexp.MustCompile(`lesson ` + l + `: \d+ tasks checked, \d+ skipped: ok`).MatchString(r.stdout) {
			t.Errorf("nsh learn --check did not pass %s:\n%s", l, r.stdout)
		}
	}

	vacuous := writeLab(t, "vacuous", `
load("@nsh//lesson.star", "lesson", "task", "has_netns")
L = lesson(title = "vacuous", summary = "", tasks = [
    task(title = "host", text = "", check = [has_netns("host")], solution = "x = 1"),
])
`)
	r = nsh(t, "learn", "--check", vacuous)
	if r.code == 0 || !strings.Contains(r.stderr, "its check passes before its solution, so it checks nothing") {
		t.Errorf("--check of a lesson whose check passes before its solution: %s", r)
	}

	wrong := writeLab(t, "wrong", `
load("@nsh//lesson.star", "lesson", "task", "has_netns")
L = lesson(title = "wrong", summary = "", tasks = [
    task(title = "ns", text = "", check = [has_netns("lw1")], solution = 'netns("lw2")'),
])
`)
	r = nsh(t, "learn", "--check", wrong)
	if r.code == 0 || !strings.Contains(r.stderr, "after its solution, its check still says: there is no namespace lw1 yet") {
		t.Errorf("--check of a lesson whose solution does not pass its check: %s", r)
	}
	early := writeLab(t, "early", `
load("@nsh//lesson.star", "lesson", "task", "has_netns")
L = lesson(title = "early", summary = "", tasks = [
    task(title = "ns", text = "", check = [has_netns("lw3")], solution = """
        netns("lw3")
        x = 1
    """),
])
`)
	r = nsh(t, "learn", "--check", early)
	if r.code == 0 || !strings.Contains(r.stderr, `its check passes after "netns(\"lw3\")", before the end of its solution`) {
		t.Errorf("--check of a lesson whose task is done before its solution's last statement: %s", r)
	}
	// The lesson that docs/writing-a-lesson.md writes passes too.
	page, err := os.ReadFile(filepath.Join(repoRoot, "docs", "writing-a-lesson.md"))
	if err != nil {
		t.Fatal(err)
	}
	_, rest, _ := strings.Cut(string(page), "```python\nload(")
	example, _, _ := strings.Cut(rest, "```")
	first := writeLab(t, "first", "load("+example)
	if r := nsh(t, "learn", "--check", first); r.code != 0 || !strings.Contains(r.stdout, "lesson first: 3 tasks checked, 0 skipped: ok") {
		t.Errorf("--check of the lesson in docs/writing-a-lesson.md: %s", r)
	}
	for _, s := range []string{"learn-check-vacuous", "learn-check-wrong", "learn-check-early", "learn-check-first"} {
		if _, err := os.Stat(filepath.Join("/run/nsh", s)); err == nil {
			t.Errorf("--check left session %s behind", s)
		}
	}
}

// TestLearnList lists the lessons.
func TestLearnList(t *testing.T) {
	r := nsh(t, "learn")
	if r.code != 0 {
		t.Fatalf("nsh learn: %s", r)
	}
	for _, l := range lessons {
		if !strings.Contains(r.stdout, "  "+l+" ") {
			t.Errorf("nsh learn does not list %s:\n%s", l, r.stdout)
		}
	}
	if r := nsh(t, "learn", "netns-basis"); r.code == 0 || !strings.Contains(r.stderr, `did you mean "netns-basics"?`) {
		t.Errorf("nsh learn with a misspelt lesson: %s", r)
	}
}
