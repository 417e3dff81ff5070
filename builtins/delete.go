package builtins

import (
	"fmt"
	"net"

	"github.com/nshlab/nsh/builtins/ops"
	"github.com/nshlab/nsh/builtins/session"
	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/nshlab/nsh/builtins/sys/nsexec"
	"go.starlark.net/starlark"
	"golang.org/x/sys/unix"
)

// Deleting a namespace or a link (ns.delete(), link.delete()) is a step
// like any other: undo makes again exactly what it deleted. The kernel
// deletes more than the object itself (a namespace's links, and the other
// ends of its veths wherever they are; a link's addresses and the routes
// through it), so the deletion records which operations of the session
// made what goes with it, and its undo applies them again (see
// ops.Replayer). nsh deletes only what the session made, and refuses a
// deletion that the kernel would not carry out as it says (a namespace a
// process of the session still runs in outlives its name).

// loc is where a link is: its namespace and name.
type loc struct{ ns, name string }

// lineage follows the links the session made through the live operations
// of its journal, oldest first: which link each operation changes, and
// where each link is now. A link is known by the ID of the operation that
// made it (a veth pair is one link with two ends).
type lineage struct {
	entries []*session.Entry // live and not deleted, oldest first
	where   map[loc]int      // where each link is now
	target  map[int]int      // entry ID: the link it changes
	master  map[int]int      // entry ID of a master setting: the bridge
	made    map[int]int      // entry ID of a LinkAdd: its link (itself)
	lower   map[int]int      // entry ID of a macvlan's LinkAdd: its parent
}

func (e *Env) lineage() *lineage {
	lin := &lineage{where: map[loc]int{}, target: map[int]int{}, master: map[int]int{}, made: map[int]int{}, lower: map[int]int{}}
	var all []*session.Entry
	deleted := map[int]bool{}
	for _, st := range e.Session.Steps() {
		for _, en := range st.Entries {
			if !en.Live() {
				continue
			}
			all = append(all, en)
			if r, ok := en.Op.(ops.Replayer); ok {
				for _, id := range r.Replays() {
					deleted[id] = true
				}
			}
		}
	}
	at := func(ns, name string) loc { return loc{nsOrHost(ns), name} }
	for _, en := range all {
		if deleted[en.ID] {
			continue
		}
		lin.entries = append(lin.entries, en)
		switch o := en.Op.(type) {
		case *ops.LinkAdd:
			lin.made[en.ID] = en.ID
			lin.where[at(o.NS, o.Name)] = en.ID
			if pns, peer, ok := ops.PeerOf(o); ok {
				lin.where[at(pns, peer)] = en.ID
			}
			if m, ok := o.Type.(*ops.Macvlan); ok {
				lin.lower[en.ID] = lin.where[at(o.NS, m.Parent)]
			}
		case *ops.LinkMove:
			from := at(o.NS, o.Name)
			obj := lin.where[from]
			lin.target[en.ID] = obj
			delete(lin.where, from)
			if obj != 0 {
				lin.where[at(o.ToNS, o.NewName)] = obj
			}
		case *ops.LinkSet:
			lin.target[en.ID] = lin.where[at(o.NS, o.Name)]
			if o.Attr == "master" && o.Value != "" {
				lin.master[en.ID] = lin.where[at(o.NS, o.Value)]
			}
		case *ops.AddrAdd:
			lin.target[en.ID] = lin.where[at(o.NS, o.Link)]
		case *ops.RouteAdd:
			if o.Dev != "" {
				lin.target[en.ID] = lin.where[at(o.NS, o.Dev)]
			}
		case *ops.NetnsDel:
			lin.forget(func(l loc, _ int) bool { return l.ns == o.Name })
		case *ops.LinkDel:
			obj := lin.where[at(o.NS, o.Name)]
			lin.forget(func(_ loc, id int) bool { return id == obj })
		}
	}
	return lin
}

// forget drops the links that gone says went (with both ends of a pair).
func (lin *lineage) forget(gone func(loc, int) bool) {
	objs := map[int]bool{}
	for l, id := range lin.where {
		if gone(l, id) {
			objs[id] = true
		}
	}
	for l, id := range lin.where {
		if objs[id] {
			delete(lin.where, l)
		}
	}
}

// destroys returns the IDs of the entries whose work goes with the links
// objs (and, if ns is not "", with namespace ns and everything in it),
// oldest first. A macvlan goes with its parent, wherever it has moved.
func (e *Env) destroys(lin *lineage, ns string, objs map[int]bool) []int {
	for grew := true; grew; {
		grew = false
		for id, parent := range lin.lower {
			if parent != 0 && objs[parent] && !objs[id] {
				objs[id], grew = true, true
			}
		}
	}
	var ids []int
	for _, en := range lin.entries {
		id := en.ID
		in := objs[lin.target[id]] || objs[lin.master[id]] || objs[lin.made[id]]
		switch o := en.Op.(type) {
		case *ops.NetnsAdd:
			in = in || (ns != "" && o.Name == ns && !o.Sandbox)
		case *ops.RouteAdd:
			in = in || (o.Dev == "" && e.routeThrough(lin, o, objs))
		}
		if sc, ok := en.Op.(ops.Scoped); ok && ns != "" && !in {
			nss := sc.Namespaces()
			in = len(nss) > 0
			for _, n := range nss {
				in = in && n == ns
			}
		}
		if in {
			ids = append(ids, id)
		}
	}
	return ids
}

// routeThrough reports whether the kernel sends the route that o added
// (without a dev, through a gateway) out of one of the links objs: if
// they go, the kernel removes it.
func (e *Env) routeThrough(lin *lineage, o *ops.RouteAdd, objs map[int]bool) bool {
	_, h, err := e.ns(nsOrHost(o.NS))
	if err != nil {
		return false
	}
	routes, err := h.RouteList(nil, unix.AF_UNSPEC)
	if err != nil {
		return false
	}
	for _, r := range routes {
		dst := "default"
		if r.Dst != nil && !(r.Dst.IP.IsUnspecified() && prefixLen(r.Dst) == 0) {
			dst = r.Dst.String()
		}
		if _, n, err := net.ParseCIDR(o.Dst); err == nil {
			if dst != n.String() {
				continue
			}
		} else if dst != o.Dst {
			continue
		}
		if o.Via != "" && (r.Gw == nil || !r.Gw.Equal(net.ParseIP(o.Via))) {
			continue
		}
		l, err := h.LinkByIndex(r.LinkIndex)
		if err == nil && objs[lin.where[loc{nsOrHost(o.NS), l.Attrs().Name}]] {
			return true
		}
	}
	return false
}

func nsOrHost(ns string) string {
	if ns == "" {
		return kernel.HostName
	}
	return ns
}

// ns.delete() deletes a namespace the session made, as ip netns delete.
func netnsDelete(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	n := b.Receiver().(*Netns)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	env, err := envOf(thread)
	if err != nil {
		return nil, err
	}
	if n.name == kernel.HostName {
		return nil, fmt.Errorf("failed to delete host: nsh deletes only namespaces it made (nsh down removes a sandbox)")
	}
	lin := env.lineage()
	var add *ops.NetnsAdd
	for _, en := range lin.entries {
		switch o := en.Op.(type) {
		case *ops.NetnsAdd:
			if o.Name == n.name && !o.Sandbox {
				add = o
			}
		case *ops.ProcSpawn:
			if o.NS == n.name && add != nil {
				if pid, ok := nsexec.Running(o.Pidfile); ok && pid > 0 {
					return nil, fmt.Errorf("failed to delete namespace %q: process %d (%s), which this session started, runs in it, so ip netns delete would only remove its name; stop the process first", n.name, pid, ops.ShellJoin(o.Argv))
				}
			}
		}
	}
	if add == nil {
		return nil, fmt.Errorf("failed to delete namespace %q: this session did not make it (nsh deletes only what its session made)", n.name)
	}
	objs := map[int]bool{}
	for l, id := range lin.where {
		if l.ns == n.name {
			objs[id] = true
		}
	}
	op := &ops.NetnsDel{Name: n.name, Pin: add.Pin, Destroys: env.destroys(lin, n.name, objs)}
	if err := env.apply(op); err != nil {
		return nil, err
	}
	return starlark.None, nil
}

// link.delete() deletes a link the session made, as ip link delete: a
// veth with its other end.
func linkDelete(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	l, env, err := linkRecv(thread, b)
	if err != nil {
		return nil, err
	}
	lin := env.lineage()
	obj := lin.where[loc{nsOrHost(l.ns), l.name}]
	if obj == 0 {
		return nil, fmt.Errorf("failed to delete link %q%s: this session did not make it (nsh deletes only what its session made)", l.name, inNSLabel(l.ns))
	}
	nl, err := l.netlink(env)
	if err != nil {
		return nil, err
	}
	op := &ops.LinkDel{NS: l.ns, Name: l.name, Index: nl.Attrs().Index, Destroys: env.destroys(lin, "", map[int]bool{obj: true})}
	if err := env.apply(op); err != nil {
		return nil, err
	}
	return starlark.None, nil
}

func inNSLabel(ns string) string {
	if ns == kernel.HostName || ns == "" {
		return " in host"
	}
	return fmt.Sprintf(" in namespace %q", ns)
}
