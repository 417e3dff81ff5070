package probe

import (
	"context"
	"net"
	"net/netip"
	"time"

	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// A link that has just come up cannot send yet. Its carrier is on at once
// (IFF_LOWER_UP), but the kernel attaches its queueing discipline, sets
// its operational state to UP and tells a bridge that the port may
// forward only later, in its linkwatch work: on a worker thread, under
// the global RTNL lock, and for non-urgent events at most once a second.
// Until then the link's queue is noop_qdisc, which drops every packet.
// A probe sent at that moment loses its first ARP request (or IPv6
// neighbour solicitation); the echo request or TCP SYN waits in the
// neighbour's queue, and the kernel asks again only after retrans_time
// (1 second), so the reply comes after a default timeout of 1 second.
// Resending the probe does not help: the copies wait in the same queue.
//
// So before the first packet a probe settles the path to its destination:
// it follows the route from namespace to namespace (RTM_GETROUTE, a
// veth's peer, the bridge of a port) and reads each link with RTM_GETLINK.
// Since Linux 6.8 reading one link runs its pending linkwatch event at
// once (linkwatch_sync_dev, "synchronize carrier state with link watch"):
// the reading itself makes the link operational, ports before their
// bridge. On an older kernel, and for anything the reading does not
// settle, the probe waits while a link on the path has carrier but is
// not operational yet, which the kernel is bound to fix by itself, for at
// most settleMax. A link that is down, or has no carrier (its veth peer is
// down), is not waited for: it will not come up by itself, and the probe
// fails as it should.
//
// The wait does not count against the probe's timeout: the time the
// kernel takes to finish bringing up a link is the lab's setup, not the
// network's answer, and it can be longer than a whole default timeout
// (linkwatch runs non-urgent events up to a second late, later on a busy
// machine). The timeout starts with the first packet.

// settleMax bounds the wait for links that the kernel is still bringing
// up. It is spent only while a link on the path has carrier but is not
// operational, which takes microseconds on Linux 6.8 and later.
const settleMax = 5 * time.Second

// settlePoll is how often the path is read again while it is not settled.
const settlePoll = 5 * time.Millisecond

// maxHops bounds the number of namespaces the walk follows.
const maxHops = 8

// settle reads the links on the path from ns to dst until none of them is
// still being brought up by the kernel, ctx is done, or settleMax passes.
// oif is the index of the link dst's zone names, or 0. k finds the
// namespaces of veth peers; with k nil the walk stays in ns. Problems
// (a namespace or link that vanished, no route) end the walk silently:
// the probe itself then says what is wrong.
func settle(ctx context.Context, k kernel.Kernel, ns kernel.Namespace, dst netip.Addr, oif int) {
	deadline := time.Now().Add(settleMax)
	for walkPath(k, ns, dst, oif) && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(settlePoll):
		}
	}
}

// walkPath reads each link on the path from ns to dst once, and reports
// whether one of them is still being brought up.
func walkPath(k kernel.Kernel, ns kernel.Namespace, dst netip.Addr, oif int) (pending bool) {
	ip := net.IP(dst.WithZone("").AsSlice())
	cur := ns
	seen := map[kernel.Namespace]bool{}
	for hop := 0; hop < maxHops && cur != nil && !seen[cur]; hop++ {
		seen[cur] = true
		h, err := cur.Netlink()
		if err != nil {
			return pending
		}
		var opts *netlink.RouteGetOptions
		if hop == 0 && oif != 0 {
			opts = &netlink.RouteGetOptions{OifIndex: oif}
		}
		routes, err := h.RouteGetWithOptions(ip, opts)
		if err == nil && len(routes) > 0 && routes[0].Type == unix.RTN_LOCAL && ip.To4() == nil {
			// The destination is here: its address must be past DAD.
			return tentative(h, 0, ip) || pending
		}
		if err != nil || len(routes) == 0 || routes[0].Type == unix.RTN_LOCAL || routes[0].LinkIndex == 0 {
			return pending
		}
		l, p := readLink(h, routes[0].LinkIndex)
		pending = pending || p
		if ip.To4() == nil && tentative(h, routes[0].LinkIndex, nil) {
			// No source address to send from yet.
			pending = true
		}
		if l == nil {
			return pending
		}
		switch l.Type() {
		case "bridge":
			// Packets may leave through any port: read them all, and
			// their veth peers, then the bridge, whose carrier follows
			// its ports. Which port leads on is not known: stop here.
			return settleBridge(k, cur, h, l) || pending
		case "veth":
			peerNS, ph := peerOf(k, cur, h, l)
			if ph == nil {
				return pending
			}
			pl, p := readLink(ph, l.Attrs().ParentIndex)
			pending = pending || p
			if pl == nil {
				return pending
			}
			if m := pl.Attrs().MasterIndex; m != 0 {
				// A port of a bridge in the peer's namespace: frames
				// may leave through any of its ports, and the bridge
				// forwards only to ports it saw become operational, so
				// read them all (and their peers), then the bridge. The
				// route there may not lead on (a bridge without an
				// address): the ports are then all there is to settle.
				if br, _ := readLink(ph, m); br != nil && br.Type() == "bridge" {
					pending = settleBridge(k, peerNS, ph, br) || pending
				}
			}
			cur = peerNS
		default:
			return pending
		}
	}
	return pending
}

// settleBridge reads the ports of bridge br in ns, each port's veth peer,
// and then br itself, and reports whether one is still being brought up.
func settleBridge(k kernel.Kernel, ns kernel.Namespace, h kernel.Netlink, br netlink.Link) (pending bool) {
	links, err := h.LinkList()
	if err != nil {
		return false
	}
	for _, port := range links {
		if port.Attrs().MasterIndex != br.Attrs().Index {
			continue
		}
		l, p := readLink(h, port.Attrs().Index)
		pending = pending || p
		if l != nil && l.Type() == "veth" {
			if _, ph := peerOf(k, ns, h, l); ph != nil {
				_, p := readLink(ph, l.Attrs().ParentIndex)
				pending = pending || p
			}
		}
	}
	_, p := readLink(h, br.Attrs().Index)
	return pending || p
}

// peerOf returns the namespace of veth l's peer, and its netlink handle,
// or nil if it cannot be found.
func peerOf(k kernel.Kernel, ns kernel.Namespace, h kernel.Netlink, l netlink.Link) (kernel.Namespace, kernel.Netlink) {
	nsid := l.Attrs().NetNsID
	if nsid < 0 {
		return ns, h // both ends in ns
	}
	if k == nil {
		return nil, nil
	}
	name, ok := k.NameOfNsID(ns, nsid)
	if !ok {
		return nil, nil
	}
	peer, err := k.Namespace(name)
	if err != nil {
		return nil, nil
	}
	ph, err := peer.Netlink()
	if err != nil {
		return nil, nil
	}
	return peer, ph
}

// readLink reads the link with index in h's namespace (RTM_GETLINK,
// which on Linux 6.8 and later also runs the link's pending linkwatch
// event), and reports whether the kernel is still bringing it up: it is
// up and has carrier, but its operational state is not UP yet. A link
// that never reports one (UNKNOWN, as lo) is settled once it is up.
func readLink(h kernel.Netlink, index int) (netlink.Link, bool) {
	l, err := h.LinkByIndex(index)
	if err != nil {
		return nil, false
	}
	a := l.Attrs()
	up := a.RawFlags&unix.IFF_UP != 0
	carrier := a.RawFlags&unix.IFF_LOWER_UP != 0
	switch a.OperState {
	case netlink.OperDown, netlink.OperLowerLayerDown:
		return l, up && carrier
	}
	return l, false
}

// tentative reports whether an IPv6 address is still in duplicate
// address detection: that of the link with index (every global one of it,
// which the packet's source is chosen from), or, with index 0, the
// address ip of any link. A tentative address neither sends nor receives,
// and DAD ends by itself (about a second after the link came up) unless
// it fails, which a probe does not wait for: the kernel marks the address
// dadfailed, and the probe fails as it should.
func tentative(h kernel.Netlink, index int, ip net.IP) bool {
	var l netlink.Link
	if index != 0 {
		l = &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: index}}
	}
	addrs, err := h.AddrList(l, unix.AF_INET6)
	if err != nil {
		return false
	}
	for _, a := range addrs {
		if a.Flags&unix.IFA_F_DADFAILED != 0 || a.Flags&unix.IFA_F_TENTATIVE == 0 {
			continue
		}
		if ip != nil && a.IP.Equal(ip) || ip == nil && !a.IP.IsLinkLocalUnicast() {
			return true
		}
	}
	return false
}
