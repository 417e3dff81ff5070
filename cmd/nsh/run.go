package main

import (
	"context"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"github.com/nshlab/nsh/builtins"
	"github.com/nshlab/nsh/builtins/session"
	"github.com/nshlab/nsh/interp"
	"golang.org/x/term"
)

func init() {
	register(&command{
		name:    "run",
		usage:   "run LAB.star [--session NAME] [--sandbox] [--explain] [--rm] [--keep]",
		summary: "build a lab from a script",
		help: `
Runs the script and leaves the lab up, as the tutorials' ip commands do.
Every change is journaled under /run/nsh/SESSION (without root, under
$XDG_RUNTIME_DIR/nsh: docs/rootless.md); 'nsh undo' reverts the
newest steps and 'nsh down' the whole session, from any process, even
after nsh was killed.

If the script fails, or is interrupted with Ctrl-C, what it changed is
rolled back (unless --keep) and nsh exits non-zero: the session is left
as it was before the run. So undo() in the script reaches only the steps
of this run; 'nsh undo' undoes earlier ones.

The session's name defaults to the script's base name (lab for lab.star).
With --sandbox, a new session runs in a private namespace that stands in
for host, so the machine's own links, routes, sysctls and firewall are
never touched; 'nsh down' removes it.`,
		flags: func(fs *flag.FlagSet) {
			fs.String("session", "", "session name (default: the script's base name)")
			fs.Bool("sandbox", false, "run in a private namespace that stands in for host")
			fs.Bool("explain", false, "print the iproute2/sysctl/iptables command of each change as it is made")
			fs.Bool("rm", false, "tear the lab down when the script ends")
			fs.Bool("keep", false, "keep what a failing script built (no rollback)")
			netFlag(fs)
		},
		run: runRun,
	})
}

func flagString(fs *flag.FlagSet, name string) string { return fs.Lookup(name).Value.String() }
func flagBool(fs *flag.FlagSet, name string) bool     { return fs.Lookup(name).Value.String() == "true" }

func runRun(c *ctx) error {
	if len(c.args) != 1 {
		return usageError{"want one script"}
	}
	script := c.args[0]
	if _, err := os.Stat(script); err != nil {
		return fmt.Errorf("cannot run %s: %w", script, err)
	}
	if err := checkNet(c); err != nil {
		return err
	}
	name := flagString(c.fs, "session")
	if name == "" {
		name = strings.TrimSuffix(filepath.Base(script), filepath.Ext(script))
	}
	opts := session.Options{Name: name, Sandbox: flagBool(c.fs, "sandbox"), Script: script}
	if flagBool(c.fs, "explain") {
		opts.Explain = c.explain
	}
	s, err := session.Open(opts)
	if err != nil {
		return err
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	env := &builtins.Env{Session: s, Ctx: ctx, Out: c.stdout}
	in := interp.New(env)
	thread := in.Thread("run " + script)
	s.StartStep("run "+filepath.Base(script), script)
	// undo() reaches only this run's steps, so that a failure can roll the
	// session back to where the run began.
	builtins.SetUndoScope(thread, &builtins.UndoScope{
		Mark:    s.Mark(),
		What:    "this run",
		Earlier: fmt.Sprintf("run `nsh undo --session %s` after this run", name),
	})

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	done := make(chan struct{})
	defer close(done)
	// interrupted holds the name of the signal that stopped the script.
	interrupted := make(chan string, 1)
	go func() {
		select {
		case sig := <-sigs:
			interrupted <- interp.SignalName(sig)
			thread.Cancel("interrupted")
			cancel()
		case <-done:
		}
	}()
	stop := progress(c, s, script)
	_, err = in.ExecFile(thread, script)
	stop()
	if err != nil {
		msg, wasInterrupted := interp.FormatError(err), false
		select {
		case sig := <-interrupted:
			msg, wasInterrupted = interp.FormatInterrupted(err, sig), true
		default:
		}
		if flagBool(c.fs, "keep") {
			fmt.Fprintln(c.stderr, msg)
			fmt.Fprintf(c.stderr, "nsh: kept what the script built (--keep); tear it down with: nsh down --session %s\n", name)
			s.Close()
			return exitError{1}
		}
		rerr := s.Rollback()
		if rerr == nil && s.Fresh() {
			rerr = s.Down()
		}
		if rerr != nil {
			fmt.Fprintln(c.stderr, msg)
			fmt.Fprintf(c.stderr, "nsh: rollback incomplete: %v\nnsh: finish it with: nsh down --session %s\n", rerr, name)
		} else if wasInterrupted {
			fmt.Fprintf(c.stderr, "%s; the run was rolled back\n", msg)
		} else {
			fmt.Fprintln(c.stderr, msg)
			fmt.Fprintln(c.stderr, "nsh: rolled back what the script changed")
		}
		s.Close()
		return exitError{1}
	}
	if flagBool(c.fs, "rm") {
		if err := s.Down(); err != nil {
			return fmt.Errorf("failed to tear down session %q: %w", name, err)
		}
		fmt.Fprintf(c.stderr, "nsh: lab %q ran to the end and is torn down (--rm)\n", name)
		return nil
	}
	if s.Empty() {
		return s.Close()
	}
	if err := s.Close(); err != nil {
		return err
	}
	fmt.Fprintf(c.stderr, "nsh: lab %q is up. Undo the last step: nsh undo --session %s; tear it all down: nsh down --session %s\n", name, name, name)
	return nil
}

// progress shows a line with the number of changes made so far while a
// long run is going on at a terminal, and returns a function that clears
// it.
func progress(c *ctx, s *session.Session, script string) func() {
	f, ok := c.stderr.(*os.File)
	if !ok || !term.IsTerminal(int(f.Fd())) || os.Getenv("CI") != "" {
		return func() {}
	}
	quit := make(chan struct{})
	finished := make(chan struct{})
	go func() {
		defer close(finished)
		start := time.Now()
		t := time.NewTicker(250 * time.Millisecond)
		defer t.Stop()
		shown := false
		for {
			select {
			case <-quit:
				if shown {
					fmt.Fprint(f, "\r\033[K")
				}
				return
			case <-t.C:
				if time.Since(start) < time.Second {
					continue
				}
				fmt.Fprintf(f, "\r\033[Knsh: %s: %d changes, %.0fs", filepath.Base(script), s.Ops(), time.Since(start).Seconds())
				shown = true
			}
		}
	}()
	return func() { close(quit); <-finished }
}
