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
	"vxlan":   unpackVxlan,
	"vlan":    unpackVlan,
	"tap":     unpackPlain(func() ops.LinkKind { return new(ops.Tap) }),
	"tun":     unpackPlain(func() ops.LinkKind { return new(ops.Tun) }),
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

// underlay unpacks a link argument that names a link beside the new one
// (a vlan's parent, a vxlan's dev): a link value or a name. A link value
// sets ns where it is None, and must be in ns otherwise (checked by
// sameNS once ns is resolved).
func underlay(v starlark.Value, param string, ns *starlark.Value) (string, *Link, error) {
	switch p := v.(type) {
	case starlark.NoneType:
		return "", nil, nil
	case *Link:
		if *ns == starlark.None {
			*ns = starlark.String(p.ns)
		}
		return p.name, p, nil
	case starlark.String:
		return string(p), nil, nil
	}
	return "", nil, fmt.Errorf("for parameter %s: got %s, want link or string", param, v.Type())
}

// sameNS refuses an underlay link in another namespace than the new link.
func sameNS(kind, name, param string, l *Link, nsName string) error {
	if l != nil && l.ns != nsName {
		return fmt.Errorf("%s %q: its %s %q is in %s, not in %s: make the %s beside its %s, then move it",
			kind, name, param, l.name, nsLabel(l.ns), nsLabel(nsName), kind, param)
	}
	return nil
}

// unpackVxlan unpacks vxlan(name, id, remote=None, local=None,
// group=None, dev=None, port=4789, ns=host). A dev link sets NS where it
// is not given.
func unpackVxlan(thread *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (*Env, *ops.LinkAdd, error) {
	var name string
	var id starlark.Int
	var remote, local, group, dev, ns starlark.Value = starlark.None, starlark.None, starlark.None, starlark.None, starlark.None
	port := 4789
	if err := starlark.UnpackArgs(fn, args, kwargs, "name", &name, "id", &id, "remote?", &remote, "local?", &local,
		"group?", &group, "dev?", &dev, "port?", &port, "ns?", &ns); err != nil {
		return nil, nil, err
	}
	vni, ok := id.Int64()
	if !ok || vni < 0 || vni > ops.MaxVNI {
		return nil, nil, fmt.Errorf("vxlan %q: bad id %s: a VNI is 0 to %d (24 bits)", name, id, ops.MaxVNI)
	}
	x := &ops.Vxlan{ID: int(vni), Port: port}
	for _, a := range []struct {
		v     starlark.Value
		param string
		to    *string
	}{{remote, "remote", &x.Remote}, {local, "local", &x.Local}, {group, "group", &x.Group}} {
		s, err := optString(a.v, a.param)
		if err != nil {
			return nil, nil, err
		}
		if s != nil {
			*a.to = *s
		}
	}
	devName, devLink, err := underlay(dev, "dev", &ns)
	if err != nil {
		return nil, nil, err
	}
	x.Dev = devName
	env, nsName, err := envAndNS(thread, ns)
	if err != nil {
		return nil, nil, err
	}
	if err := sameNS("vxlan", name, "dev", devLink, nsName); err != nil {
		return nil, nil, err
	}
	return env, &ops.LinkAdd{NS: nsName, Name: name, Type: x}, nil
}

// unpackVlan unpacks vlan(name, parent, id, ns=host). A parent link sets
// NS where it is not given.
func unpackVlan(thread *starlark.Thread, fn string, args starlark.Tuple, kwargs []starlark.Tuple) (*Env, *ops.LinkAdd, error) {
	var name string
	var parent starlark.Value
	var id starlark.Int
	var ns starlark.Value = starlark.None
	if err := starlark.UnpackArgs(fn, args, kwargs, "name", &name, "parent", &parent, "id", &id, "ns?", &ns); err != nil {
		return nil, nil, err
	}
	vid, ok := id.Int64()
	if !ok || vid < 0 || vid > ops.MaxVLAN {
		return nil, nil, fmt.Errorf("vlan %q: bad id %s: a VLAN ID is 0 to %d (12 bits; 4095 is reserved)", name, id, ops.MaxVLAN)
	}
	if parent == starlark.None {
		return nil, nil, fmt.Errorf("vlan %q: parent is None: give the link that carries the VLAN", name)
	}
	pName, pLink, err := underlay(parent, "parent", &ns)
	if err != nil {
		return nil, nil, err
	}
	env, nsName, err := envAndNS(thread, ns)
	if err != nil {
		return nil, nil, err
	}
	if err := sameNS("vlan", name, "parent", pLink, nsName); err != nil {
		return nil, nil, err
	}
	return env, &ops.LinkAdd{NS: nsName, Name: name, Type: &ops.Vlan{Parent: pName, ID: int(vid)}}, nil
}
