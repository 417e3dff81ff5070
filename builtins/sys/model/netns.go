package model

import (
	"bytes"
	"net"
	"sort"
	"syscall"

	"github.com/vishvananda/netlink"
)

// netns is the state of one network namespace.
type netns struct {
	k      *Kernel
	name   string // its /run/netns name, "" for the machine's own
	fd     int
	pin    uint64
	dead   bool
	links  map[int]*link
	cursor int      // the last index allocated, as net->ifindex
	routes []*route // routes added by netlink, not the kernel's own
	sysctl map[string]string
	ipt    map[string]*iptTable
	nsids  map[*netns]int
}

func (n *netns) alive() bool { return !n.dead }

// link is one network interface.
type link struct {
	ns     *netns
	index  int
	name   string
	kind   string // "loopback", "veth", "bridge", "dummy", "macvlan", and those of kinds.go
	up     bool
	mtu    int
	mtuSet bool // a bridge's MTU set by hand, which ports no longer change
	mac    net.HardwareAddr
	master *link
	peer   *link
	parent *link               // a macvlan's parent, in the same namespace
	mode   netlink.MacvlanMode // a macvlan's mode
	spec   netlink.Link        // the kind's own attributes (kinds.go), or nil
	qdisc  netlink.Qdisc       // the root qdisc set through netlink (qdisc.go), or nil for the default
	addrs  []*net.IPNet        // IPv4 and global IPv6 addresses, in the order added
	ll     bool                // has its IPv6 link-local address
	conf   map[string]string
}

// route is a route added through netlink.
type route struct {
	dst      *net.IPNet
	gw       net.IP
	dev      *link
	priority int
	scope    netlink.Scope
	protocol netlink.RouteProtocol
}

// allocIndex allocates an index as the kernel does: the first free one
// after the last allocated, wrapping around.
func (n *netns) allocIndex() int {
	i := n.cursor
	for {
		i++
		if i <= 0 {
			i = 1
		}
		if n.links[i] == nil {
			n.cursor = i
			return i
		}
	}
}

// insert adds l to n under index idx.
func (n *netns) insert(l *link, idx int) {
	l.ns = n
	l.index = idx
	n.links[idx] = l
	l.conf = n.deviceConf()
}

func (n *netns) byName(name string) *link {
	for _, l := range n.links {
		if l.name == name {
			return l
		}
	}
	return nil
}

func (n *netns) sortedLinks() []*link {
	out := make([]*link, 0, len(n.links))
	for _, l := range n.links {
		out = append(out, l)
	}
	sort.Slice(out, func(i, j int) bool { return out[i].index < out[j].index })
	return out
}

// nsidOf returns the nsid by which n knows m, assigning the next one on
// first use as the kernel does (peernet2id_alloc).
func (n *netns) nsidOf(m *netns) int {
	if id, ok := n.nsids[m]; ok {
		return id
	}
	id := len(n.nsids)
	n.nsids[m] = id
	return id
}

// carrier reports whether l has a carrier: a veth whose peer is up, a
// bridge with a port that has one, always for the rest.
func (l *link) carrier() bool {
	switch l.kind {
	case "veth":
		return l.peer != nil && l.peer.up
	case "bridge":
		for _, p := range l.ns.links {
			if p.master == l && p.up && p.carrier() {
				return true
			}
		}
		return false
	case "macvlan", "vlan":
		return l.parent != nil && l.parent.up && l.parent.carrier()
	case "tun":
		return false // no program has it open
	}
	return true
}

// operState is the link's RFC 2863 state, as `ip link` shows it.
func (l *link) operState() netlink.LinkOperState {
	switch {
	case !l.up:
		return netlink.OperDown
	case l.kind == "loopback" || l.kind == "dummy":
		return netlink.OperUnknown
	case l.kind == "veth" && !l.carrier():
		return netlink.OperLowerLayerDown
	case !l.carrier():
		return netlink.OperDown
	}
	return netlink.OperUp
}

// value returns the link as netlink reports it to namespace from.
func (l *link) value() netlink.Link {
	a := netlink.NewLinkAttrs()
	a.Index = l.index
	a.Name = l.name
	a.MTU = l.mtu
	a.TxQLen = 1000
	a.HardwareAddr = append(net.HardwareAddr(nil), l.mac...)
	a.OperState = l.operState()
	if l.kind == "loopback" {
		a.Flags |= net.FlagLoopback
	} else {
		a.Flags |= net.FlagBroadcast | net.FlagMulticast
	}
	if l.up {
		a.Flags |= net.FlagUp
		if l.carrier() {
			a.Flags |= net.FlagRunning
		}
	}
	if l.master != nil {
		a.MasterIndex = l.master.index
	}
	switch l.kind {
	case "veth":
		if l.peer != nil {
			a.ParentIndex = l.peer.index
			if l.peer.ns != l.ns {
				a.NetNsID = l.ns.nsidOf(l.peer.ns)
			}
		}
		return &netlink.Veth{LinkAttrs: a}
	case "bridge":
		return &netlink.Bridge{LinkAttrs: a}
	case "dummy":
		return &netlink.Dummy{LinkAttrs: a}
	case "macvlan":
		if l.parent != nil {
			a.ParentIndex = l.parent.index
		}
		return &netlink.Macvlan{LinkAttrs: a, Mode: l.mode}
	}
	if v := l.kindValue(a); v != nil {
		return v
	}
	return &netlink.Device{LinkAttrs: a}
}

// newMAC returns a locally administered unicast address, different for
// every link of the Kernel.
func (k *Kernel) newMAC() net.HardwareAddr {
	k.macs++
	return net.HardwareAddr{0x02, 0x6e, 0x73, byte(k.macs >> 16), byte(k.macs >> 8), byte(k.macs)}
}

// setUp changes a link's administrative state and what follows from it:
// going down drops its routes and IPv6 addresses; lo gets 127.0.0.1/8
// and ::1 the first time it goes up.
func (n *netns) setUp(l *link, up bool) {
	if l.up == up {
		return
	}
	l.up = up
	if !up {
		l.ll = false
		n.dropRoutes(l)
		if l.kind != "loopback" {
			// IPv6 addresses go with the link's state
			// (keep_addr_on_down=0); IPv4 ones stay.
			var keep []*net.IPNet
			for _, a := range l.addrs {
				if a.IP.To4() != nil {
					keep = append(keep, a)
				}
			}
			l.addrs = keep
		}
	} else if l.kind == "loopback" && len(l.addrs) == 0 {
		l.addrs = append(l.addrs,
			&net.IPNet{IP: net.IPv4(127, 0, 0, 1).To4(), Mask: net.CIDRMask(8, 32)},
			&net.IPNet{IP: net.IPv6loopback, Mask: net.CIDRMask(128, 128)})
	}
	n.k.refreshLL()
}

// refreshLL gives every link that is up and has a carrier its IPv6
// link-local address, as addrconf does once a link is ready.
func (k *Kernel) refreshLL() {
	for _, n := range k.byFd {
		for _, l := range n.links {
			if l.kind != "loopback" && l.up && !l.ll && l.carrier() && n.conf(l, "ipv6/disable_ipv6") == "0" {
				l.ll = true
			}
		}
	}
}

// linkLocal returns a link's EUI-64 IPv6 link-local address.
func (l *link) linkLocal() *net.IPNet {
	ip := make(net.IP, 16)
	ip[0], ip[1] = 0xfe, 0x80
	m := l.mac
	if len(m) == 6 {
		ip[8], ip[9], ip[10], ip[11] = m[0]^2, m[1], m[2], 0xff
		ip[12], ip[13], ip[14], ip[15] = 0xfe, m[3], m[4], m[5]
	}
	return &net.IPNet{IP: ip, Mask: net.CIDRMask(64, 128)}
}

// dropRoutes removes the routes through l.
func (n *netns) dropRoutes(l *link) {
	var keep []*route
	for _, r := range n.routes {
		if r.dev != l {
			keep = append(keep, r)
		}
	}
	n.routes = keep
}

// remove deletes l, and its veth peer with it.
func (n *netns) remove(l *link) {
	if n.links[l.index] != l {
		return
	}
	n.detach(l)
	delete(n.links, l.index)
	if p := l.peer; p != nil {
		l.peer, p.peer = nil, nil
		p.ns.remove(p)
	}
	// Deleting a link deletes the macvlans on it.
	for _, m := range n.links {
		if m.parent == l {
			m.parent = nil
			n.remove(m)
		}
	}
	n.k.refreshLL()
}

// detach takes l out of the namespace's state as unregistering it does:
// down, out of its bridge, its ports out of it, without addresses or
// routes.
func (n *netns) detach(l *link) {
	l.up = false
	l.ll = false
	l.master = nil
	for _, p := range n.links {
		if p.master == l {
			p.master = nil
		}
	}
	l.addrs = nil
	n.dropRoutes(l)
}

// moveTo moves l to namespace to under name, as IFLA_NET_NS_FD does.
func (n *netns) moveTo(l *link, to *netns, name string, want int) error {
	if l.kind == "loopback" || l.kind == "bridge" {
		return syscall.EINVAL // NETIF_F_NETNS_LOCAL
	}
	if name == "" {
		name = l.name
	}
	if to == n {
		return n.rename(l, name)
	}
	if to.byName(name) != nil {
		return syscall.EEXIST
	}
	if want > 0 && to.links[want] != nil {
		return syscall.EBUSY
	}
	n.detach(l)
	delete(n.links, l.index)
	idx := l.index
	if want > 0 {
		idx = want
	} else if to.links[idx] != nil {
		idx = to.allocIndex()
	}
	l.name = name
	to.insert(l, idx)
	n.k.refreshLL()
	return nil
}

// rename renames l, which must be down.
func (n *netns) rename(l *link, name string) error {
	if name == l.name {
		return nil
	}
	if err := validIfName(name); err != nil {
		return err
	}
	if l.up {
		return syscall.EBUSY
	}
	if n.byName(name) != nil {
		return syscall.EEXIST
	}
	l.name = name
	return nil
}

// setMaster makes l a port of the bridge with index idx (0: of none), as
// do_set_master does: out of its bridge first, then into the new one.
func (n *netns) setMaster(l *link, idx int) error {
	if l.master != nil {
		if l.master.index == idx {
			return nil
		}
		l.master = nil
	}
	if idx == 0 {
		return nil
	}
	m := n.links[idx]
	switch {
	case m == nil:
		return syscall.EINVAL
	case m.kind != "bridge":
		return syscall.EOPNOTSUPP
	case l.kind == "bridge":
		return syscall.ELOOP
	case l.kind == "loopback":
		return syscall.EINVAL
	}
	l.master = m
	if !m.mtuSet {
		mtu := 0
		for _, p := range n.links {
			if p.master == m && (mtu == 0 || p.mtu < mtu) {
				mtu = p.mtu
			}
		}
		m.mtu = mtu
	}
	n.k.refreshLL()
	return nil
}

// mainRoutes returns the routes of the main table: the connected routes of
// the addresses of the links that are up, and those added.
func (n *netns) mainRoutes() []netlink.Route {
	var out []netlink.Route
	for _, l := range n.sortedLinks() {
		if !l.up || l.kind == "loopback" {
			continue
		}
		for _, a := range l.addrs {
			if a.IP.To4() == nil {
				continue
			}
			ones, _ := a.Mask.Size()
			if ones == 32 {
				continue
			}
			out = append(out, netlink.Route{
				LinkIndex: l.index, Dst: &net.IPNet{IP: a.IP.Mask(a.Mask), Mask: a.Mask},
				Src: a.IP, Scope: netlink.SCOPE_LINK, Protocol: syscall.RTPROT_KERNEL,
				Family: syscall.AF_INET, Table: syscall.RT_TABLE_MAIN, Type: syscall.RTN_UNICAST,
			})
		}
	}
	for _, r := range n.routes {
		if r.dst.IP.To4() != nil {
			out = append(out, r.value(syscall.AF_INET))
		}
	}
	for _, l := range n.sortedLinks() {
		if !l.up {
			continue
		}
		if l.kind == "loopback" {
			out = append(out, netlink.Route{LinkIndex: l.index, Dst: &net.IPNet{IP: net.IPv6loopback, Mask: net.CIDRMask(128, 128)},
				Protocol: syscall.RTPROT_KERNEL, Priority: 256, Family: syscall.AF_INET6, Table: syscall.RT_TABLE_MAIN, Type: syscall.RTN_UNICAST})
			continue
		}
		if l.ll {
			out = append(out, netlink.Route{LinkIndex: l.index, Dst: &net.IPNet{IP: net.ParseIP("fe80::"), Mask: net.CIDRMask(64, 128)},
				Protocol: syscall.RTPROT_KERNEL, Priority: 256, Family: syscall.AF_INET6, Table: syscall.RT_TABLE_MAIN, Type: syscall.RTN_UNICAST})
		}
	}
	for _, r := range n.routes {
		if r.dst.IP.To4() == nil {
			out = append(out, r.value(syscall.AF_INET6))
		}
	}
	sort.SliceStable(out, func(i, j int) bool {
		a, b := out[i], out[j]
		if a.Family != b.Family {
			return a.Family < b.Family
		}
		if c := bytes.Compare(a.Dst.IP, b.Dst.IP); c != 0 {
			return c < 0
		}
		ai, _ := a.Dst.Mask.Size()
		bi, _ := b.Dst.Mask.Size()
		if ai != bi {
			return ai > bi
		}
		return a.Priority < b.Priority
	})
	return out
}

func (r *route) value(family int) netlink.Route {
	v := netlink.Route{Dst: r.dst, Gw: r.gw, Priority: r.priority, Scope: r.scope, Protocol: r.protocol,
		Family: family, Table: syscall.RT_TABLE_MAIN, Type: syscall.RTN_UNICAST}
	if r.dev != nil {
		v.LinkIndex = r.dev.index
	}
	return v
}
