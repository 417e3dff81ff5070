package main

import (
	"bytes"
	"flag"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"strings"

	"github.com/nshlab/nsh/builtins/session"
)

func init() {
	register(&command{
		name:    "export",
		usage:   "export (LAB.star | --session NAME) [--sandbox] [--host-ns NAME] [-o FILE]",
		summary: "write a lab as a standalone bash script with up and down",
		help: `
Writes a bash script that builds the lab with ip, sysctl and iptables
only (and the commands the lab's script runs), and takes it down again:

    nsh export lab.star > lab.sh
    sudo bash lab.sh up      # or just: sudo bash lab.sh
    sudo bash lab.sh down    # removes exactly what up made, newest first

The script needs no nsh. Every command names its namespace (ip -n NS,
ip netns exec NS). up stops at the first command that fails; down goes
on past failures and says so in its exit status. up keeps what down
needs (the IDs of the processes it started, the values of the sysctls it
changed on the machine) in $LAB_STATE, /run/NAME.lab by default.

From a script, export plans it (see nsh plan: no root, nothing changes).
The commands the script runs with exec_in() are in the export, in their
place, with their env= and input=. With --session, export writes the lab
of a session that is up, such as one built in the REPL, from its journal:
a journal does not record exec_in(), so those commands are not in it.

With --sandbox (for a script), or for a session made with --sandbox, the
script makes the sandbox as a named namespace (--host-ns, default
NAME-host) and runs every command for host in it, so that running the
script never touches the machine's own network. A serve() server is
written as a comment with an equivalent socat command: nsh's own server
is not a standard tool. See docs/export.md.`,
		flags: func(fs *flag.FlagSet) {
			fs.String("session", "", "export the lab of this session (from its journal)")
			fs.Bool("sandbox", false, "export a script's lab as if run with --sandbox")
			fs.String("host-ns", "", "the name of the sandbox namespace in the script (default: NAME-host)")
			fs.String("o", "", "write the script to this file (default: standard output)")
		},
		run: runExport,
	})
}

func runExport(c *ctx) error {
	name := flagString(c.fs, "session")
	var changes []session.Change
	var from string
	sandboxed := false
	switch {
	case name != "" && len(c.args) == 0:
		var meta session.Meta
		var err error
		if changes, meta, err = session.ChangesOf(name); err != nil {
			return err
		}
		sandboxed = meta.Sandbox != ""
		from = fmt.Sprintf("session %q", name)
		if meta.Script != "" {
			from += " (" + meta.Script + ")"
		}
	case len(c.args) == 1:
		script := c.args[0]
		// What the script prints is the plan's, not the export's.
		p, err := planScript(script, name, flagBool(c.fs, "sandbox"), nil, io.Discard)
		if err != nil {
			return err
		}
		defer p.close()
		if p.err != "" {
			fmt.Fprintln(c.stderr, p.err)
			if !p.unknown {
				fmt.Fprintln(c.stderr, "nsh export: the script fails in a plan; nothing was written")
				return exitError{1}
			}
			fmt.Fprintln(c.stderr, "nsh export: the plan stopped where the script used what a plan does not run; the export has everything before")
		}
		name, changes, sandboxed = p.s.Name, p.s.Changes(), p.s.Sandboxed()
		from = filepath.Base(script)
	default:
		return usageError{"want one script, or --session NAME"}
	}
	host := ""
	if sandboxed {
		if host = flagString(c.fs, "host-ns"); host == "" {
			host = name + "-host"
		}
	}
	var b bytes.Buffer
	missing, err := session.WriteScript(&b, changes, session.ScriptOptions{Name: name, From: from, Host: host})
	if err != nil {
		return err
	}
	if len(missing) > 0 {
		fmt.Fprintf(c.stderr, "nsh export: warning: the script cannot undo %s: its down leaves them (each is a comment there)\n", strings.Join(missing, ", "))
	}
	if out := flagString(c.fs, "o"); out != "" {
		if err := os.WriteFile(out, b.Bytes(), 0o755); err != nil {
			return fmt.Errorf("failed to write %s: %w", out, err)
		}
		fmt.Fprintf(c.stderr, "nsh export: wrote %s: %s; build it with: sudo bash %s up\n", out, session.Count(changes), out)
		return nil
	}
	_, err = c.stdout.Write(b.Bytes())
	return err
}
