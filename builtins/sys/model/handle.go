package model

import (
	"errors"
	"fmt"
	"net"
	"reflect"
	"syscall"
	"unsafe"

	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/vishvananda/netlink"
)

// handle is a kernel.Netlink of the model, bound to a namespace.
type handle struct{ v *view }

var _ kernel.Netlink = (*handle)(nil)

// lock takes the Kernel's lock and returns the namespace, or the error of
// one that is gone. The caller unlocks k.mu.
func (h *handle) lock() (*netns, error) {
	h.v.k.mu.Lock()
	return h.v.live()
}

func (h *handle) unlock() { h.v.k.mu.Unlock() }

// find resolves a link as netlink does: by index, or by name if the index
// is 0 (ensureIndex).
func (n *netns) find(l netlink.Link) (*link, error) {
	if l == nil {
		return nil, syscall.ENODEV
	}
	a := l.Attrs()
	idx := a.Index
	if idx == 0 && a.Name != "" {
		if m := n.byName(a.Name); m != nil {
			return m, nil
		}
	}
	if m := n.links[idx]; m != nil {
		return m, nil
	}
	return nil, syscall.ENODEV
}

func validIfName(name string) error {
	if kernel.ValidateIfName(name) != nil {
		return syscall.EINVAL
	}
	return nil
}

// LinkAdd implements kernel.Netlink: a veth (its peer first, in its own
// namespace), a bridge or a dummy, down; it sets the link's index, as the
// library does.
func (h *handle) LinkAdd(l netlink.Link) error {
	n, err := h.lock()
	defer h.unlock()
	if err != nil {
		return err
	}
	a := l.Attrs()
	kind := l.Type()
	if ek, ok := extraKinds[kind]; ok {
		kind = ek
	} else if kind != "veth" && kind != "bridge" && kind != "dummy" && kind != "macvlan" {
		return syscall.EOPNOTSUPP
	}
	if !n.k.drivers[kind] {
		return syscall.EOPNOTSUPP
	}
	spec, specParent, err := n.kindSpec(l)
	if err != nil {
		return err
	}
	var parent *link
	var mode netlink.MacvlanMode
	if mv, ok := l.(*netlink.Macvlan); ok {
		// IFLA_LINK names the parent by index, in the same namespace.
		if parent = n.links[a.ParentIndex]; parent == nil {
			return syscall.ENODEV
		}
		if parent.kind == "loopback" {
			return syscall.EINVAL
		}
		if parent.master != nil {
			return syscall.EBUSY // a bridge port's frames belong to its bridge
		}
		mode = mv.Mode
	}
	if err := validIfName(a.Name); err != nil {
		return err
	}
	if n.byName(a.Name) != nil {
		return syscall.EEXIST
	}
	mk := func(name string) *link {
		m := &link{name: name, kind: kind, mtu: 1500, mac: n.k.newMAC()}
		if a.MTU > 0 {
			m.mtu = a.MTU
		}
		return m
	}
	var peer *link
	if v, ok := l.(*netlink.Veth); ok {
		pn := n
		switch fd := v.PeerNamespace.(type) {
		case nil:
		case netlink.NsFd:
			if pn = n.k.byFd[int(fd)]; pn == nil || !pn.alive() {
				return syscall.EBADF
			}
		default:
			return syscall.EINVAL
		}
		name := v.PeerName
		if name == "" {
			for i := 0; ; i++ {
				if name = fmt.Sprintf("veth%d", i); pn.byName(name) == nil && !(pn == n && name == a.Name) {
					break
				}
			}
		}
		if err := validIfName(name); err != nil {
			return err
		}
		if pn.byName(name) != nil || pn == n && name == a.Name {
			return syscall.EEXIST
		}
		peer = mk(name)
		pn.insert(peer, pn.allocIndex())
	}
	m := mk(a.Name)
	m.parent, m.mode = parent, mode
	if spec != nil {
		m.spec, m.parent = spec, specParent
		if m.kind == "vxlan" && specParent != nil && a.MTU == 0 {
			m.mtu = specParent.mtu - 50 // room for the outer headers
		}
	}
	if len(a.HardwareAddr) == 6 {
		m.mac = append(net.HardwareAddr(nil), a.HardwareAddr...)
	}
	n.insert(m, n.allocIndex())
	if peer != nil {
		m.peer, peer.peer = peer, m
	}
	a.Index = m.index
	if a.MasterIndex != 0 {
		return n.setMaster(m, a.MasterIndex)
	}
	return nil
}

// LinkDel implements kernel.Netlink.
func (h *handle) LinkDel(l netlink.Link) error {
	n, err := h.lock()
	defer h.unlock()
	if err != nil {
		return err
	}
	m, err := n.find(l)
	if err != nil {
		return err
	}
	if m.kind == "loopback" {
		return syscall.EOPNOTSUPP
	}
	n.remove(m)
	return nil
}

// LinkByName implements kernel.Netlink.
func (h *handle) LinkByName(name string) (netlink.Link, error) {
	n, err := h.lock()
	defer h.unlock()
	if err != nil {
		return nil, err
	}
	if m := n.byName(name); m != nil {
		return m.value(), nil
	}
	return nil, notFoundErr
}

// notFoundErr is what netlink returns for a link that is not there:
// LinkNotFoundError{"Link not found"}. Its error is an unexported
// embedded field, which only the library sets; the model sets it through
// reflect.
var notFoundErr = func() error {
	var e netlink.LinkNotFoundError
	f := reflect.ValueOf(&e).Elem().Field(0)
	reflect.NewAt(f.Type(), unsafe.Pointer(f.UnsafeAddr())).Elem().Set(reflect.ValueOf(errors.New("Link not found")))
	return e
}()

// LinkByIndex implements kernel.Netlink.
func (h *handle) LinkByIndex(index int) (netlink.Link, error) {
	n, err := h.lock()
	defer h.unlock()
	if err != nil {
		return nil, err
	}
	if m := n.links[index]; m != nil {
		return m.value(), nil
	}
	return nil, notFoundErr
}

// LinkList implements kernel.Netlink: by index, as the kernel dumps them.
func (h *handle) LinkList() ([]netlink.Link, error) {
	n, err := h.lock()
	defer h.unlock()
	if err != nil {
		return nil, err
	}
	var out []netlink.Link
	for _, m := range n.sortedLinks() {
		out = append(out, m.value())
	}
	return out, nil
}

// change finds a link and applies f to it under the lock.
func (h *handle) change(l netlink.Link, f func(n *netns, m *link) error) error {
	n, err := h.lock()
	defer h.unlock()
	if err != nil {
		return err
	}
	m, err := n.find(l)
	if err != nil {
		return err
	}
	return f(n, m)
}

// LinkSetUp implements kernel.Netlink.
func (h *handle) LinkSetUp(l netlink.Link) error {
	return h.change(l, func(n *netns, m *link) error { n.setUp(m, true); return nil })
}

// LinkSetDown implements kernel.Netlink.
func (h *handle) LinkSetDown(l netlink.Link) error {
	return h.change(l, func(n *netns, m *link) error { n.setUp(m, false); return nil })
}

// LinkSetMTU implements kernel.Netlink.
func (h *handle) LinkSetMTU(l netlink.Link, mtu int) error {
	return h.change(l, func(n *netns, m *link) error {
		max := 65535
		if m.kind == "loopback" {
			max = 1 << 31
		}
		if mtu < 68 || mtu > max {
			return syscall.EINVAL
		}
		m.mtu = mtu
		if m.kind == "bridge" {
			m.mtuSet = true
		} else if b := m.master; b != nil && !b.mtuSet {
			n.setMaster(m, b.index) // recompute the bridge's
		}
		return nil
	})
}

// LinkSetHardwareAddr implements kernel.Netlink.
func (h *handle) LinkSetHardwareAddr(l netlink.Link, hwaddr net.HardwareAddr) error {
	return h.change(l, func(n *netns, m *link) error {
		if len(hwaddr) != 6 {
			return syscall.EINVAL
		}
		if hwaddr[0]&1 != 0 || bytesZero(hwaddr) {
			return syscall.EADDRNOTAVAIL
		}
		m.mac = append(net.HardwareAddr(nil), hwaddr...)
		return nil
	})
}

func bytesZero(b []byte) bool {
	for _, x := range b {
		if x != 0 {
			return false
		}
	}
	return true
}

// LinkSetName implements kernel.Netlink.
func (h *handle) LinkSetName(l netlink.Link, name string) error {
	return h.change(l, func(n *netns, m *link) error { return n.rename(m, name) })
}

// LinkSetMaster implements kernel.Netlink.
func (h *handle) LinkSetMaster(l, master netlink.Link) error {
	idx := 0
	if master != nil {
		a := master.Attrs()
		if a.Index == 0 && a.Name != "" {
			if ml, err := h.LinkByName(a.Name); err == nil {
				a.Index = ml.Attrs().Index
			}
		}
		if idx = a.Index; idx <= 0 {
			return fmt.Errorf("Device does not exist")
		}
	}
	return h.LinkSetMasterByIndex(l, idx)
}

// LinkSetMasterByIndex implements kernel.Netlink.
func (h *handle) LinkSetMasterByIndex(l netlink.Link, masterIndex int) error {
	return h.change(l, func(n *netns, m *link) error { return n.setMaster(m, masterIndex) })
}

// LinkSetNoMaster implements kernel.Netlink.
func (h *handle) LinkSetNoMaster(l netlink.Link) error { return h.LinkSetMasterByIndex(l, 0) }

// LinkSetNsFd implements kernel.Netlink.
func (h *handle) LinkSetNsFd(l netlink.Link, fd int) error {
	return h.change(l, func(n *netns, m *link) error {
		to := n.k.byFd[fd]
		if to == nil || !to.alive() {
			return syscall.EBADF
		}
		return n.moveTo(m, to, "", 0)
	})
}

// MoveLink implements kernel.Namespace.
func (v *view) MoveLink(idx, fd int, name string, want int) error {
	h := &handle{v: v}
	return h.change(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: idx}}, func(n *netns, m *link) error {
		to := n.k.byFd[fd]
		if to == nil || !to.alive() {
			return syscall.EBADF
		}
		if name != "" {
			if err := validIfName(name); err != nil {
				return err
			}
		}
		return n.moveTo(m, to, name, want)
	})
}

// AddrAdd implements kernel.Netlink.
func (h *handle) AddrAdd(l netlink.Link, addr *netlink.Addr) error {
	return h.change(l, func(n *netns, m *link) error {
		if addr == nil || addr.IPNet == nil {
			return syscall.EINVAL
		}
		ip := addr.IP
		if v4 := ip.To4(); v4 != nil {
			ip = v4
		} else if n.conf(m, "ipv6/disable_ipv6") != "0" {
			return syscall.EACCES
		}
		for _, a := range m.addrs {
			if a.IP.Equal(ip) {
				return syscall.EEXIST
			}
		}
		m.addrs = append(m.addrs, &net.IPNet{IP: ip, Mask: addr.Mask})
		return nil
	})
}

// AddrDel implements kernel.Netlink.
func (h *handle) AddrDel(l netlink.Link, addr *netlink.Addr) error {
	return h.change(l, func(n *netns, m *link) error {
		if addr == nil || addr.IPNet == nil {
			return syscall.EINVAL
		}
		for i, a := range m.addrs {
			ao, _ := a.Mask.Size()
			bo, _ := addr.Mask.Size()
			if a.IP.Equal(addr.IP) && ao == bo {
				m.addrs = append(m.addrs[:i:i], m.addrs[i+1:]...)
				return nil
			}
		}
		return syscall.EADDRNOTAVAIL
	})
}

// AddrList implements kernel.Netlink: IPv4 addresses first, then IPv6
// ones (global before link-local), link by link.
func (h *handle) AddrList(l netlink.Link, family int) ([]netlink.Addr, error) {
	n, err := h.lock()
	defer h.unlock()
	if err != nil {
		return nil, err
	}
	links := n.sortedLinks()
	if l != nil {
		m, err := n.find(l)
		if err != nil {
			return nil, err
		}
		links = []*link{m}
	}
	var out []netlink.Addr
	add := func(m *link, a *net.IPNet) {
		out = append(out, netlink.Addr{IPNet: &net.IPNet{IP: a.IP, Mask: a.Mask}, LinkIndex: m.index, Label: m.name})
	}
	if family == syscall.AF_UNSPEC || family == syscall.AF_INET {
		for _, m := range links {
			for _, a := range m.addrs {
				if a.IP.To4() != nil {
					add(m, a)
				}
			}
		}
	}
	if family == syscall.AF_UNSPEC || family == syscall.AF_INET6 {
		for _, m := range links {
			for _, a := range m.addrs {
				if a.IP.To4() == nil && (m.up || m.kind == "loopback") {
					add(m, a)
				}
			}
			if m.ll {
				add(m, m.linkLocal())
			}
		}
	}
	return out, nil
}

// RouteAdd implements kernel.Netlink, with the kernel's checks: a device
// that is up, a gateway on a connected subnet (or one of the namespace's
// own addresses), no route to the same destination with the same metric.
func (h *handle) RouteAdd(r *netlink.Route) error {
	n, err := h.lock()
	defer h.unlock()
	if err != nil {
		return err
	}
	if r == nil || r.Dst == nil {
		return syscall.EINVAL
	}
	v4 := r.Dst.IP.To4() != nil
	nr := &route{dst: &net.IPNet{IP: r.Dst.IP.Mask(r.Dst.Mask), Mask: r.Dst.Mask}, gw: r.Gw, priority: r.Priority, scope: r.Scope, protocol: r.Protocol}
	if v4 {
		nr.dst.IP = nr.dst.IP.To4()
	} else if nr.priority == 0 {
		nr.priority = 1024
	}
	if r.LinkIndex > 0 {
		if nr.dev = n.links[r.LinkIndex]; nr.dev == nil {
			return syscall.ENODEV
		}
	}
	if r.Gw != nil {
		dev, err := n.nexthop(r.Gw, nr.dev)
		if err != nil {
			return err
		}
		nr.dev = dev
	} else if nr.dev == nil {
		return syscall.EINVAL
	} else if !nr.dev.up {
		return syscall.ENETDOWN
	}
	for _, x := range n.mainRoutes() {
		xo, _ := x.Dst.Mask.Size()
		no, _ := nr.dst.Mask.Size()
		if x.Dst.IP.Equal(nr.dst.IP) && xo == no && x.Priority == nr.priority && (v4 || x.LinkIndex == nr.dev.index && x.Gw.Equal(nr.gw)) {
			return syscall.EEXIST
		}
	}
	n.routes = append(n.routes, nr)
	return nil
}

// nexthop finds the link through which gw is reached, as fib_check_nh
// does: a connected route of a link that is up (dev, if given), or one of
// the namespace's own addresses.
func (n *netns) nexthop(gw net.IP, dev *link) (*link, error) {
	v4 := gw.To4() != nil
	for _, m := range n.sortedLinks() {
		for _, a := range m.addrs {
			if (a.IP.To4() != nil) == v4 && a.IP.Equal(gw) && (dev == nil || dev == m) {
				if !m.up {
					return nil, syscall.ENETDOWN
				}
				return m, nil
			}
		}
	}
	var best *link
	bestLen := -1
	for _, m := range n.sortedLinks() {
		if !m.up || dev != nil && m != dev {
			continue
		}
		for _, a := range m.addrs {
			if (a.IP.To4() != nil) != v4 || !a.Contains(gw) {
				continue
			}
			if ones, _ := a.Mask.Size(); ones > bestLen {
				best, bestLen = m, ones
			}
		}
		if !v4 && m.ll && gw.IsLinkLocalUnicast() && dev != nil {
			best, bestLen = m, 64
		}
	}
	if best == nil {
		return nil, syscall.ENETUNREACH
	}
	return best, nil
}

// RouteDel implements kernel.Netlink: the first added route that matches
// the destination and what else is given (gateway, device, metric).
func (h *handle) RouteDel(r *netlink.Route) error {
	n, err := h.lock()
	defer h.unlock()
	if err != nil {
		return err
	}
	if r == nil || r.Dst == nil {
		return syscall.EINVAL
	}
	ro, _ := r.Dst.Mask.Size()
	for i, x := range n.routes {
		xo, _ := x.dst.Mask.Size()
		switch {
		case !x.dst.IP.Equal(r.Dst.IP.Mask(r.Dst.Mask)) || xo != ro:
		case r.Priority != 0 && r.Priority != x.priority:
		case r.Gw != nil && !r.Gw.Equal(x.gw):
		case r.LinkIndex != 0 && (x.dev == nil || x.dev.index != r.LinkIndex):
		case r.Scope != x.scope:
		default:
			n.routes = append(n.routes[:i:i], n.routes[i+1:]...)
			return nil
		}
	}
	return syscall.ESRCH
}

// RouteList implements kernel.Netlink: the main table, as netlink lists
// it without a filter.
func (h *handle) RouteList(l netlink.Link, family int) ([]netlink.Route, error) {
	n, err := h.lock()
	defer h.unlock()
	if err != nil {
		return nil, err
	}
	idx := 0
	if l != nil {
		m, err := n.find(l)
		if err != nil {
			return nil, err
		}
		idx = m.index
	}
	var out []netlink.Route
	for _, r := range n.mainRoutes() {
		if (family == syscall.AF_UNSPEC || family == r.Family) && (idx == 0 || r.LinkIndex == idx) {
			out = append(out, r)
		}
	}
	return out, nil
}

// RouteGetWithOptions implements kernel.Netlink, as `ip route get` answers:
// the route of the main table with the longest prefix that holds dst
// (lowest metric first among equals), leaving through the link of
// opts.OifIndex where it is given. A local address of the namespace is
// RTN_LOCAL, through lo.
func (h *handle) RouteGetWithOptions(dst net.IP, opts *netlink.RouteGetOptions) ([]netlink.Route, error) {
	n, err := h.lock()
	defer h.unlock()
	if err != nil {
		return nil, err
	}
	if v4 := dst.To4(); v4 != nil {
		dst = v4
	}
	for _, l := range n.links {
		for _, a := range l.addrs {
			if a.IP.Equal(dst) {
				lo := 1
				for _, m := range n.links {
					if m.kind == "loopback" {
						lo = m.index
					}
				}
				return []netlink.Route{{Dst: &net.IPNet{IP: dst, Mask: net.CIDRMask(len(dst)*8, len(dst)*8)}, LinkIndex: lo, Type: syscall.RTN_LOCAL}}, nil
			}
		}
	}
	var best *netlink.Route
	bestLen := -1
	for _, r := range n.mainRoutes() {
		if opts != nil && opts.OifIndex != 0 && r.LinkIndex != opts.OifIndex {
			continue
		}
		plen := 0
		if r.Dst != nil {
			if !r.Dst.Contains(dst) {
				continue
			}
			plen, _ = r.Dst.Mask.Size()
		} else if (r.Family == syscall.AF_INET6) != (dst.To4() == nil) {
			continue
		}
		if plen > bestLen || plen == bestLen && r.Priority < best.Priority {
			r := r
			best, bestLen = &r, plen
		}
	}
	if best == nil {
		return nil, syscall.ENETUNREACH
	}
	return []netlink.Route{*best}, nil
}
