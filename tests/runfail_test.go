// Tests of a run that fails after side effects: it must leave the session
// as it was before the run, whatever the script did (undo(), load(),
// runaway recursion, a signal), and say what happened once, with the
// script position.
package tests

import (
	"bufio"
	"bytes"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"syscall"
	"testing"
	"time"
)

// earlierRun builds the first run of a new sandboxed session: namespace
// A, and ip_forward on in the sandbox. Later runs of the session must not
// be able to lose them by failing.
func earlierRun(t *testing.T) (session, a string) {
	t.Helper()
	session, a = uniq("t"), uniq("ea")
	downAtEnd(t, session)
	script := writeLab(t, "first", lab(`
netns("{A}")
ip_forward()
`, map[string]string{"A": a}))
	mustNsh(t, "run", script, "--sandbox", "--session", session)
	return session, a
}

// assertEarlierRun fails the test unless what earlierRun built is there.
func assertEarlierRun(t *testing.T, session, a string) {
	t.Helper()
	if !netnsExists(a) {
		t.Errorf("namespace %s of the earlier run is gone", a)
	}
	if got := sysctlIn(t, sandboxOf(t, session), "net.ipv4.ip_forward"); got != "1" {
		t.Errorf("ip_forward set by the earlier run is %s, want 1", got)
	}
}

// TestFailedRunCannotUndoEarlierRuns checks that undo() in a script
// cannot reach the steps of an earlier run of the session: undo(100)
// fails, naming how many steps the run made and how to undo earlier ones,
// and the failed run is rolled back to where it began. undo() among the
// run's own steps still works.
func TestFailedRunCannotUndoEarlierRuns(t *testing.T) {
	requireRoot(t)
	session, a := earlierRun(t)
	b, c := uniq("eb"), uniq("ec")
	script := writeLab(t, "second", lab(`
netns("{B}")
step("two")
netns("{C}")
undo(100)
fail("not reached")
`, map[string]string{"B": b, "C": c}))
	r := nsh(t, "run", script, "--session", session)
	if r.code != 1 {
		t.Fatalf("want exit 1: %s", r)
	}
	for _, want := range []string{
		"second.star:5:5: undo: cannot undo 100 steps: this run has made 2,",
		"nsh undo --session " + session,
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, "not reached") {
		t.Errorf("the script went on after undo(100) failed:\n%s", r.stderr)
	}
	if netnsExists(b) || netnsExists(c) {
		t.Errorf("the failed run was not rolled back: %s exists=%v, %s exists=%v", b, netnsExists(b), c, netnsExists(c))
	}
	assertEarlierRun(t, session, a)

	d := uniq("ed")
	script = writeLab(t, "third", lab(`
netns("{D}")
if undo() != 1:
    fail("undo() did not undo this run's one step")
`, map[string]string{"D": d}))
	mustNsh(t, "run", script, "--session", session)
	if netnsExists(d) {
		t.Errorf("undo() did not undo the run's own step")
	}
	assertEarlierRun(t, session, a)
}

// TestREPLUndoInsideAStatement checks that `undo(); fail("x")` in one REPL
// statement cannot lose the statement before it (the failed statement is
// reverted by itself, and an undo cannot be taken back), while a statement
// that is only undo() reaches earlier statements and earlier runs.
func TestREPLUndoInsideAStatement(t *testing.T) {
	requireRoot(t)
	session, a := earlierRun(t)
	b := uniq("rb")
	r := nshInput(t, lab(`netns("{B}")
undo(); fail("x")
`, map[string]string{"B": b}), "repl", "--session", session)
	if r.code != 1 {
		t.Fatalf("want exit 1: %s", r)
	}
	for _, want := range []string{
		"<stdin>:2:5: undo: cannot undo 1 step: this statement has made 0,",
		"as a statement of its own",
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
		}
	}
	if !netnsExists(b) {
		t.Errorf("the statement before `undo(); fail(\"x\")` was lost")
	}
	assertEarlierRun(t, session, a)

	// Alone, undo() reaches the statement before and the earlier run.
	r = nshInput(t, "undo()\nundo(5)\n", "repl", "--session", session)
	if r.code != 0 || r.stdout != "1\n1\n" {
		t.Fatalf("undo() alone: %s", r)
	}
	if netnsExists(b) || netnsExists(a) {
		t.Errorf("undo() as a statement did not reach earlier steps: %s exists=%v, %s exists=%v", b, netnsExists(b), a, netnsExists(a))
	}
}

// TestLoadOnlyRegularFilesOfLimitedSize checks that load() refuses a
// device (which it read until nsh died of out of memory, with no
// rollback) and a file over 4 MiB, with the script position, and that
// the run is rolled back.
func TestLoadOnlyRegularFilesOfLimitedSize(t *testing.T) {
	requireRoot(t)
	big := filepath.Join(t.TempDir(), "big.star")
	if err := os.WriteFile(big, []byte("#"+strings.Repeat("x", 5<<20)+"\nx = 1\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	for _, c := range []struct{ name, module, want string }{
		{"big", big, "cannot load " + big + ": " + big + " is larger than the limit of 4 MiB for a script"},
		{"device", "/dev/zero", "cannot load /dev/zero: /dev/zero is not a regular file"},
	} {
		t.Run(c.name, func(t *testing.T) {
			session, a := earlierRun(t)
			b := uniq("lb")
			script := writeLab(t, "loads", lab(`
netns("{B}")
load("{M}", "x")
`, map[string]string{"B": b, "M": c.module}))
			r := nsh(t, "run", script, "--session", session)
			if r.code != 1 {
				t.Fatalf("want exit 1: %s", r)
			}
			if want := "loads.star:3:1: " + c.want; !strings.Contains(r.stderr, want) {
				t.Errorf("stderr lacks %q:\n%s", want, r.stderr)
			}
			if strings.Contains(r.stderr, "fatal error") || strings.Contains(r.stderr, "goroutine") {
				t.Errorf("nsh crashed:\n%s", r.stderr)
			}
			if netnsExists(b) {
				t.Errorf("the failed run was not rolled back")
			}
			assertEarlierRun(t, session, a)
		})
	}
}

// writeFiles writes files (name: source) into a new directory and
// returns it.
func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, src := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(src), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

// TestLoadErrorsSayItOnce checks that a failing load says "cannot load"
// once, and that the failure of a module loaded through another shows
// the chain of loads and the failing module's position.
func TestLoadErrorsSayItOnce(t *testing.T) {
	requireRoot(t)
	dir := writeFiles(t, map[string]string{
		"missing.star": "load(\"nope.star\", \"x\")\n",
		"lab.star":     "load(\"a.star\", \"x\")\n",
		"a.star":       "load(\"b.star\", \"y\")\nx = y\n",
		"b.star":       "def f():\n    fail(\"boom\")\nf()\ny = 1\n",
	})
	r := nshIn(t, dir, "run", "missing.star", "--sandbox", "--rm", "--session", uniq("t"))
	want := "missing.star:1:1: cannot load nope.star: no file " + filepath.Join(dir, "nope.star") + "\n"
	if r.code != 1 || !strings.Contains(r.stderr, want) || strings.Count(r.stderr, "cannot load") != 1 {
		t.Errorf("want exit 1 and %q, once:\n%s", want, r)
	}

	r = nshIn(t, dir, "run", "lab.star", "--sandbox", "--rm", "--session", uniq("t"))
	want = `Traceback (most recent call last):
  lab.star:1:1: in <toplevel>, loading a.star
  a.star:1:1: in <toplevel>, loading b.star
  b.star:3:2: in <toplevel>
  b.star:2:9: in f
b.star:2:9: fail: boom
`
	if r.code != 1 || !strings.Contains(r.stderr, want) || strings.Contains(r.stderr, "cannot load") {
		t.Errorf("want exit 1 and\n%s\ngot %s", want, r)
	}
}

// TestScriptThatLoadsItself checks that the main script counts as being
// loaded: loading it again, directly or through another module, is a
// cycle, and it does not run twice.
func TestScriptThatLoadsItself(t *testing.T) {
	requireRoot(t)
	dir := writeFiles(t, map[string]string{
		"self.star":  "print(\"START\")\nload(\"self.star\", \"x\")\nx = 1\n",
		"round.star": "print(\"START\")\nload(\"other.star\", \"y\")\nx = 1\n",
		"other.star": "load(\"round.star\", \"x\")\ny = x\n",
	})
	for _, c := range []struct{ script, want string }{
		{"self.star", "self.star:2:1: cannot load self.star: cycle in load graph: self.star loads self.star\n"},
		{"round.star", "other.star:1:1: cannot load round.star: cycle in load graph: round.star loads other.star loads round.star\n"},
	} {
		r := nshIn(t, dir, "run", c.script, "--sandbox", "--rm", "--session", uniq("t"))
		if r.code != 1 || r.stdout != "START\n" || !strings.Contains(r.stderr, c.want) {
			t.Errorf("%s: want exit 1, START once, and %q: %s", c.script, c.want, r)
		}
	}
}

// TestDeepRecursion checks that a runaway recursion ends in an error that
// names the limit, with a backtrace of a few frames and a count of those
// left out, and that the run is rolled back.
func TestDeepRecursion(t *testing.T) {
	requireRoot(t)
	session, a := earlierRun(t)
	b := uniq("db")
	script := writeLab(t, "rec", lab(`
netns("{B}")
def f(n):
    return f(n + 1)
f(0)
`, map[string]string{"B": b}))
	r := nsh(t, "run", script, "--session", session)
	if r.code != 1 {
		t.Fatalf("want exit 1: %s", r)
	}
	if n := strings.Count(r.stderr, "\n"); n > 30 {
		t.Errorf("the error takes %d lines; its end:\n%s", n, r.stderr[max(0, len(r.stderr)-2000):])
	}
	for _, re := range []string{
		`rec\.star:5:2: in <toplevel>\n`,
		`\n  \.\.\. [0-9]{2},[0-9]{3} more frames of f\n`,
		`rec\.star:4:\d+: recursion too deep: more than 100,000 nested calls`,
	} {
		if !regexp.MustCompile(re).MatchString(r.stderr) {
			t.Errorf("stderr does not match %s:\n%.3000s", re, r.stderr)
		}
	}
	if netnsExists(b) {
		t.Errorf("the failed run was not rolled back")
	}
	assertEarlierRun(t, session, a)
}

// startUntil starts nsh with args (and stdin), waits until its standard
// output has a line ready(line) accepts, and returns the command and a
// function that waits for it to end and returns its result.
func startUntil(t *testing.T, stdin string, ready func(line string) bool, args ...string) (*exec.Cmd, func() result) {
	t.Helper()
	noteSessions(args)
	cmd := exec.Command(nshBin, args...)
	cmd.Stdin = strings.NewReader(stdin)
	var errb bytes.Buffer
	cmd.Stderr = &errb
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	// A safety net, not a timing: a loop that a signal did not stop
	// would run for many minutes.
	guard := time.AfterFunc(3*time.Minute, func() { cmd.Process.Kill() })
	t.Cleanup(func() { guard.Stop() })
	var stdout strings.Builder
	sc := bufio.NewScanner(out)
	found := false
	for !found && sc.Scan() {
		stdout.WriteString(sc.Text() + "\n")
		found = ready(sc.Text())
	}
	wait := func() result {
		rest, _ := io.ReadAll(out)
		stdout.Write(rest)
		err := cmd.Wait()
		r := result{stdout: stdout.String(), stderr: errb.String()}
		if ee, ok := err.(*exec.ExitError); ok {
			r.code = ee.ExitCode()
		} else if err != nil {
			t.Fatalf("nsh: %v", err)
		}
		return r
	}
	if !found {
		t.Fatalf("nsh ended before it was ready: %s", wait())
	}
	return cmd, wait
}

// interruptedAt matches the message of a script interrupted by SIGINT at
// one of the lines from-to of file.
func interruptedAt(file string, from, to int) *regexp.Regexp {
	return regexp.MustCompile(regexp.QuoteMeta(file) + `:[` + string(rune('0'+from)) + `-` + string(rune('0'+to)) + `]:\d+: interrupted \(SIGINT\)`)
}

// TestInterruptedRun checks that SIGINT stops a script in a loop of pure
// Starlark work, or in a builtin that waits (exec_in), that nsh names the
// line it was executing and says "interrupted", not "context canceled",
// and that the session is rolled back to where the run began.
func TestInterruptedRun(t *testing.T) {
	requireRoot(t)
	session, a := earlierRun(t)
	b := uniq("ib")
	script := writeLab(t, "loop", lab(`b = netns("{B}")
ip_forward(b)
x = 0
for i in range(1000000000):
    x += i
    if i == 1000:
        print("MARK")
`, map[string]string{"B": b}))
	cmd, wait := startUntil(t, "", func(l string) bool { return l == "MARK" }, "run", script, "--session", session)
	cmd.Process.Signal(syscall.SIGINT)
	r := wait()
	if r.code != 1 {
		t.Errorf("want exit 1: %s", r)
	}
	if re := interruptedAt("loop.star", 4, 7); !re.MatchString(r.stderr) || !strings.Contains(r.stderr, "; the run was rolled back") {
		t.Errorf("stderr does not match %s and say the run was rolled back:\n%s", re, r.stderr)
	}
	if strings.Contains(r.stderr, "cancel") {
		t.Errorf("stderr speaks of cancelling:\n%s", r.stderr)
	}
	if netnsExists(b) {
		t.Errorf("the interrupted run was not rolled back")
	}
	assertEarlierRun(t, session, a)

	// In a builtin that waits: the position is the builtin's call.
	flag := filepath.Join(t.TempDir(), "started")
	script = writeLab(t, "wait", lab(`netns("{B}")
print("GO")
exec_in(host, ["sh", "-c", "echo > {F}; sleep 60"])
`, map[string]string{"B": b, "F": flag}))
	cmd, wait = startUntil(t, "", func(l string) bool { return l == "GO" }, "run", script, "--session", session)
	if !waitFor(time.Minute, func() bool { _, err := os.Stat(flag); return err == nil }) {
		t.Fatalf("exec_in did not start its command: %s", wait())
	}
	cmd.Process.Signal(syscall.SIGINT)
	r = wait()
	if r.code != 1 || !strings.Contains(r.stderr, "wait.star:3:8: interrupted (SIGINT); the run was rolled back") || strings.Contains(r.stderr, "cancel") {
		t.Errorf("want exit 1 and wait.star:3:8: interrupted (SIGINT): %s", r)
	}
	if netnsExists(b) {
		t.Errorf("the interrupted run was not rolled back")
	}
	assertEarlierRun(t, session, a)
}

// TestInterruptedREPLStatement checks that SIGINT stops a REPL statement
// looping in pure Starlark with "interrupted" at its line, reverts that
// statement only, and keeps the statements before it.
func TestInterruptedREPLStatement(t *testing.T) {
	requireRoot(t)
	session, a := earlierRun(t)
	b, c, d := uniq("qb"), uniq("qc"), uniq("qd")
	stdin := lab(`netns("{B}")
netns("{C}"); x = 0
for i in range(1000000000):
    if i == 0:
        netns("{D}")
    if i == 1000:
        print("MARK")

`, map[string]string{"B": b, "C": c, "D": d})
	cmd, wait := startUntil(t, stdin, func(l string) bool { return l == "MARK" }, "repl", "--session", session)
	cmd.Process.Signal(syscall.SIGINT)
	r := wait()
	if r.code != 1 {
		t.Errorf("want exit 1: %s", r)
	}
	if re := interruptedAt("<stdin>", 3, 7); !re.MatchString(r.stderr) || strings.Contains(r.stderr, "cancel") {
		t.Errorf("stderr does not match %s, or speaks of cancelling:\n%s", re, r.stderr)
	}
	if !netnsExists(b) || !netnsExists(c) {
		t.Errorf("statements before the interrupted one were lost: %s exists=%v, %s exists=%v", b, netnsExists(b), c, netnsExists(c))
	}
	if netnsExists(d) {
		t.Errorf("the interrupted statement was not reverted")
	}
	assertEarlierRun(t, session, a)
}
