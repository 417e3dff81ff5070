package builtins

import (
	"fmt"

	"github.com/nshlab/nsh/builtins/ops"
	"go.starlark.net/starlark"
)

// A linkUnpacker unpacks the arguments of the builtin that creates links
// of one kind into the operation that creates one, resolving namespaces.
// newLink checks the link's name and the kind's parameters (ops.LinkAdd.
// Check), applies it, and returns the link.
type linkUnpacker func(thread *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (*Env, *ops.LinkAdd, error)

// linkBuiltins are the builtins that create links, each named for its
// kind of link (package ops has a file per kind, link_KIND_linux.go), with
// the parameters of its docs/builtins/KIND.md. A new kind of link needs
// its file in ops, its entry here, and its entry in docs/builtins and
// HelpFamilies.
var linkBuiltins = map[string]linkUnpacker{
	"veth":    unpackVeth,
	"bridge":  unpackPlain(func() ops.LinkKind { return new(ops.Bridge) }),
	"dummy":   unpackPlain(func() ops.LinkKind { return new(ops.Dummy) }),
	"macvlan": unpackMacvlan,
}

func init() {
	for name := range linkBuiltins {
		extra[name] = starlark.NewBuiltin(name, newLink)
	}
}

// unpackPlain unpacks KIND(name, ns=host), for kinds without parameters.
func unpackPlain(kind func() ops.LinkKind) linkUnpacker {
	return func(thread *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (*Env, *ops.LinkAdd, error) {
		var name string
		var ns starlark.Value = starlark.None
		if err := starlark.UnpackArgs(fn, args, kwargs, "name", &name, "ns?", &ns); err != nil {
			return nil, nil, err
		}
		env, nsName, err := envAndNS(thread, ns)
		if err != nil {
			return nil, nil, err
		}
		return env, &ops.LinkAdd{NS: nsName, Name: name, Type: kind()}, nil
	}
}

// unpackVeth unpacks veth(name, peer, ns=host, peer_ns=host); peer_ns
// may be a process or a pid (see netns_of).
func unpackVeth(thread *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (*Env, *ops.LinkAdd, error) {
	var name, peer string
	var ns, peerNS starlark.Value = starlark.None, starlark.None
	if err := starlark.UnpackArgs(fn, args, kwargs, "name", &name, "peer", &peer, "ns?", &ns, "peer_ns?", &peerNS); err != nil {
		return nil, nil, err
	}
	env, nsName, err := envAndNS(thread, ns)
	if err != nil {
		return nil, nil, err
	}
	pns, pid, err := env.nsRef(peerNS, "peer_ns")
	if err != nil {
		return nil, nil, err
	}
	return env, &ops.LinkAdd{NS: nsName, Name: name, Type: &ops.Veth{Peer: peer, PeerNS: pns, PeerPid: pid}}, nil
}

// unpackMacvlan unpacks macvlan(name, parent, mode="bridge", ns=host).
// The parent is a link value or the name of a link in NS; a macvlan is
// made beside its parent, so NS defaults to a parent link's namespace.
func unpackMacvlan(thread *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (*Env, *ops.LinkAdd, error) {
	var name string
	var parent starlark.Value
	mode := "bridge"
	var ns starlark.Value = starlark.None
	if err := starlark.UnpackArgs(fn, args, kwargs, "name", &name, "parent", &parent, "mode?", &mode, "ns?", &ns); err != nil {
		return nil, nil, err
	}
	var parentName string
	var parentLink *Link
	switch p := parent.(type) {
	case *Link:
		parentLink, parentName = p, p.name
		if ns == starlark.None {
			ns = starlark.String(p.ns)
		}
	case starlark.String:
		parentName = string(p)
	default:
		return nil, nil, fmt.Errorf("for parameter parent: got %s, want link or string", parent.Type())
	}
	env, nsName, err := envAndNS(thread, ns)
	if err != nil {
		return nil, nil, err
	}
	if parentLink != nil && parentLink.ns != nsName {
		return nil, nil, fmt.Errorf("macvlan %q: its parent %q is in %s, not in %s: make the macvlan beside its parent, then move it",
			name, parentLink.name, nsLabel(parentLink.ns), nsLabel(nsName))
	}
	return env, &ops.LinkAdd{NS: nsName, Name: name, Type: &ops.Macvlan{Parent: parentName, Mode: mode}}, nil
}
