package main

import (
	"context"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/nshlab/nsh/builtins"
	"github.com/nshlab/nsh/builtins/session"
	"github.com/nshlab/nsh/interp"
	"go.starlark.net/starlark"
)

func init() {
	register(&command{
		name:    "plan",
		usage:   "plan LAB.star [--sandbox] [--session NAME]",
		summary: "show what a script would do, without root and without doing it",
		help: `
Runs the script against an in-memory model of the kernel: nothing on the
machine changes, and no root is needed. It prints the commands that
'nsh run --explain' would print, in order (ip, sysctl, iptables, and the
commands the script runs), then a summary: how many namespaces, links,
addresses, routes, rules and processes the lab has.

Errors that a run would hit and that can be known without the kernel are
reported with the script's position, as run reports them: bad names,
CIDRs or ports, a name used twice, a link used in the wrong namespace, a
gateway on no subnet. A namespace name that is taken on this machine
(/run/netns) fails as it would in a run.

In a plan nothing runs and no packet is sent: ping() and connect() return
ok=None (neither True nor False), exec_in() and netns.exec() return
ok=None, code=None and empty stdout and stderr, and spawn() and serve()
return a process with pid 0 that is not running. The checks of
@nsh//check.star (reachable, unreachable, serves) say so and go on, so
that a script that checks its lab plans to its end. A script that
computes with a command's output may stop there: the plan says where.

With --sandbox, commands for host run in the sandbox namespace that a
'nsh run --sandbox' would make (ip -n SANDBOX, ip netns exec SANDBOX).
See docs/plan.md.`,
		flags: func(fs *flag.FlagSet) {
			fs.String("session", "", "session name (default: the script's base name)")
			fs.Bool("sandbox", false, "plan a run in a private namespace that stands in for host")
		},
		run: runPlan,
	})
}

// A plan is a script run against the model kernel (session.PlanKernel),
// in a session whose journal lives in a temporary directory.
type plan struct {
	s *session.Session
	// err is the script's error as run prints it, or "".
	err string
	// taken are the namespace names that exist on the machine, and
	// readable says whether they could be read.
	taken    []string
	readable bool
	dir      string
	saved    string
	// unchecked counts the fail() calls the plan went past.
	unchecked int
	// unknown is set when the script had been handed a value that the
	// plan could not know when it failed: its error may be the plan's.
	unknown bool
}

// close closes the plan's session and removes its directory.
func (p *plan) close() {
	p.s.Close()
	session.RunDir = p.saved
	os.RemoveAll(p.dir)
}

// planScript runs script in a plan. explain, if not nil, gets the
// commands as --explain would print them; print() writes to out.
func planScript(script, name string, sandbox bool, explain func([]string), out io.Writer) (*plan, error) {
	if _, err := os.Stat(script); err != nil {
		return nil, fmt.Errorf("cannot plan %s: %w", script, err)
	}
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(script), filepath.Ext(script))
	}
	if err := session.ValidateName(name); err != nil {
		return nil, err
	}
	dir, err := os.MkdirTemp("", "nsh-plan-")
	if err != nil {
		return nil, fmt.Errorf("failed to make a directory for the plan: %w", err)
	}
	// The plan's journal and lock are its own: nothing under /run/nsh.
	p := &plan{dir: dir, saved: session.RunDir}
	session.RunDir = dir
	k, taken, readable := session.PlanKernel()
	p.taken, p.readable = taken, readable
	s, err := session.Open(session.Options{Name: name, RunDir: p.saved, Sandbox: sandbox, Script: script, Kernel: k, Explain: explain, Trace: true,
		Warn: func(string) {}})
	if err != nil {
		session.RunDir = p.saved
		os.RemoveAll(dir)
		return nil, err
	}
	p.s = s
	env := &builtins.Env{Session: s, Ctx: context.Background(), Out: out}
	in := interp.New(env)
	in.Stdout = out
	planFail(in, env, out, &p.unchecked)
	thread := in.Thread("plan " + script)
	s.StartStep("run "+filepath.Base(script), script)
	if _, err := in.ExecFile(thread, script); err != nil {
		p.err = interp.FormatError(err)
		if p.unknown = env.Unknown(); p.unknown {
			p.err += "\nnsh plan: (the script had used the result of a probe, command or process, which a plan does not run: ok and code are None, outputs empty)"
		}
	}
	return p, nil
}

// planFail replaces fail() in a plan: once the script has been handed a
// value that the plan could not know (a probe's, a command's), a check
// that fails may fail only because nothing ran, so it is reported on out
// and the plan goes on; before that, fail() stops the plan as it stops a
// run.
func planFail(in *interp.Interp, env *builtins.Env, out io.Writer, unchecked *int) {
	orig, ok := in.Predeclared["fail"].(*starlark.Builtin)
	if !ok {
		orig = starlark.Universe["fail"].(*starlark.Builtin)
	}
	in.Predeclared["fail"] = starlark.NewBuiltin("fail", func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		if !env.Unknown() {
			return starlark.Call(thread, orig, args, kwargs)
		}
		var msg []string
		for _, a := range args {
			if s, ok := starlark.AsString(a); ok {
				msg = append(msg, s)
			} else {
				msg = append(msg, a.String())
			}
		}
		*unchecked++
		fmt.Fprintf(out, "plan: %s: not checked (it depends on what a plan does not run): %s\n", thread.CallFrame(1).Pos, strings.Join(msg, " "))
		return starlark.None, nil
	})
}

func runPlan(c *ctx) error {
	if len(c.args) != 1 {
		return usageError{"want one script"}
	}
	script := c.args[0]
	p, err := planScript(script, flagString(c.fs, "session"), flagBool(c.fs, "sandbox"), c.explainTo(c.stdout), c.stderr)
	if err != nil {
		return err
	}
	defer p.close()
	counts := session.Count(p.s.Changes())
	if !p.readable {
		fmt.Fprintf(c.stderr, "nsh plan: cannot read /run/netns, so namespace names taken on this machine were not checked\n")
	}
	if p.err != "" {
		fmt.Fprintln(c.stderr, p.err)
		fmt.Fprintf(c.stderr, "nsh plan: a run would stop here, after %s; nothing was changed\n", counts)
		return exitError{1}
	}
	checks := ""
	if p.unchecked > 0 {
		checks = fmt.Sprintf(" (%s not checked: they depend on traffic or commands)", fmt.Sprintf("%d failed check%s", p.unchecked, map[bool]string{true: "", false: "s"}[p.unchecked == 1]))
	}
	fmt.Fprintf(c.stderr, "nsh plan: %s: %s%s; nothing was changed\n", filepath.Base(script), counts, checks)
	return nil
}
