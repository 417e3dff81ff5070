package main

// The profile: the nsh build and teardown run in this process, through
// the same packages and calls as `nsh run LAB --sandbox` and `nsh down`
// (cmd/nsh/run.go, session_cmds.go), under the Go CPU profiler. And the
// journal's share, measured two ways: its share of the CPU profile, and
// the wall time of the same journal records written with the kernel left
// out (every operation of the lab applied as a no-op through
// session.Apply, in a session directory of its own on the same tmpfs).

import (
	"bufio"
	"bytes"
	"context"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"runtime"
	"runtime/pprof"
	"runtime/trace"
	"strconv"
	"strings"
	"time"

	"github.com/nshlab/nsh/builtins"
	"github.com/nshlab/nsh/builtins/ops"
	"github.com/nshlab/nsh/builtins/session"
	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/nshlab/nsh/interp"
)

type profileResult struct {
	n                int
	build, down      time.Duration
	buildProf        string
	downProf         string
	journalCPUBuild  float64 // % of the build's CPU samples under journal.append
	journalCPUDown   float64
	journalWallBuild time.Duration // the same records, kernel left out
	journalWallDown  time.Duration
	records          int
	// the same, with the journal on tmpfs (/dev/shm) instead of /run
	shmWallBuild, shmWallDown time.Duration
}

// profileNsh builds and tears down the lab in process under pprof.
func (r *runner) profileNsh(n int, hz int) (*profileResult, error) {
	l := &lab{n: n, prefix: fmt.Sprintf("nb-%sp%d-", r.id, n)}
	script := filepath.Join(r.tmp, fmt.Sprintf("prof-%d.star", n))
	if err := os.WriteFile(script, []byte(l.starScript()), 0o644); err != nil {
		return nil, err
	}
	sess := "benchprof" + r.id
	r.reg.addSession(sess)
	pr := &profileResult{n: n, buildProf: filepath.Join(r.profDir, fmt.Sprintf("nsh-build-%d.pprof", n)), downProf: filepath.Join(r.profDir, fmt.Sprintf("nsh-down-%d.pprof", n))}

	// Build, as runRun does.
	var err error
	pr.build, err = profiled(pr.buildProf, hz, func() error {
		s, err := session.Open(session.Options{Name: sess, Sandbox: true, Script: script})
		if err != nil {
			return err
		}
		env := &builtins.Env{Session: s, Ctx: context.Background(), Out: io.Discard}
		in := interp.New(env)
		thread := in.Thread("run " + script)
		s.StartStep("run "+filepath.Base(script), script)
		if _, err := in.ExecFile(thread, script); err != nil {
			s.Rollback()
			s.Down()
			return fmt.Errorf("in-process build: %v", interp.FormatError(err))
		}
		return s.Close()
	})
	if err != nil {
		return nil, err
	}
	// Teardown, as runDown does.
	pr.down, err = profiled(pr.downProf, hz, func() error {
		s, err := session.Open(session.Options{Name: sess, Existing: true})
		if err != nil {
			return err
		}
		if err := s.Down(); err != nil {
			s.Close()
			return err
		}
		return nil
	})
	if err != nil {
		return nil, err
	}
	pr.journalCPUBuild = cumShare(pr.buildProf, `session\.\(\*journal\)\.append$`)
	pr.journalCPUDown = cumShare(pr.downProf, `session\.\(\*journal\)\.append$`)
	pr.journalWallBuild, pr.journalWallDown, pr.records, err = r.journalDry(l, "/run")
	if err != nil {
		return pr, err
	}
	pr.shmWallBuild, pr.shmWallDown, _, err = r.journalDry(l, "/dev/shm")
	return pr, err
}

func profiled(file string, hz int, fn func() error) (time.Duration, error) {
	f, err := os.Create(file)
	if err != nil {
		return 0, err
	}
	defer f.Close()
	if hz > 0 {
		// Prints a harmless warning: StartCPUProfile then keeps this rate.
		runtime.SetCPUProfileRate(hz)
	}
	if err := pprof.StartCPUProfile(f); err != nil {
		return 0, err
	}
	tf, err := os.Create(strings.TrimSuffix(file, ".pprof") + ".trace")
	if err != nil {
		return 0, err
	}
	defer tf.Close()
	if err := trace.Start(tf); err != nil {
		return 0, err
	}
	start := time.Now()
	err = onThrowawayThread(fn)
	d := time.Since(start)
	trace.Stop()
	pprof.StopCPUProfile()
	return d, err
}

// syscallProfile turns the execution trace written beside a CPU profile
// into a profile of the wall time goroutines spent blocked in system
// calls (go tool trace -pprof=syscall): the off-CPU side the CPU profile
// does not see (fsync waiting for the disk, netlink waiting for the rtnl
// lock).
func syscallProfile(file string) (string, error) {
	tr := strings.TrimSuffix(file, ".pprof") + ".trace"
	out := strings.TrimSuffix(file, ".pprof") + ".syscall.pprof"
	b, err := exec.Command("go", "tool", "trace", "-pprof=syscall", tr).Output()
	if err != nil {
		return "", fmt.Errorf("go tool trace -pprof=syscall: %w", err)
	}
	return out, os.WriteFile(out, b, 0o644)
}

// labOps are the operations the star script applies, in order.
func labOps(l *lab, sandbox string) []ops.Op {
	out := []ops.Op{
		&ops.NetnsAdd{Name: sandbox, Lo: true, Sandbox: true},
		&ops.LinkAdd{NS: kernel.HostName, Name: bridgeName, Type: &ops.Bridge{}},
		&ops.AddrAdd{NS: kernel.HostName, Link: bridgeName, CIDR: bridgeCIDR},
		&ops.LinkSet{NS: kernel.HostName, Name: bridgeName, Attr: "up", Value: "true", Old: "false"},
	}
	for i := 1; i <= l.n; i++ {
		ns := l.ns(i)
		out = append(out,
			&ops.NetnsAdd{Name: ns, Lo: true},
			&ops.LinkAdd{NS: ns, Name: inner(i), Type: &ops.Veth{Peer: hubEnd(i), PeerNS: kernel.HostName}},
			&ops.LinkSet{NS: kernel.HostName, Name: hubEnd(i), Attr: "master", Value: bridgeName},
			&ops.LinkSet{NS: kernel.HostName, Name: hubEnd(i), Attr: "up", Value: "true", Old: "false"},
			&ops.AddrAdd{NS: ns, Link: inner(i), CIDR: addr(i)},
			&ops.LinkSet{NS: ns, Name: inner(i), Attr: "up", Value: "true", Old: "false"},
			&ops.RouteAdd{NS: ns, Dst: "default", Via: gateway},
		)
	}
	return out
}

// dryOp journals like the operation it wraps but changes nothing.
type dryOp struct{ ops.Op }

func (d dryOp) Apply(kernel.Kernel) error    { return nil }
func (d dryOp) Revert(kernel.Kernel) error   { return nil }
func (d dryOp) MarshalJSON() ([]byte, error) { return json.Marshal(d.Op) }

type dryLearner struct{ dryOp }

func (dryLearner) Learns() {}

func dry(op ops.Op) ops.Op {
	if _, ok := op.(ops.Learner); ok {
		return dryLearner{dryOp{op}}
	}
	return dryOp{op}
}

// journalDry writes the journal of the lab's build (op + done records)
// and of its teardown (undone records) with no kernel work, in a session
// directory of its own under /run, and returns the wall times. The
// session is then removed as a directory: its operations must never be
// reverted (they are no-ops, but Down is not called on principle).
func (r *runner) journalDry(l *lab, base string) (build, down time.Duration, records int, err error) {
	dir, err := os.MkdirTemp(base, "nshbench-journal-")
	if err != nil {
		return 0, 0, 0, err
	}
	r.reg.addDir(dir)
	defer os.RemoveAll(dir)
	saved := session.RunDir
	session.RunDir = dir
	defer func() { session.RunDir = saved }()
	s, err := session.Open(session.Options{Name: "dry"})
	if err != nil {
		return 0, 0, 0, err
	}
	defer s.Close()
	all := labOps(l, "nsh-sb-dry")
	s.StartStep("run lab.star", "lab.star")
	start := time.Now()
	for _, op := range all {
		if err := s.Apply(dry(op)); err != nil {
			return 0, 0, 0, err
		}
	}
	build = time.Since(start)
	// Teardown: Rollback marks every entry undone, newest first; the dry
	// operations' Revert does nothing.
	start = time.Now()
	if err := s.Rollback(); err != nil {
		return 0, 0, 0, err
	}
	down = time.Since(start)
	return build, down, 2*len(all) + len(all), nil
}

// cumShare returns the cumulative share (%) of the samples under the
// function matching re, from go tool pprof -top -cum.
func cumShare(file, re string) float64 {
	out, err := exec.Command("go", "tool", "pprof", "-top", "-cum", "-nodecount=100000", file).Output()
	if err != nil {
		return -1
	}
	rx := regexp.MustCompile(re)
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		f := strings.Fields(sc.Text())
		if len(f) < 6 || !rx.MatchString(f[len(f)-1]) {
			continue
		}
		v, err := strconv.ParseFloat(strings.TrimSuffix(f[4], "%"), 64)
		if err == nil {
			return v
		}
	}
	return 0
}

// top prints go tool pprof -top output, cumulative, n lines.
func top(file string, n int, extra ...string) string {
	args := append([]string{"tool", "pprof", "-top", "-cum", fmt.Sprintf("-nodecount=%d", n)}, extra...)
	args = append(args, file)
	out, err := exec.Command("go", args...).CombinedOutput()
	if err != nil {
		return fmt.Sprintf("(go tool pprof failed: %v)\n%s", err, out)
	}
	return string(out)
}

// onThrowawayThread runs fn on a goroutine locked to its thread and never
// unlocked, so the thread ends with it. nsh switches namespaces only on
// threads of its own (spares, Namespace.Do), but the in-process build runs
// on a thread of its own anyway, so that no bug there could leave one of
// the bench's threads in a lab namespace.
func onThrowawayThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		errc <- fn()
	}()
	return <-errc
}
