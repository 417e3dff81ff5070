package session

import (
	"fmt"
	"io"
	"sort"
	"strconv"
	"strings"

	"github.com/nshlab/nsh/builtins/ops"
)

// A Change is one thing a lab's script did, in order: an operation that
// is live in the journal, or a command that it ran to its end (exec_in),
// which only a session opened with Options.Trace keeps.
type Change struct {
	// Op is the operation, or nil for a command.
	Op ops.Op
	// Cmd is the command, when Op is nil.
	Cmd ops.Explainer
	// ID is the operation's ID in the journal, 0 for a command.
	ID int
}

// Explain returns the change's commands; host is as for ops.Explainer.
func (c Change) Explain(host string) []string {
	if c.Op != nil {
		return c.Op.Explain(host)
	}
	return c.Cmd.Explain(host)
}

// trace is what a session opened with Options.Trace keeps: the commands
// Note showed, each with the ID of the operation that came next.
type trace struct {
	notes []traced
}

type traced struct {
	after int
	x     ops.Explainer
}

// Changes returns the session's live operations, oldest first, with the
// commands that it ran between them if it keeps a trace.
func (s *Session) Changes() []Change {
	s.mu.Lock()
	defer s.mu.Unlock()
	var notes []traced
	if s.trace != nil {
		notes = s.trace.notes
	}
	return changes(s.j.steps, notes)
}

// ChangesOf returns the live operations of the session named name, oldest
// first, from its journal, and its header, without taking its lock (a
// REPL may hold it). A journal does not record the commands a script ran.
func ChangesOf(name string) ([]Change, Meta, error) {
	st, err := Inspect(name)
	if err != nil {
		return nil, Meta{}, err
	}
	return changes(st.Steps, nil), st.Meta, nil
}

func changes(steps []*Step, notes []traced) []Change {
	var entries []*Entry
	for _, st := range steps {
		entries = append(entries, st.Entries...)
	}
	sort.SliceStable(entries, func(i, j int) bool { return entries[i].ID < entries[j].ID })
	var out []Change
	for _, e := range entries {
		for len(notes) > 0 && notes[0].after <= e.ID {
			out = append(out, Change{Cmd: notes[0].x})
			notes = notes[1:]
		}
		if e.Live() {
			out = append(out, Change{Op: e.Op, ID: e.ID})
		}
	}
	for _, n := range notes {
		out = append(out, Change{Cmd: n.x})
	}
	return out
}

// Counts sums up a lab: what its changes make.
type Counts struct {
	Namespaces, Links, Addresses, Routes, Rules, Processes, Commands int
	// Settings are the changes to links (up, master, mtu, moves) and
	// sysctls; Other the operations of other kinds.
	Settings, Other int
}

// Count counts the namespaces (not the sandbox), links (both ends of a
// veth), addresses, routes, iptables rules, processes and commands that
// changes make and run.
func Count(changes []Change) Counts {
	var c Counts
	for _, ch := range changes {
		switch o := ch.Op.(type) {
		case nil:
			c.Commands++
		case *ops.NetnsAdd:
			if !o.Sandbox {
				c.Namespaces++
			}
		case *ops.LinkAdd:
			c.Links++
			if _, _, ok := ops.PeerOf(o); ok {
				c.Links++
			}
		case *ops.AddrAdd:
			c.Addresses++
		case *ops.RouteAdd:
			c.Routes++
		case *ops.IptRule:
			c.Rules++
		case *ops.ProcSpawn:
			c.Processes++
		case *ops.LinkSet, *ops.LinkMove, *ops.SysctlSet:
			c.Settings++
		default:
			c.Other++
		}
	}
	return c
}

// String says the counts in a line: "3 namespaces, 4 links, ...".
func (c Counts) String() string {
	var parts []string
	for _, p := range []struct {
		n    int
		what string
	}{
		{c.Namespaces, "namespace"}, {c.Links, "link"}, {c.Addresses, "address"}, {c.Routes, "route"},
		{c.Rules, "iptables rule"}, {c.Processes, "process"}, {c.Settings, "setting"},
		{c.Commands, "command"}, {c.Other, "other change"},
	} {
		if p.n > 0 {
			parts = append(parts, plural(p.n, p.what))
		}
	}
	if len(parts) == 0 {
		return "no change"
	}
	return strings.Join(parts, ", ")
}

func plural(n int, word string) string {
	if n == 1 {
		return "1 " + word
	}
	switch {
	case strings.HasSuffix(word, "ss"):
		return strconv.Itoa(n) + " " + word + "es"
	}
	return strconv.Itoa(n) + " " + word + "s"
}

// ScriptOptions describe the bash script that WriteScript writes.
type ScriptOptions struct {
	// Name is the lab's name: it names the script's state directory.
	Name string
	// From says where the lab comes from, for the header: a script or a
	// session.
	From string
	// Host is the namespace that stands in for host in the script (its
	// sandbox), or "" for the machine's own. A lab with a sandbox must
	// have one: every command for host then runs in it.
	Host string
}

// WriteScript writes a standalone bash script that builds the lab that
// changes describe with ip, sysctl and iptables (and the lab's own
// commands), and takes it down again: `bash lab.sh up` runs the changes'
// commands in order and stops at the first that fails; `bash lab.sh
// down` reverts them newest first, as nsh down does: what lives only in
// namespaces that the lab created goes with them. It returns the kinds of
// the operations it cannot write the undo of (each is a comment in down).
func WriteScript(w io.Writer, changes []Change, o ScriptOptions) ([]string, error) {
	var b strings.Builder
	state := "/run/" + o.Name + ".lab"
	fmt.Fprintf(&b, `#!/bin/bash
# Lab %q, written by nsh export from %s.
# It needs root, bash, ip (iproute2), sysctl and iptables; not nsh.
#
#   bash %[3]s up     build the lab (the default)
#   bash %[3]s down   remove what up made, newest first
#
# up keeps what down needs (process IDs, values it replaced) in
# $LAB_STATE (default %[4]s).
`, o.Name, o.From, o.Name+".sh", state)
	if o.Host != "" {
		fmt.Fprintf(&b, `#
# The lab was built in a sandbox: the namespace %q stands in for the
# machine's own ("host" in the script), so nothing here touches the
# machine's own links, routes, sysctls or firewall.
`, o.Host)
	}
	fmt.Fprintf(&b, `set -u
STATE=${LAB_STATE:-%s}
`, shellQuote(state))
	hasContainer := false
	for _, c := range changes {
		if _, ok := c.Op.(*ops.ContainerAdd); ok {
			hasContainer = true
		}
	}
	if hasContainer {
		b.WriteString(holderFunc)
	}
	b.WriteString(`
up() {
	set -e
	mkdir -p "$STATE"
`)
	doomed := map[string]bool{}
	for _, c := range changes {
		if cr, ok := c.Op.(ops.Creator); ok {
			doomed[cr.Creates()] = true
		}
	}
	// What a deletion of the lab deleted (a namespace it made, a link)
	// is gone with it: down undoes neither the deletion nor what made
	// it.
	deleted := map[int]bool{}
	for _, c := range changes {
		if r, ok := c.Op.(ops.Replayer); ok {
			for _, id := range r.Replays() {
				deleted[id] = true
			}
		}
	}
	var down []string
	var missing []string
	for i, c := range changes {
		id := strconv.Itoa(i + 1)
		switch o2 := c.Op.(type) {
		case nil:
			cmds := c.Cmd.Explain(o.Host)
			if x, ok := c.Cmd.(*ops.Exec); ok {
				cmds = x.ExplainWith(o.Host, statePid)
			}
			for j, cmd := range cmds {
				if j == len(cmds)-1 {
					if x, ok := c.Cmd.(*ops.Exec); ok && !x.Check {
						cmd += " || true"
					}
				}
				fmt.Fprintf(&b, "\t%s\n", cmd)
			}
			continue
		case *ops.ContainerAdd:
			writeContainer(&b, o2, o.Host)
			pid := fmt.Sprintf(`"$STATE/ctr.%s.pid"`, o2.Name)
			undo := fmt.Sprintf(`[ -f %[1]s ] && { kill -KILL "$(cat %[1]s)" 2>/dev/null; rm -f %[1]s; }`, pid)
			if o2.Cgroup != "" {
				undo += "; rmdir " + shellQuote(o2.Cgroup)
			}
			down = append(down, undo)
			continue
		case *ops.ProcSpawn:
			for _, cmd := range o2.ExplainWith(o.Host, statePid) {
				if strings.HasPrefix(cmd, "#") {
					fmt.Fprintf(&b, "\t%s\n", cmd)
					continue
				}
				// In the background, with its output in a file of
				// its own: it must not hold the script's.
				cmd = strings.TrimSuffix(cmd, " &") + fmt.Sprintf(` </dev/null >"$STATE/proc.%s.log" 2>&1 &`, id)
				fmt.Fprintf(&b, "\t%s\n\techo $! >\"$STATE/proc.%s\"\n", cmd, id)
				down = append(down, fmt.Sprintf(`[ -f "$STATE/proc.%[1]s" ] && { kill "$(cat "$STATE/proc.%[1]s")" 2>/dev/null; rm -f "$STATE/proc.%[1]s"; }`, id))
			}
			continue
		case *ops.SysctlSet:
			if !subsumed(o2, doomed) {
				// The value to restore is the one the machine had when
				// up ran, not the one nsh saw.
				ns := ops.ExplainHost(o2.NS, o.Host)
				pre := ""
				if ns != "" {
					pre = "ip netns exec " + shellQuote(ns) + " "
				}
				fmt.Fprintf(&b, "\t%ssysctl -n %s >\"$STATE/sysctl.%s\"\n", pre, shellQuote(o2.Key), id)
				down = append(down, fmt.Sprintf(`[ -f "$STATE/sysctl.%[1]s" ] && %[2]ssysctl -q -w %[3]s="$(cat "$STATE/sysctl.%[1]s")"`, id, pre, shellQuote(o2.Key)))
				for _, cmd := range o2.Explain(o.Host) {
					fmt.Fprintf(&b, "\t%s >/dev/null\n", cmd)
				}
				continue
			}
		}
		for _, cmd := range c.Op.Explain(o.Host) {
			if strings.HasPrefix(cmd, "sysctl -w") || strings.Contains(cmd, " sysctl -w") {
				cmd += " >/dev/null"
			}
			fmt.Fprintf(&b, "\t%s\n", cmd)
		}
		if subsumed(c.Op, doomed) || deleted[c.ID] {
			continue
		}
		if _, ok := c.Op.(ops.Replayer); ok {
			continue
		}
		u, ok := c.Op.(ops.Undoer)
		if !ok {
			missing = append(missing, c.Op.Kind())
			down = append(down, fmt.Sprintf("# nsh cannot write the undo of this %s: %s", c.Op.Kind(), strings.Join(c.Op.Explain(o.Host), "; ")))
			continue
		}
		down = append(down, u.Undo(o.Host)...)
	}
	b.WriteString(`}

down() {
	rc=0
`)
	for i := len(down) - 1; i >= 0; i-- {
		cmd := down[i]
		if strings.HasPrefix(cmd, "#") {
			fmt.Fprintf(&b, "\t%s\n", cmd)
			continue
		}
		fmt.Fprintf(&b, "\t%s || rc=1\n", cmd)
	}
	b.WriteString(`	rm -rf "$STATE"
	return $rc
}

case "${1:-up}" in
up)
	(up)
	rc=$?
	if [ $rc != 0 ]; then
		echo "$0: up failed; remove what it made with: bash $0 down" >&2
		exit $rc
	fi
	;;
down) down ;;
*)
	echo "usage: $0 [up|down]" >&2
	exit 2
	;;
esac
`)
	_, err := io.WriteString(w, b.String())
	return missing, err
}

// statePid names the PID of a container's init in an exported script:
// the file of $STATE where up keeps it.
func statePid(container, _ string) string {
	return fmt.Sprintf(`$(cat "$STATE/ctr.%s.pid")`, container)
}

// holderFunc is the shell function with which up waits for the init of
// a container that it started and learns its PID.
const holderFunc = `
# holder PID [--fork]: waits until the init of a container that up
# started as PID (with --fork: PID's child, which unshare --fork made)
# runs "sleep", the hostname set, and prints its PID; fails if PID exits.
holder() {
	local pid=$1
	while kill -0 "$1" 2>/dev/null; do
		if [ "${2:-}" = --fork ]; then
			pid=$(cat "/proc/$1/task/$1/children" 2>/dev/null || true)
			pid=${pid%% *}
		fi
		if [ -n "$pid" ] && [ "$(cat "/proc/$pid/comm" 2>/dev/null || true)" = sleep ]; then
			echo "$pid"
			return 0
		fi
		sleep 0.05
	done
	echo "$0: the init of a container exited before it ran" >&2
	return 1
}
`

// writeContainer writes the commands that start a container's init (its
// cgroup first, with limits), in the background with its output to
// /dev/null, and keep its PID in $STATE/ctr.NAME.pid, which the commands
// that enter it read and down kills.
func writeContainer(b *strings.Builder, o *ops.ContainerAdd, host string) {
	c := *o
	cg := c.Cgroup
	c.Cgroup = ""
	cmds := c.Explain(host)
	if cg != "" {
		fmt.Fprintf(b, "\tmkdir %s\n", shellQuote(cg))
		for _, f := range o.Limits.Files() {
			fmt.Fprintf(b, "\techo %s > %s/%s\n", shellQuote(f[1]), shellQuote(cg), f[0])
		}
	}
	start := strings.TrimSuffix(cmds[len(cmds)-1], " &")
	if cg != "" {
		// The init joins the cgroup before it starts, with what it
		// starts.
		start = "sh -c " + shellQuote("echo $$ > "+shellQuote(cg)+"/cgroup.procs && exec "+start)
	}
	fork := ""
	if c.PID {
		fork = " --fork"
	}
	fmt.Fprintf(b, "\t%s </dev/null >/dev/null 2>&1 &\n", start)
	fmt.Fprintf(b, "\tholder $!%s >\"$STATE/ctr.%s.pid\"\n", fork, c.Name)
}

// shellQuote quotes s for a POSIX shell if it needs quoting.
func shellQuote(s string) string { return ops.ShellJoin([]string{s}) }
