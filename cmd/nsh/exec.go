package main

import (
	"flag"
	"fmt"
	"os"

	"github.com/nshlab/nsh/builtins/session"
)

func init() {
	register(&command{
		name:    "exec",
		usage:   "exec [--session NAME] NS|CONTAINER -- CMD...",
		summary: "run a command in one of a session's namespaces or containers",
		help: `
Runs CMD in namespace NS as 'ip netns exec' does (a private mount
namespace, /sys remounted, /etc/netns/NS bound over /etc), with the
terminal attached, and exits with its status. NS may be "host": the
machine's own namespace, or the session's sandbox. Without --session, the
only session there is. The command is not journaled: what it changes is
not undone. If NS is a container (container() in a lab), the command
enters all its namespaces (as 'nsenter --target PID --all'): its PID,
mount, UTS, IPC and network namespaces, its root and its cgroup.`,
		flags: func(fs *flag.FlagSet) {
			fs.String("session", "", "session name")
		},
		run: runExec,
	})
}

func runExec(c *ctx) error {
	if len(c.args) != 1 || len(c.rest) == 0 {
		return usageError{"want a namespace, --, and a command"}
	}
	if os.Geteuid() != 0 {
		return fmt.Errorf("nsh must run as root to enter a namespace (try sudo)")
	}
	nsName := c.args[0]
	name := ""
	if nsName == session.Host && (flagString(c.fs, "session") != "" || len(session.List()) > 0) {
		// host is the session's sandbox, if it has one.
		n, err := sessionName(c)
		if err != nil {
			return err
		}
		name = n
	}
	code, err := session.Exec(name, nsName, c.rest, os.Stdin, os.Stdout, os.Stderr)
	if err != nil {
		return err
	}
	if code != 0 {
		return exitError{code}
	}
	return nil
}
