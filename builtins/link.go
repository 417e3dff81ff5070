package builtins

import (
	"fmt"
	"net"
	"sort"
	"strconv"

	"github.com/nshlab/nsh/builtins/ops"
	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/vishvananda/netlink"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// Link is a network interface in a namespace. It is named by namespace and
// name; attributes such as mtu are read from the kernel when asked for.
type Link struct {
	env  *Env
	ns   string
	name string
	kind string
	peer *Link
}

var (
	_ starlark.HasAttrs   = (*Link)(nil)
	_ starlark.Comparable = (*Link)(nil)
)

func (l *Link) String() string {
	if l.ns == kernel.HostName {
		return fmt.Sprintf("link(%q)", l.name)
	}
	return fmt.Sprintf("link(%q, ns=%q)", l.name, l.ns)
}
func (l *Link) Type() string          { return "link" }
func (l *Link) Freeze()               {}
func (l *Link) Truth() starlark.Bool  { return true }
func (l *Link) Hash() (uint32, error) { return starlark.String(l.ns + "/" + l.name).Hash() }

// CompareSameType implements starlark.Comparable.
func (l *Link) CompareSameType(op syntax.Token, y starlark.Value, depth int) (bool, error) {
	m := y.(*Link)
	return compareNames(op, l.ns+"/"+l.name, m.ns+"/"+m.name)
}

var linkMethods = map[string]*starlark.Builtin{
	"up":       starlark.NewBuiltin("up", linkUp),
	"down":     starlark.NewBuiltin("down", linkDown),
	"addr":     starlark.NewBuiltin("addr", linkAddr),
	"master":   starlark.NewBuiltin("master", linkMaster),
	"nomaster": starlark.NewBuiltin("nomaster", linkNomaster),
	"move":     starlark.NewBuiltin("move", linkMove),
	"set_mtu":  starlark.NewBuiltin("set_mtu", linkSetMTU),
	"set_mac":  starlark.NewBuiltin("set_mac", linkSetMAC),
	"addrs":    starlark.NewBuiltin("addrs", linkAddrs),
	"delete":   starlark.NewBuiltin("delete", linkDelete),
}

// Attr implements starlark.HasAttrs.
func (l *Link) Attr(name string) (starlark.Value, error) {
	switch name {
	case "name":
		return starlark.String(l.name), nil
	case "ns":
		return l.env.netns(l.ns), nil
	case "kind":
		return starlark.String(l.kind), nil
	case "peer":
		if l.peer == nil && ops.HasPeer(l.kind) {
			l.peer = l.findPeer()
		}
		if l.peer == nil {
			return starlark.None, nil
		}
		return l.peer, nil
	case "index", "mac", "mtu":
		return l.liveAttr(l.env, name)
	}
	if m, ok := linkMethods[name]; ok {
		return m.BindReceiver(l), nil
	}
	return nil, nil
}

// AttrNames implements starlark.HasAttrs.
func (l *Link) AttrNames() []string {
	names := []string{"name", "ns", "kind", "index", "mac", "mtu", "peer"}
	for k := range linkMethods {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// liveAttr reads index, mac or mtu from the kernel.
func (l *Link) liveAttr(env *Env, name string) (starlark.Value, error) {
	nl, err := l.netlink(env)
	if err != nil {
		return nil, err
	}
	a := nl.Attrs()
	switch name {
	case "index":
		return starlark.MakeInt(a.Index), nil
	case "mac":
		return starlark.String(a.HardwareAddr.String()), nil
	case "mtu":
		return starlark.MakeInt(a.MTU), nil
	}
	return nil, nil
}

func (l *Link) netlink(env *Env) (netlink.Link, error) {
	_, h, err := env.ns(l.ns)
	if err != nil {
		return nil, err
	}
	nl, err := h.LinkByName(l.name)
	if err != nil {
		return nil, fmt.Errorf("link %q is gone from %s", l.name, nsLabel(l.ns))
	}
	return nl, nil
}

// newLink implements the builtins that create a link, one per kind of
// link (linkBuiltins): the kind's entry unpacks its parameters, and the
// rest is the same for every kind. A kind whose links come in pairs
// (veth) returns both ends, each the other's peer.
func newLink(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	unpack, ok := linkBuiltins[b.Name()]
	if !ok {
		return nil, fmt.Errorf("no kind of link named %q", b.Name())
	}
	env, op, err := unpack(thread, b.Name(), args, kwargs)
	if err != nil {
		return nil, err
	}
	if err := kernel.ValidateIfName(op.Name); err != nil {
		return nil, err
	}
	if err := op.Check(); err != nil {
		return nil, err
	}
	if err := env.apply(op); err != nil {
		return nil, err
	}
	kind := op.Type.Name()
	l := &Link{env: env, ns: op.NS, name: op.Name, kind: kind}
	peerNS, peer, paired := ops.PeerOf(op)
	if !paired {
		return l, nil
	}
	p := &Link{env: env, ns: peerNS, name: peer, kind: kind, peer: l}
	l.peer = p
	return starlark.Tuple{l, p}, nil
}

func linkRecv(thread *starlark.Thread, b *starlark.Builtin) (*Link, *Env, error) {
	env, err := envOf(thread)
	if err != nil {
		return nil, nil, err
	}
	return b.Receiver().(*Link), env, nil
}

// set applies a LinkSet of one attribute; the operation learns the old
// value itself.
func (l *Link) set(env *Env, attr, value string) error {
	return env.apply(&ops.LinkSet{NS: l.ns, Name: l.name, Attr: attr, Value: value})
}

func linkUp(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return linkSetState(thread, b, args, kwargs, "true")
}

func linkDown(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	return linkSetState(thread, b, args, kwargs, "false")
}

func linkSetState(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple, up string) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	l, env, err := linkRecv(thread, b)
	if err != nil {
		return nil, err
	}
	op := &ops.LinkSet{NS: l.ns, Name: l.name, Attr: "up", Value: up}
	if err := env.applyAt(thread, b.Name(), op); err != nil {
		return nil, err
	}
	return l, nil
}

func linkAddr(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var cidr string
	var brd starlark.Value = starlark.None
	var nodad bool
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "cidr", &cidr, "brd?", &brd, "nodad?", &nodad); err != nil {
		return nil, err
	}
	l, env, err := linkRecv(thread, b)
	if err != nil {
		return nil, err
	}
	if err := checkCIDR(cidr); err != nil {
		return nil, err
	}
	op := &ops.AddrAdd{NS: l.ns, Link: l.name, CIDR: cidr, NoDAD: nodad}
	if brd != starlark.None {
		s, ok := starlark.AsString(brd)
		ip, _, _ := net.ParseCIDR(cidr)
		switch {
		case !ok:
			return nil, fmt.Errorf("addr: for parameter brd: got %s, want None, \"+\" or an IPv4 address", brd.Type())
		case ip.To4() == nil:
			return nil, fmt.Errorf("addr %s: brd is for IPv4 addresses; IPv6 has no broadcast", cidr)
		case s != "+" && (net.ParseIP(s) == nil || net.ParseIP(s).To4() == nil):
			return nil, fmt.Errorf("addr %s: bad brd %q: want \"+\" (the subnet's broadcast address, as ip's brd +) or an IPv4 address", cidr, s)
		}
		op.Brd = s
	}
	if err := env.apply(op); err != nil {
		return nil, err
	}
	return l, nil
}

func linkMaster(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var br starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "bridge", &br); err != nil {
		return nil, err
	}
	l, env, err := linkRecv(thread, b)
	if err != nil {
		return nil, err
	}
	var name string
	switch br := br.(type) {
	case *Link:
		if br.ns != l.ns {
			return nil, fmt.Errorf("link %q is in %s but bridge %q is in %s: move one of them first", l.name, nsLabel(l.ns), br.name, nsLabel(br.ns))
		}
		name = br.name
	case starlark.String:
		name = string(br)
	default:
		return nil, fmt.Errorf("master: for parameter bridge: got %s, want link or string", br.Type())
	}
	if err := l.set(env, "master", name); err != nil {
		return nil, err
	}
	return l, nil
}

func linkNomaster(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	l, env, err := linkRecv(thread, b)
	if err != nil {
		return nil, err
	}
	if err := l.set(env, "master", ""); err != nil {
		return nil, err
	}
	return l, nil
}

func linkSetMTU(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var mtu int
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "mtu", &mtu); err != nil {
		return nil, err
	}
	l, env, err := linkRecv(thread, b)
	if err != nil {
		return nil, err
	}
	if mtu < 68 || mtu > 65535 {
		return nil, fmt.Errorf("bad MTU %d for link %q: want 68 to 65535", mtu, l.name)
	}
	if err := l.set(env, "mtu", strconv.Itoa(mtu)); err != nil {
		return nil, err
	}
	return l, nil
}

func linkSetMAC(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var mac string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "mac", &mac); err != nil {
		return nil, err
	}
	l, env, err := linkRecv(thread, b)
	if err != nil {
		return nil, err
	}
	hw, err := net.ParseMAC(mac)
	if err != nil || len(hw) != 6 {
		return nil, fmt.Errorf("bad MAC address %q for link %q: want six bytes like 02:00:00:00:00:01", mac, l.name)
	}
	if hw[0]&1 != 0 {
		// The kernel refuses it with a bare "cannot assign requested address".
		return nil, fmt.Errorf("bad MAC address %q for link %q: it is a multicast address (the first byte is odd); a link's own address must be unicast, like 02:00:00:00:00:01", mac, l.name)
	}
	if hw.String() == "00:00:00:00:00:00" {
		return nil, fmt.Errorf("bad MAC address %q for link %q: the all-zero address is not a link address", mac, l.name)
	}
	if err := l.set(env, "mac", hw.String()); err != nil {
		return nil, err
	}
	return l, nil
}

func linkMove(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var ns starlark.Value
	var newName starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "ns", &ns, "name?", &newName); err != nil {
		return nil, err
	}
	l, env, err := linkRecv(thread, b)
	if err != nil {
		return nil, err
	}
	to, pid, err := env.nsRef(ns, "ns")
	if err != nil {
		return nil, err
	}
	name := l.name
	s, err := optString(newName, "name")
	if err != nil {
		return nil, err
	}
	if s != nil {
		if err := kernel.ValidateIfName(*s); err != nil {
			return nil, err
		}
		name = *s
	}
	// The link's index goes into the journal with the move, so that undo
	// gives the link its index back even if nsh is killed in the middle.
	op := &ops.LinkMove{NS: l.ns, Name: l.name, ToNS: to, NewName: name, ToPid: pid}
	op.Locate(env.kern())
	if err := env.apply(op); err != nil {
		return nil, err
	}
	l.ns, l.name = to, name
	return l, nil
}

func linkAddrs(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	l, env, err := linkRecv(thread, b)
	if err != nil {
		return nil, err
	}
	nl, err := l.netlink(env)
	if err != nil {
		return nil, err
	}
	return env.addrs(l.ns, nl)
}

// findPeer finds the other end of a veth that nsh did not create in this
// process, the way `ip link` shows it: the peer's index (iflink) and, if it
// is in another namespace, that namespace's nsid.
func (l *Link) findPeer() *Link {
	nl, err := l.netlink(l.env)
	if err != nil {
		return nil
	}
	a := nl.Attrs()
	if a.ParentIndex == 0 {
		return nil
	}
	nsName := l.ns
	if a.NetNsID >= 0 {
		from, err := l.env.kern().Namespace(l.ns)
		if err != nil {
			return nil
		}
		name, ok := l.env.kern().NameOfNsID(from, a.NetNsID)
		if !ok {
			return nil
		}
		nsName = name
	}
	_, h, err := l.env.ns(nsName)
	if err != nil {
		return nil
	}
	p, err := h.LinkByIndex(a.ParentIndex)
	if err != nil {
		return nil
	}
	peer := l.env.linkFromNetlink(nsName, p)
	peer.peer = l
	return peer
}
