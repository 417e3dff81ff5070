package probe

import (
	"context"
	"time"

	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/vishvananda/netlink"
)

// settleAll settles, once for a whole check, every link a request of
// PingAll may cross: those of the nodes' namespaces, and of the
// namespaces their veth peers lead to, up to maxHops away (a hub with a
// bridge, a router). Each link is read with RTM_GETLINK, bridges after
// their ports (see settle, which does the same along the path of one
// probe); then those still being brought up are read again every
// settlePoll until none is, ctx is done, or settleMax passes. Settling
// the lab once costs a few requests per link, where settling the path of
// each of N² requests would cost N³.
func settleAll(ctx context.Context, k kernel.Kernel, nodes []kernel.Namespace) {
	type item struct {
		ns    kernel.Namespace
		depth int
	}
	type pend struct {
		h     kernel.Netlink
		index int
	}
	var (
		queue   []item
		pending []pend
		visited = map[string]kernel.Namespace{}
		hubs    []kernel.Namespace // visited namespaces that are not nodes, the likeliest peers
		// reached holds, per namespace, the veth ends whose peer was
		// already followed from the other side.
		reached = map[string]map[int]bool{}
	)
	for _, ns := range nodes {
		if _, ok := visited[ns.Name()]; !ok {
			visited[ns.Name()] = ns
			queue = append(queue, item{ns, 0})
		}
	}
	for len(queue) > 0 {
		cur := queue[0]
		queue = queue[1:]
		h, err := cur.ns.Netlink()
		if err != nil {
			continue
		}
		links, err := h.LinkList()
		if err != nil {
			continue
		}
		// Ports before their bridge, whose carrier follows them.
		var bridges []netlink.Link
		for _, l := range links {
			if l.Type() == "bridge" {
				bridges = append(bridges, l)
				continue
			}
			rl, p := readLink(h, l.Attrs().Index)
			if p {
				pending = append(pending, pend{h, l.Attrs().Index})
			}
			if rl == nil || rl.Type() != "veth" || rl.Attrs().NetNsID < 0 || cur.depth >= maxHops {
				continue
			}
			if reached[cur.ns.Name()][rl.Attrs().Index] {
				continue
			}
			peer := peerNamespace(k, cur.ns, h, rl, hubs, nodes)
			if peer == nil {
				continue
			}
			if reached[peer.Name()] == nil {
				reached[peer.Name()] = map[int]bool{}
			}
			reached[peer.Name()][rl.Attrs().ParentIndex] = true
			if _, ok := visited[peer.Name()]; !ok {
				visited[peer.Name()] = peer
				hubs = append(hubs, peer)
				queue = append(queue, item{peer, cur.depth + 1})
			}
		}
		for _, l := range bridges {
			if _, p := readLink(h, l.Attrs().Index); p {
				pending = append(pending, pend{h, l.Attrs().Index})
			}
		}
	}
	deadline := time.Now().Add(settleMax)
	for len(pending) > 0 && time.Now().Before(deadline) {
		select {
		case <-ctx.Done():
			return
		case <-time.After(settlePoll):
		}
		still := pending[:0]
		for _, p := range pending {
			if _, busy := readLink(p.h, p.index); busy {
				still = append(still, p)
			}
		}
		pending = still
	}
}

// nsIDer is what *netlink.Handle offers beyond kernel.Netlink to tell
// which namespace an nsid stands for.
type nsIDer interface {
	GetNetNsIdByFd(fd int) (int, error)
}

// peerNamespace returns the namespace of veth l's peer, l being in ns: it
// asks first about the candidates a lab most likely leads to (the hubs
// found so far, then the nodes), and then k, which looks through every
// namespace it knows.
func peerNamespace(k kernel.Kernel, ns kernel.Namespace, h kernel.Netlink, l netlink.Link, hubs, nodes []kernel.Namespace) kernel.Namespace {
	nsid := l.Attrs().NetNsID
	if q, ok := h.(nsIDer); ok {
		for _, list := range [][]kernel.Namespace{hubs, nodes} {
			for _, c := range list {
				if c == ns {
					continue
				}
				if id, err := q.GetNetNsIdByFd(c.Fd()); err == nil && id == nsid {
					return c
				}
			}
		}
	}
	if k == nil {
		return nil
	}
	name, ok := k.NameOfNsID(ns, nsid)
	if !ok {
		return nil
	}
	peer, err := k.Namespace(name)
	if err != nil {
		return nil
	}
	return peer
}
