package tests

import (
	"bytes"
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"runtime"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/nshlab/nsh/builtins"
)

// nshBin is the nsh binary built for this test run.
var nshBin string

// repoRoot is the repository's top directory.
var repoRoot string

func TestMain(m *testing.M) {
	// Tests that run builtins in this process (TestScriptsModel) start
	// commands, servers and containers' init by re-executing it, as nsh
	// does.
	builtins.Reexec()
	if code, ok := jailOrTrap(); ok {
		os.Exit(code)
	}
	_, file, _, _ := runtime.Caller(0)
	repoRoot = filepath.Dir(filepath.Dir(file))
	dir, err := os.MkdirTemp("", "nsh-test-bin-")
	if err != nil {
		fmt.Fprintln(os.Stderr, err)
		os.Exit(1)
	}
	nshBin = filepath.Join(dir, "nsh")
	build := exec.Command("go", "build", "-o", nshBin, "./cmd/nsh")
	build.Dir = repoRoot
	build.Stdout, build.Stderr = os.Stderr, os.Stderr
	if err := build.Run(); err != nil {
		fmt.Fprintln(os.Stderr, "failed to build nsh:", err)
		os.Exit(1)
	}
	code := m.Run()
	os.RemoveAll(dir)
	os.Exit(code)
}

// requireRoot skips a test that needs root when not run as root.
func requireRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root: nsh changes the kernel's network state")
	}
}

// result is the outcome of one nsh command.
type result struct {
	stdout, stderr string
	code           int
}

func (r result) String() string {
	return fmt.Sprintf("exit %d\nstdout:\n%s\nstderr:\n%s", r.code, r.stdout, r.stderr)
}

// nsh runs the nsh binary with args and no standard input.
func nsh(t *testing.T, args ...string) result {
	t.Helper()
	return nshInput(t, "", args...)
}

// nshInput runs the nsh binary with args and stdin.
func nshInput(t *testing.T, stdin string, args ...string) result {
	t.Helper()
	return nshWith(t, runOpts{stdin: stdin}, args...)
}

// runOpts are how nshWith runs nsh: its standard input, extra environment
// variables, and working directory.
type runOpts struct {
	stdin string
	env   []string
	dir   string
}

// nshWith runs the nsh binary with args as o says, for at most two minutes.
func nshWith(t *testing.T, o runOpts, args ...string) result {
	t.Helper()
	noteSessions(args)
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, nshBin, args...)
	cmd.Stdin = strings.NewReader(o.stdin)
	cmd.Dir = o.dir
	if o.env != nil {
		cmd.Env = append(os.Environ(), o.env...)
	}
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

// mustNsh runs nsh and fails the test unless it exits 0.
func mustNsh(t *testing.T, args ...string) result {
	t.Helper()
	r := nsh(t, args...)
	if r.code != 0 {
		t.Fatalf("nsh %s: %s", strings.Join(args, " "), r)
	}
	return r
}

// uniq returns prefix plus four random hex digits: short enough for an
// interface name when prefix is at most 11 bytes.
func uniq(prefix string) string {
	var b [2]byte
	rand.Read(b[:])
	return prefix + hex.EncodeToString(b[:])
}

// writeLab writes a script named NAME.star into a fresh directory and
// returns its path.
func writeLab(t *testing.T, name, src string) string {
	t.Helper()
	p := filepath.Join(t.TempDir(), name+".star")
	if err := os.WriteFile(p, []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	return p
}

// machine is the part of the machine's state that a lab could leave
// behind.
type machine struct {
	netns    []string // /run/netns
	links    []string // links in the machine's own namespace
	sessions []string // /run/nsh
	// iptables and ip6tables are the rules of the machine's own
	// namespace, as iptablesSave gives them.
	iptables, ip6tables string
}

func snapshot(t *testing.T) machine {
	t.Helper()
	var m machine
	ents, _ := os.ReadDir("/run/netns")
	for _, e := range ents {
		m.netns = append(m.netns, e.Name())
	}
	ents, _ = os.ReadDir("/run/nsh")
	for _, e := range ents {
		m.sessions = append(m.sessions, e.Name())
	}
	ents, _ = os.ReadDir("/sys/class/net")
	for _, e := range ents {
		m.links = append(m.links, e.Name())
	}
	m.iptables = iptablesSave(t, "iptables-save")
	m.ip6tables = iptablesSave(t, "ip6tables-save")
	return m
}

// iptablesSave returns the rules of the test's network namespace (the
// machine's own) as save (iptables-save or ip6tables-save) prints them,
// without what changes by itself: the comments, which carry the time, and
// the chains' packet and byte counters. Without save there is nothing: nsh
// makes its rules with the same tools.
func iptablesSave(t *testing.T, save string) string {
	t.Helper()
	path, err := exec.LookPath(save)
	if err != nil {
		return ""
	}
	out, err := exec.Command(path).Output()
	if err != nil {
		t.Fatalf("%s: %v", save, err)
	}
	var b strings.Builder
	for _, line := range strings.Split(string(out), "\n") {
		if strings.HasPrefix(line, "#") || line == "" {
			continue
		}
		if i := strings.Index(line, " ["); i > 0 && strings.HasPrefix(line, ":") {
			line = line[:i]
		}
		b.WriteString(line + "\n")
	}
	return b.String()
}

// assertClean fails the test if the machine holds namespaces, links or
// sessions that it did not hold in before, or if the iptables or
// ip6tables rules of its own namespace changed.
func assertClean(t *testing.T, before machine) {
	t.Helper()
	after := snapshot(t)
	if after.iptables != before.iptables {
		t.Errorf("the machine's iptables rules changed:\n%s", diffLines(before.iptables, after.iptables))
	}
	if after.ip6tables != before.ip6tables {
		t.Errorf("the machine's ip6tables rules changed:\n%s", diffLines(before.ip6tables, after.ip6tables))
	}
	for _, c := range []struct {
		what          string
		before, after []string
	}{
		{"network namespaces in /run/netns", before.netns, after.netns},
		{"links in the machine's namespace", before.links, after.links},
		{"sessions in /run/nsh", before.sessions, after.sessions},
	} {
		var extra []string
		for _, x := range c.after {
			if !slices.Contains(c.before, x) && !otherSession(x, c.what) {
				extra = append(extra, x)
			}
		}
		if len(extra) > 0 {
			t.Errorf("left behind: %s: %v", c.what, extra)
		}
	}
}

// otherSession reports whether x was made by a session that another test
// (or another engineer's test run, on a shared machine) is running: a
// namespace or link named in another live session's journal, or that
// session itself. The journal is written ahead of the kernel change, so an
// object that exists is already in its journal.
func otherSession(x, what string) bool {
	// Gone by now: made and removed by someone else meanwhile.
	var path string
	switch {
	case strings.HasPrefix(what, "network namespaces"):
		path = filepath.Join("/run/netns", x)
	case strings.HasPrefix(what, "links"):
		path = filepath.Join("/sys/class/net", x)
	default:
		path = filepath.Join("/run/nsh", x)
	}
	if _, err := os.Lstat(path); err != nil {
		return true
	}
	if strings.HasPrefix(what, "sessions") {
		_, err := os.Stat(filepath.Join("/run/nsh", x, "lock"))
		return err == nil && !ourSession(x)
	}
	journals, _ := filepath.Glob("/run/nsh/*/journal")
	needle := []byte(fmt.Sprintf("%q", x))
	for _, j := range journals {
		b, err := os.ReadFile(j)
		if err == nil && bytes.Contains(b, needle) && !ourSession(filepath.Base(filepath.Dir(j))) {
			return true
		}
	}
	return false
}

// ours records the sessions this test binary has named with --session.
var ours sync.Map

func noteSessions(args []string) {
	for i, a := range args {
		if a == "--session" && i+1 < len(args) {
			ours.Store(args[i+1], true)
		}
	}
}

func ourSession(name string) bool { _, ok := ours.Load(name); return ok }

// downAtEnd makes sure a session is torn down when the test ends, even if
// it failed half-way, and that nothing is left behind.
func downAtEnd(t *testing.T, session string) {
	t.Helper()
	before := snapshot(t)
	t.Cleanup(func() {
		if _, err := os.Stat(filepath.Join("/run/nsh", session)); err == nil {
			nsh(t, "down", "--session", session)
		}
		assertClean(t, before)
	})
}
