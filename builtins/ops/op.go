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
	Apply(k *kernel.Kernel) error
	// Revert undoes the change. It succeeds if the change is already gone.
	Revert(k *kernel.Kernel) error
	// Explain returns the shell commands that make the same change.
	Explain() []string
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

// An Independent operation's Revert does not depend on the Revert of any
// other Independent operation, in either order, so a rollback may revert
// a series of them together, with RevertAll (deleting many namespaces'
// pins).
type Independent interface {
	Independent()
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
// or "" for host.
func nsFlag(ns string) string {
	if ns == "" || ns == kernel.HostName {
		return ""
	}
	return "-n " + shellQuote(ns) + " "
}

func isHost(ns string) bool { return ns == "" || ns == kernel.HostName }

// shellQuote quotes s for a POSIX shell if it needs quoting.
func shellQuote(s string) string {
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
