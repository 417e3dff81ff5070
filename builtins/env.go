package builtins

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"strings"
	"sync"

	"github.com/nshlab/nsh/builtins/ops"
	"github.com/nshlab/nsh/builtins/session"
	"github.com/nshlab/nsh/builtins/sys/kernel"
	"go.starlark.net/starlark"
)

const envKey = "nsh.env"

// Env is what builtins need from the program running them. It is stored in
// the Starlark thread.
type Env struct {
	// Session journals and applies every change.
	Session *session.Session
	// Ctx is cancelled when the user interrupts the script.
	Ctx context.Context
	// Out receives the output of print and of probes that report.
	Out io.Writer

	ownersMu sync.Mutex
	owners   *session.Owners

	// unknown counts the values a plan handed out for what it does not
	// run (probes, commands): see Unknown.
	unknown int
}

// Unknown reports whether the script has been handed a value that a plan
// could not know, because it runs no command and sends no packet: the
// result of a probe, exec_in or a process. A check that fails after that
// may fail only in the plan.
func (e *Env) Unknown() bool { return e.unknown > 0 }

// Attach stores env in thread.
func Attach(thread *starlark.Thread, env *Env) {
	if env.Ctx == nil {
		env.Ctx = context.Background()
	}
	if env.Out == nil {
		env.Out = os.Stdout
	}
	thread.SetLocal(envKey, env)
}

func envOf(thread *starlark.Thread) (*Env, error) {
	env, _ := thread.Local(envKey).(*Env)
	if env == nil || env.Session == nil {
		return nil, errors.New("no nsh session in this thread")
	}
	return env, nil
}

// envAndNS returns the thread's Env and resolves a builtin's ns argument
// (see nsName).
func envAndNS(thread *starlark.Thread, ns starlark.Value) (*Env, string, error) {
	env, err := envOf(thread)
	if err != nil {
		return nil, "", err
	}
	name, err := env.nsName(ns, "ns")
	return env, name, err
}

// optString unpacks an optional string argument: nil for None.
func optString(v starlark.Value, param string) (*string, error) {
	if v == nil || v == starlark.None {
		return nil, nil
	}
	s, ok := starlark.AsString(v)
	if !ok {
		return nil, fmt.Errorf("for parameter %s: got %s, want string", param, v.Type())
	}
	return &s, nil
}

// kern returns the session's kernel.
func (e *Env) kern() kernel.Kernel { return e.Session.K }

// nsName resolves a namespace argument: a netns value, a name, or None
// for host. The namespace must exist.
func (e *Env) nsName(v starlark.Value, param string) (string, error) {
	var name string
	switch v := v.(type) {
	case nil, starlark.NoneType:
		return kernel.HostName, nil
	case *Netns:
		name = v.name
	case *Container:
		if err := v.running(); err != nil {
			return "", err
		}
		name = v.op.NS
	case starlark.String:
		name = string(v)
	default:
		return "", fmt.Errorf("for parameter %s: got %s, want netns, container or string", param, v.Type())
	}
	if name == kernel.HostName {
		return name, nil
	}
	if _, err := e.kern().Namespace(name); err != nil {
		if errors.Is(err, kernel.ErrNoNamespace) {
			return "", fmt.Errorf("unknown namespace %q%s", name, didYouMean(name, namespaceNames()))
		}
		return "", err
	}
	return name, nil
}

// netns returns the netns value for a namespace name.
func (e *Env) netns(name string) *Netns {
	return &Netns{env: e, name: name}
}

// namespaceNames returns the names a namespace argument can take: host and
// the named namespaces in /run/netns, but not the sessions' sandboxes.
func namespaceNames() []string {
	names := []string{kernel.HostName}
	ents, _ := os.ReadDir(kernel.NetnsRunDir)
	for _, e := range ents {
		if !strings.HasPrefix(e.Name(), "nsh-sb-") {
			names = append(names, e.Name())
		}
	}
	return names
}

// didYouMean returns ` (did you mean "NAME"?)` for the candidate that
// name is most likely a misspelling of, or "".
func didYouMean(name string, candidates []string) string {
	if n := Nearest(name, candidates); n != "" {
		return fmt.Sprintf(" (did you mean %q?)", n)
	}
	return ""
}

// ownersOf returns the ownership query of the env's session, made on first
// use and kept, with what it has read, for as long as the session is open.
func (e *Env) ownersOf() *session.Owners {
	e.ownersMu.Lock()
	defer e.ownersMu.Unlock()
	if e.owners == nil || e.owners.Session() != e.Session {
		e.owners = session.NewOwners(e.Session)
	}
	return e.owners
}

// apply hands a change to the session, unless it changes what another
// session made: every builtin that changes the kernel goes through here,
// so that this is the one place that says what a session may touch.
func (e *Env) apply(op ops.Op) error {
	if err := e.mayChange(op); err != nil {
		return err
	}
	return e.Session.Apply(op)
}

// applyAt is apply for a builtin (fn) whose call the thread is in: the
// session may defer applying op to the next barrier (Barrier), and then
// reports a failure at this call's position.
func (e *Env) applyAt(thread *starlark.Thread, fn string, op ops.Op) error {
	if err := e.mayChange(op); err != nil {
		return err
	}
	return e.Session.ApplyAt(op, thread.CallFrame(1).Pos.String(), fn)
}

// observe returns a namespace of the kernel to read or to run something
// in, after a barrier (see Barrier).
func (e *Env) observe(name string) (kernel.Namespace, error) {
	if err := e.Barrier(); err != nil {
		return nil, err
	}
	return e.kern().Namespace(name)
}

// Barrier applies what the session has deferred (session.Flush), so that
// what comes next sees everything the script did before it. Every builtin
// that reads or observes the kernel calls it first: probes, exec_in,
// spawn, serve, containers, lookups and attribute reads; so do a run at
// the script's end and the REPL at a statement's end.
func (e *Env) Barrier() error {
	if e == nil || e.Session == nil {
		return nil
	}
	return e.Session.Flush()
}

// mayChange refuses an operation that changes a namespace another session
// made (a link in it, an address, a route, a sysctl, a rule), or a link
// another session made in host. Creating a namespace, and starting a
// process in one (spawn, serve), are not changes to another session's
// objects: like exec_in and the probes, they are allowed.
func (e *Env) mayChange(op ops.Op) error {
	var nss []string
	var hostLinks []string
	isHost := func(ns string) bool { return ns == "" || ns == kernel.HostName }
	switch o := op.(type) {
	case *ops.NetnsAdd, *ops.ProcSpawn, *ops.ContainerAdd:
		return nil
	case *ops.LinkAdd:
		nss = []string{o.NS}
		if pns, _, ok := ops.PeerOf(o); ok {
			nss = append(nss, pns)
		}
	case *ops.LinkSet:
		nss = []string{o.NS}
		if isHost(o.NS) {
			hostLinks = []string{o.Name}
			if o.Attr == "master" && o.Value != "" {
				hostLinks = append(hostLinks, o.Value)
			}
		}
	case *ops.AddrAdd:
		nss = []string{o.NS}
		if isHost(o.NS) {
			hostLinks = []string{o.Link}
		}
	case *ops.LinkMove:
		nss = []string{o.NS, o.ToNS}
		if isHost(o.NS) {
			hostLinks = []string{o.Name}
		}
	default:
		if sc, ok := op.(ops.Scoped); ok {
			nss = sc.Namespaces()
		}
	}
	own := e.Session.Name
	for _, ns := range nss {
		if isHost(ns) {
			continue
		}
		if who := e.ownersOf().Namespace(ns); who != "" && who != own {
			return othersObject(fmt.Sprintf("namespace %q", ns), who)
		}
	}
	for _, l := range hostLinks {
		if who := e.ownersOf().HostLink(l); who != "" && who != own {
			return othersObject(fmt.Sprintf("link %q in host", l), who)
		}
	}
	return nil
}

// othersObject is the error for a change to what another session made.
func othersObject(what, owner string) error {
	return fmt.Errorf("%s belongs to session %q: change it from that session (nsh repl --session %s), or tear it down with nsh down --session %s",
		what, owner, owner, owner)
}
