package main

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"os"

	"github.com/nshlab/nsh/builtins"
	"github.com/nshlab/nsh/builtins/session"
	"github.com/nshlab/nsh/interp"
	"github.com/nshlab/nsh/interp/repl"
	"golang.org/x/term"
)

func init() {
	register(&command{
		name:    "repl",
		usage:   "repl [--session NAME] [--sandbox] [--explain] [--rm]",
		summary: "build a lab interactively, one statement at a time",
		help: `
Opens a read-eval-print loop on a session (default: repl). Each statement
is a step: undo() reverts the last one, undo(3) the last three, journal()
lists them. A statement that fails is reverted by itself; so undo()
inside a larger statement reaches only that statement's own steps. Tab completes
builtins, variables, attributes after "x.", keyword arguments, and the
names of namespaces and links inside a string; help() lists the builtins.
The history is kept in ~/.nsh_history (or $NSH_HISTORY).

Ctrl-C cancels a running statement and reverts it. Ctrl-D (or exit())
leaves the lab up; --rm tears it down instead.

With --session NAME, the REPL attaches to that session, for example one
that 'nsh run' built: its steps can be undone, and lookup("earth") gives
its objects as values. With --sandbox, a new session runs in a private
namespace that stands in for host.

With standard input not a terminal, the REPL reads the whole input as a
program, runs it statement by statement, prints the values of
expressions, and stops with exit status 1 at the first error, after
reverting that statement.`,
		flags: func(fs *flag.FlagSet) {
			fs.String("session", "repl", "session name")
			fs.Bool("sandbox", false, "run a new session in a private namespace that stands in for host")
			fs.Bool("explain", false, "print the iproute2/sysctl/iptables command of each change as it is made")
			fs.Bool("rm", false, "tear the lab down when the REPL ends")
			netFlag(fs)
		},
		run: runREPL,
	})
}

func runREPL(c *ctx) error {
	if len(c.args) != 0 {
		return usageError{"the REPL takes no arguments (to run a script: nsh run LAB.star)"}
	}
	if err := checkNet(c); err != nil {
		return err
	}
	name := flagString(c.fs, "session")
	opts := session.Options{Name: name, Sandbox: flagBool(c.fs, "sandbox"), Script: "<repl>"}
	if flagBool(c.fs, "explain") {
		opts.Explain = c.explain
	}
	s, err := session.Open(opts)
	if err != nil {
		return err
	}
	env := &builtins.Env{Session: s, Ctx: context.Background(), Out: c.stdout}
	in := interp.New(env)
	interactive := term.IsTerminal(int(os.Stdin.Fd()))
	err = repl.Run(repl.Options{
		Interp:      in,
		In:          os.Stdin,
		Out:         c.stdout,
		Err:         c.stderr,
		Interactive: interactive,
		HistoryFile: repl.HistoryPath(),
		Remove:      flagBool(c.fs, "rm"),
		Banner:      banner(s),
	})
	if errors.Is(err, repl.ErrFailed) {
		return exitError{1}
	}
	return err
}

// banner is what the REPL says when it starts.
func banner(s *session.Session) string {
	what := fmt.Sprintf("new session %q", s.Name)
	if !s.Fresh() {
		n := len(s.Steps())
		if s.Sandboxed() && n > 0 {
			n--
		}
		what = fmt.Sprintf("session %q, %d steps so far (undo() reverts them too)", s.Name, n)
	}
	if s.Sandboxed() {
		what += ", in its sandbox"
	}
	return fmt.Sprintf("nsh %s: %s.\nEach statement is a step: undo() takes it back. help() lists the builtins; Tab completes; Ctrl-D leaves.", version, what)
}
