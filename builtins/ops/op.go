package ops

import (
	"encoding/json"
	"fmt"
	"sort"
	"strings"

	"github.com/nshlab/nsh/builtins/sys/kernel"
)

// An Op is one change to the kernel.
type Op interface {
	// Kind names the operation type in the journal, e.g. "link.add".
	Kind() string
	// Apply makes the change. It either succeeds or leaves the kernel
	// as it was.
	Apply(k kernel.Kernel) error
	// Revert undoes the change. It succeeds if the change is already gone.
	Revert(k kernel.Kernel) error
	Explainer
}

// An Explainer explains a change as the shell commands that make it, as a
// person would type them: iproute2, sysctl and iptables. host names the
// namespace that stands in for host (a session's sandbox), or is "" for
// the machine's own namespace: a command for host then runs in that
// namespace (`ip -n HOST`, `ip netns exec HOST`), so that, pasted, it
// never changes the machine's own network.
type Explainer interface {
	Explain(host string) []string
}

// Commands are shell commands that stand for themselves: what nsh runs
// that no operation or Exec describes (a command in all of a container's
// namespaces, as nsenter runs it).
type Commands []string

// Explain implements Explainer.
func (c Commands) Explain(host string) []string { return c }

// An Undoer explains how to revert a change: the shell commands that undo
// what its Explain commands did, from the state the operation learned
// when it was applied (the value a sysctl had). host is as for Explain.
// A standalone script of a lab (nsh export) runs them, newest first, to
// take it down.
type Undoer interface {
	Undo(host string) []string
}

// A Scoped operation's effect lives entirely inside the namespaces it
// names, so reverting it is unnecessary when all of them are deleted in
// the same rollback (deleting a namespace removes its links, addresses,
// routes, sysctls and rules). Operations that are not Scoped are always
// reverted.
type Scoped interface {
	Namespaces() []string
}

// A Creator operation creates a namespace, named by Creates ("host" for
// a sandbox).
type Creator interface {
	Creates() string
}

// A Learner operation learns part of its state while it is applied (the
// value it replaces, for Revert). The journal records its parameters again
// once it is done.
type Learner interface {
	Learns()
}

// A Recaller operation learns something of the kernel while it is
// reverted that the reverts of older operations need (a link that came
// back with another index). The journal records its parameters again when
// it is undone, and a session calls Recall, in journal order, for each
// such undone operation when it is opened, so that a later process knows
// it too.
type Recaller interface {
	Recall(k kernel.Kernel)
}

// An Independent operation's Revert does not depend on the Revert of any
// other Independent operation, in either order, so a rollback may revert
// a series of them together, with RevertAll (deleting many namespaces'
// pins).
type Independent interface {
	Independent()
}

// A Shared operation changes state that other sessions may change too:
// the machine's own namespace, which every session without a sandbox
// works in (a sysctl such as ip_forward, a table that iptables-nft made).
// Such state belongs to all the sessions that hold it, and is restored when
// the last of them goes. The session applies and reverts Shared operations
// under a lock that all sessions share, so that it can see the others.
type Shared interface {
	// SharedKey names the state the operation changes, or is "" where the
	// operation changes nothing shared (a namespace of the lab's own).
	// Operations with the same key hold the same state.
	SharedKey() string
	// Inherit is called before Apply with each live operation of another
	// session that holds the same state, oldest session first, so that
	// the operation learns what those saw before any session changed it
	// (a sysctl's first value, that nsh made a table).
	Inherit(held Op)
	// Release is called instead of Revert while another session still
	// holds the state: it takes back this operation's own part and leaves
	// the shared state to the last holder.
	Release(k kernel.Kernel) error
}

// A Warning is an error from Revert that is reported but does not stop the
// rollback: the operation counts as reverted.
type Warning struct{ Msg string }

func (w *Warning) Error() string { return w.Msg }

var registry = map[string]func() Op{}

// Register makes an operation kind decodable from the journal. It is called
// from init functions.
func Register(kind string, zero func() Op) {
	if _, dup := registry[kind]; dup {
		panic("ops: duplicate kind " + kind)
	}
	registry[kind] = zero
}

// Kinds returns the registered kinds, sorted.
func Kinds() []string {
	var ks []string
	for k := range registry {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// Encode returns the JSON encoding of an operation's parameters.
func Encode(op Op) (json.RawMessage, error) {
	b, err := json.Marshal(op)
	if err != nil {
		return nil, fmt.Errorf("failed to encode %s operation: %w", op.Kind(), err)
	}
	return b, nil
}

// Decode rebuilds an operation of the given kind from its parameters.
func Decode(kind string, args json.RawMessage) (Op, error) {
	zero, ok := registry[kind]
	if !ok {
		return nil, fmt.Errorf("unknown operation kind %q (journal written by a newer nsh?)", kind)
	}
	op := zero()
	if err := json.Unmarshal(args, op); err != nil {
		return nil, fmt.Errorf("failed to decode %s operation: %w", kind, err)
	}
	return op, nil
}

// nsFlag returns the iproute2 "-n NS " prefix for commands in a namespace,
// or "" for host when host is the machine's own namespace (see Explainer).
func nsFlag(ns, host string) string {
	if ns = explainNS(ns, host); ns == "" {
		return ""
	}
	return "-n " + shellQuote(ns) + " "
}

// nsExec returns the "ip netns exec NS " prefix for a command run in a
// namespace, or "" for host when host is the machine's own namespace.
func nsExec(ns, host string) string {
	if ns = explainNS(ns, host); ns == "" {
		return ""
	}
	return "ip netns exec " + shellQuote(ns) + " "
}

// nsArg returns the " netns NS" argument that puts a new link in a
// namespace, or "" for host when host is the machine's own namespace
// (where ip runs).
func nsArg(ns, host string) string {
	if ns = explainNS(ns, host); ns == "" {
		return ""
	}
	return " netns " + shellQuote(ns)
}

// explainNS returns the name to write for a namespace in a command: ns
// itself, host's stand-in for host, or "" for the machine's own.
func explainNS(ns, host string) string {
	if isHost(ns) {
		return host
	}
	return ns
}

// ExplainHost returns what commands write for a namespace: its name, the
// name of host's stand-in for host, or "" for the machine's own (see
// Explainer).
func ExplainHost(ns, host string) string { return explainNS(ns, host) }

func isHost(ns string) bool { return ns == "" || ns == kernel.HostName }

// shellQuote quotes s for a POSIX shell if it needs quoting. A string
// with control characters (a newline) is quoted as bash's $'...', so that
// a command stays on one line.
func shellQuote(s string) string {
	if strings.IndexFunc(s, func(r rune) bool { return r < 0x20 || r == 0x7f }) >= 0 {
		var b strings.Builder
		b.WriteString("$'")
		for _, r := range s {
			switch {
			case r == '\\' || r == '\'':
				b.WriteString("\\" + string(r))
			case r == '\n':
				b.WriteString("\\n")
			case r == '\t':
				b.WriteString("\\t")
			case r < 0x20 || r == 0x7f:
				fmt.Fprintf(&b, "\\x%02x", r)
			default:
				b.WriteRune(r)
			}
		}
		return b.String() + "'"
	}
	if s != "" && strings.IndexFunc(s, func(r rune) bool {
		return !(r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || r >= '0' && r <= '9' || strings.ContainsRune("-_./:=,+@%", r))
	}) < 0 {
		return s
	}
	return "'" + strings.ReplaceAll(s, "'", `'\''`) + "'"
}

// ShellJoin quotes and joins argv as a shell command line.
func ShellJoin(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		q[i] = shellQuote(a)
	}
	return strings.Join(q, " ")
}

func scope(nss ...string) []string {
	out := make([]string, 0, len(nss))
	for _, n := range nss {
		if n == "" {
			n = kernel.HostName
		}
		out = append(out, n)
	}
	return out
}
