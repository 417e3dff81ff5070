package tests

import (
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// A terminal runs nsh on a pseudo-terminal, as a person would, and reads
// what it shows.
type terminal struct {
	t     *testing.T
	cmd   *exec.Cmd
	pty   *os.File
	mu    sync.Mutex
	out   bytes.Buffer
	seen  int // how much of out expect has consumed
	done  chan struct{}
	exitc int
}

// openPTY returns the two ends of a new pseudo-terminal.
func openPTY() (master, slave *os.File, err error) {
	m, err := os.OpenFile("/dev/ptmx", os.O_RDWR|unix.O_NOCTTY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, nil, err
	}
	fd := int(m.Fd())
	if err := unix.IoctlSetPointerInt(fd, unix.TIOCSPTLCK, 0); err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("unlockpt: %w", err)
	}
	n, err := unix.IoctlGetUint32(fd, unix.TIOCGPTN)
	if err != nil {
		m.Close()
		return nil, nil, fmt.Errorf("ptsname: %w", err)
	}
	s, err := os.OpenFile(fmt.Sprintf("/dev/pts/%d", n), os.O_RDWR|unix.O_NOCTTY, 0)
	if err != nil {
		m.Close()
		return nil, nil, err
	}
	unix.IoctlSetWinsize(int(s.Fd()), unix.TIOCSWINSZ, &unix.Winsize{Row: 50, Col: 200})
	return m, s, nil
}

// startTerminal runs nsh with args on a new pseudo-terminal, with its
// history in hist.
func startTerminal(t *testing.T, hist string, args ...string) *terminal {
	t.Helper()
	m, s, err := openPTY()
	if err != nil {
		t.Fatalf("no pseudo-terminal: %v", err)
	}
	cmd := exec.Command(nshBin, args...)
	cmd.Env = append(os.Environ(), "NSH_HISTORY="+hist, "TERM=xterm")
	cmd.Stdin, cmd.Stdout, cmd.Stderr = s, s, s
	cmd.SysProcAttr = &syscall.SysProcAttr{Setsid: true, Setctty: true, Ctty: 0}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	s.Close()
	term := &terminal{t: t, cmd: cmd, pty: m, done: make(chan struct{})}
	go func() {
		buf := make([]byte, 4096)
		for {
			n, err := m.Read(buf)
			term.mu.Lock()
			term.out.Write(buf[:n])
			term.mu.Unlock()
			if err != nil {
				return
			}
		}
	}()
	go func() {
		cmd.Wait()
		term.exitc = cmd.ProcessState.ExitCode()
		close(term.done)
	}()
	t.Cleanup(func() {
		select {
		case <-term.done:
		case <-time.After(100 * time.Millisecond):
			cmd.Process.Signal(syscall.SIGHUP)
			select {
			case <-term.done:
			case <-time.After(10 * time.Second):
				cmd.Process.Kill()
				<-term.done
			}
		}
		m.Close()
	})
	return term
}

var ansi = regexp.MustCompile(`\x1b\[[0-9;?]*[A-Za-z]`)

// screen returns what the terminal showed after the last expect, without
// escape sequences.
func (term *terminal) screen() string {
	term.mu.Lock()
	defer term.mu.Unlock()
	return ansi.ReplaceAllString(term.out.String()[term.seen:], "")
}

// expect waits until the terminal shows want, and consumes the output up
// to it.
func (term *terminal) expect(want string) string {
	term.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for {
		term.mu.Lock()
		raw := term.out.String()[term.seen:]
		clean := ansi.ReplaceAllString(raw, "")
		if i := strings.Index(clean, want); i >= 0 {
			// Find how much raw output holds the match.
			for k := len(want); k <= len(raw); k++ {
				if strings.Contains(ansi.ReplaceAllString(raw[:k], ""), want) {
					term.seen += k
					break
				}
			}
			term.mu.Unlock()
			return clean[:i+len(want)]
		}
		term.mu.Unlock()
		if time.Now().After(deadline) {
			term.t.Fatalf("the terminal did not show %q; it showed:\n%s", want, clean)
		}
		select {
		case <-term.done:
			term.mu.Lock()
			clean := ansi.ReplaceAllString(term.out.String()[term.seen:], "")
			term.mu.Unlock()
			if !strings.Contains(clean, want) {
				term.t.Fatalf("nsh exited (%d) without showing %q; it showed:\n%s", term.exitc, want, clean)
			}
		case <-time.After(20 * time.Millisecond):
		}
	}
}

// send types s.
func (term *terminal) send(s string) {
	term.t.Helper()
	if _, err := term.pty.Write([]byte(s)); err != nil {
		term.t.Fatal(err)
	}
}

// wait waits for nsh to exit and returns its exit code.
func (term *terminal) wait() int {
	term.t.Helper()
	select {
	case <-term.done:
		return term.exitc
	case <-time.After(30 * time.Second):
		term.t.Fatalf("nsh did not exit; it showed:\n%s", term.screen())
	}
	return -1
}

func TestREPLTerminal(t *testing.T) {
	requireRoot(t)
	session := uniq("trepl")
	downAtEnd(t, session)
	ns, la, lb := uniq("re"), uniq("ra"), uniq("rb")
	hist := filepath.Join(t.TempDir(), "history")
	term := startTerminal(t, hist, "repl", "--sandbox", "--session", session)
	prompt := "nsh:" + session + "> "
	term.expect("help() lists the builtins")
	term.expect(prompt)

	// Tab completes a builtin, with its parenthesis.
	term.send("vet\t")
	term.expect("veth(")
	term.send("\x15") // Ctrl-U: clear the line
	term.send(fmt.Sprintf("e = netns(%q)\r", ns))
	term.expect(prompt)
	// A keyword argument inside a call, and a namespace's name inside a
	// string.
	term.send(fmt.Sprintf("a, b = veth(%q, %q, peer_\t", la, lb))
	term.expect("peer_ns=")
	term.send(fmt.Sprintf("%q, ns=\"%s\t", ns, ns[:3]))
	term.expect(fmt.Sprintf("ns=%q", ns))
	term.send(")\r")
	term.expect(prompt)
	// Attributes and methods after "x.".
	term.send("a.ad\t")
	term.expect("a.addr")
	term.send("\x15")

	// An error prints its position and leaves the REPL alive.
	term.send("a.addr(\"10.0.0.1\")\r")
	term.expect("<stdin>:3:7: addr: bad CIDR \"10.0.0.1\"")
	term.expect(prompt)
	term.send("1 + 1\r")
	term.expect("2\r\n")
	term.expect(prompt)

	// A mistake, undone.
	term.send("a.addr(\"10.0.0.1/8\")\r")
	term.expect(prompt)
	term.send("undo()\r")
	term.expect("undid: a.addr(\"10.0.0.1/8\")")
	term.expect(prompt)
	term.send("a.addr(\"10.0.0.1/24\").up(); a.addrs()[0]\r")
	term.expect("\"10.0.0.1/24\"")
	term.expect(prompt)
	// journal() prints the numbered list of steps, each with its
	// commands below it, not the list's repr.
	term.send("journal()\r")
	term.expect("\r\n1  sandbox\r\n     ip netns add ")
	term.expect(fmt.Sprintf("\r\n2  e = netns(%q)    [<stdin>:1]\r\n     ip netns add %s\r\n", ns, ns))
	term.expect(fmt.Sprintf("\r\n3  a, b = veth(%q, %q, peer_ns=%q, ns=%q)    [<stdin>:2]\r\n     ip link add %s netns %s type veth peer name %s", la, lb, ns, ns, la, ns, lb))
	term.expect(prompt)

	// A record's fields complete without "(": r.code( would leave the
	// statement open, waiting for a continuation line.
	term.send("r = exec_in(e, \"exit 3\")\r")
	term.expect(prompt)
	term.send("r.co\t")
	term.expect("r.code")
	term.send("\r")
	term.expect("3\r\n")
	term.expect(prompt)

	// help() prints an entry.
	term.send("help(a.addr)\r")
	term.expect("iproute2: ip [-n NS] addr add CIDR")
	term.expect(prompt)

	// Ctrl-C cancels a running statement, which is reverted, and the
	// REPL goes on.
	lc := uniq("rc")
	term.send(fmt.Sprintf("c, d = veth(%q, %q); exec_in(e, \"sleep 30\")\r", lc, lc+"p"))
	time.Sleep(700 * time.Millisecond)
	start := time.Now()
	term.send("\x03")
	term.expect("interrupted (SIGINT)")
	term.expect("reverted what the statement changed")
	term.expect(prompt)
	if d := time.Since(start); d > 10*time.Second {
		t.Errorf("Ctrl-C took %s to come back to the prompt", d)
	}
	term.send(fmt.Sprintf("[l.name for l in host.links() if l.name == %q]\r", lc))
	term.expect("[]")
	term.expect(prompt)

	// A second Ctrl-C at an empty prompt says how to leave.
	term.send("\x03")
	term.expect(prompt)
	term.send("\x03")
	term.expect("To leave, press Ctrl-D")
	term.expect(prompt)

	// Ctrl-D leaves the lab up and says how to undo it.
	term.send("\x04")
	term.expect("nsh undo --session " + session)
	if code := term.wait(); code != 0 {
		t.Errorf("exit code %d after Ctrl-D", code)
	}
	r := mustNsh(t, "status", "--session", session)
	if !strings.Contains(r.stdout, "addr add 10.0.0.1/24") || strings.Contains(r.stdout, "10.0.0.1/8") {
		t.Errorf("status after the REPL:\n%s", r.stdout)
	}
}

func TestREPLHistory(t *testing.T) {
	requireRoot(t)
	session := uniq("trepl")
	downAtEnd(t, session)
	hist := filepath.Join(t.TempDir(), "history")
	prompt := "nsh:" + session + "> "

	term := startTerminal(t, hist, "repl", "--sandbox", "--session", session)
	term.expect(prompt)
	term.send("answer = 41\r")
	term.expect(prompt)
	// Kill it: the history must survive a crash.
	term.cmd.Process.Kill()
	term.wait()
	b, _ := os.ReadFile(hist)
	if !strings.Contains(string(b), "answer = 41") {
		t.Fatalf("history file after a crash holds %q", b)
	}

	term = startTerminal(t, hist, "repl", "--session", session)
	term.expect(prompt)
	term.send("\x1b[A") // up arrow
	term.expect("answer = 41")
	term.send("\r")
	term.expect(prompt)
	term.send("answer + 1\r")
	term.expect("42")
	term.expect(prompt)
	term.send("exit()\r")
	term.wait()
}

func TestREPLPipe(t *testing.T) {
	requireRoot(t)
	session := uniq("trepl")
	downAtEnd(t, session)
	ns, la, lb := uniq("pe"), uniq("pa"), uniq("pb")
	r := nshInput(t, fmt.Sprintf(`e = netns(%q)
a, b = veth(%q, %q, ns=e)
a.name
def double(x):
    y = x

    return 2 * y
double(21)
_ + 1
for i in range(2):
    print("i", i)
print(lookup(%q).name)
`, ns, la, lb, lb), "repl", "--sandbox", "--session", session, "--rm")
	if r.code != 0 {
		t.Fatalf("repl: %s", r)
	}
	want := fmt.Sprintf("%q\n42\n43\ni 0\ni 1\n%s\n", la, lb)
	if r.stdout != want {
		t.Errorf("stdout = %q, want %q", r.stdout, want)
	}
	if !strings.Contains(r.stderr, "is down") {
		t.Errorf("--rm did not tear the session down: %s", r)
	}
}

func TestREPLPipeStopsAtError(t *testing.T) {
	requireRoot(t)
	session := uniq("trepl")
	downAtEnd(t, session)
	ns, la, lb := uniq("pe"), uniq("pa"), uniq("pb")
	r := nshInput(t, fmt.Sprintf(`e = netns(%q)
print("one")
a, b = veth(%q, %q, ns=e); a.addr("10.0.0.1/99")
print("not reached")
`, ns, la, lb), "repl", "--sandbox", "--session", session)
	if r.code != 1 {
		t.Fatalf("want exit 1: %s", r)
	}
	if r.stdout != "one\n" {
		t.Errorf("stdout = %q, want only %q", r.stdout, "one\n")
	}
	if !strings.Contains(r.stderr, "<stdin>:3:") || !strings.Contains(r.stderr, "reverted what the statement changed") {
		t.Errorf("stderr does not show the position and the revert:\n%s", r.stderr)
	}
	// The namespace of statement 1 is up; the veth of statement 3 is not.
	r = nshInput(t, fmt.Sprintf("print(lookup(%q).name)\nprint([l.name for l in lookup(%q).links()])\n", ns, ns), "repl", "--session", session)
	if r.code != 0 || !strings.Contains(r.stdout, ns) || strings.Contains(r.stdout, la) {
		t.Errorf("after the failed statement: %s", r)
	}
}

// TestREPLAttach attaches the REPL to a session that nsh run built.
func TestREPLAttach(t *testing.T) {
	requireRoot(t)
	session := uniq("trepl")
	downAtEnd(t, session)
	ns, la, lb := uniq("ae"), uniq("aa"), uniq("ab")
	lab := writeLab(t, "lab", fmt.Sprintf(`e = netns(%q)
veth(%q, %q, peer_ns=e)
`, ns, la, lb))
	mustNsh(t, "run", lab, "--sandbox", "--session", session)
	r := nshInput(t, fmt.Sprintf(`a = lookup(%q)
a.kind, a.ns
lookup(%q).ns == lookup(%q)
len(journal())
journal()
undo()
`, la, lb, ns), "repl", "--session", session)
	if r.code != 0 {
		t.Fatalf("repl: %s", r)
	}
	// journal() prints as the numbered list of docs/repl.md.
	sb := sandboxOf(t, session)
	listing := fmt.Sprintf(`1  sandbox
     ip netns add %s
     ip -n %s link set lo up
2  run lab.star    [%s]
     ip netns add %s
     ip -n %s link set lo up
     ip link add %s type veth peer name %s netns %s
`, sb, sb, lab, ns, ns, la, lb, ns)
	want := "(\"veth\", netns(\"host\"))\nTrue\n2\n" + listing + "1\n"
	if r.stdout != want {
		t.Errorf("stdout = %q, want %q", r.stdout, want)
	}
	if !strings.Contains(r.stderr, "undid: run lab.star") {
		t.Errorf("undo() did not undo the run: %s", r)
	}
}
