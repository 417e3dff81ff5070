package builtins

import (
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
	"veth":   unpackVeth,
	"bridge": unpackPlain(func() ops.LinkKind { return new(ops.Bridge) }),
	"dummy":  unpackPlain(func() ops.LinkKind { return new(ops.Dummy) }),
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

// unpackVeth unpacks veth(name, peer, ns=host, peer_ns=host).
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
	pns, err := env.nsName(peerNS, "peer_ns")
	if err != nil {
		return nil, nil, err
	}
	return env, &ops.LinkAdd{NS: nsName, Name: name, Type: &ops.Veth{Peer: peer, PeerNS: pns}}, nil
}
