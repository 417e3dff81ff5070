package model

import (
	"syscall"

	"github.com/vishvananda/netlink"
)

// defaultQdiscs are the kinds of qdisc the model's kernel has when
// Options.Qdiscs is nil: those of the machine nsh is developed on, which
// has tbf but no netem.
var defaultQdiscs = []string{"tbf", "htb", "pfifo", "bfifo", "pfifo_fast", "fq_codel", "noqueue", "clsact", "ingress"}

// hasQdisc reports whether the kernel has the kind of qdisc.
func (k *Kernel) hasQdisc(kind string) bool {
	ks := k.opts.Qdiscs
	if ks == nil {
		ks = defaultQdiscs
	}
	for _, q := range ks {
		if q == kind {
			return true
		}
	}
	return false
}

// defaultQdisc returns the root qdisc the kernel attaches to l by itself:
// noop while it is down; noqueue for a link without a queue of its own
// (IFF_NO_QUEUE: veth, bridge, vxlan, macvlan, vlan, lo); pfifo_fast
// for a tun or tap.
func (l *link) defaultQdisc() netlink.Qdisc {
	kind := "noqueue"
	switch {
	case !l.up:
		kind = "noop"
	case l.kind == "tun":
		kind = "pfifo_fast"
	}
	return &netlink.GenericQdisc{QdiscType: kind, QdiscAttrs: netlink.QdiscAttrs{LinkIndex: l.index, Parent: netlink.HANDLE_ROOT, Refcnt: 2}}
}

// QdiscList implements kernel.Netlink: the link's root qdisc.
func (h *handle) QdiscList(l netlink.Link) ([]netlink.Qdisc, error) {
	var out []netlink.Qdisc
	err := h.change(l, func(n *netns, m *link) error {
		if m.qdisc == nil {
			out = []netlink.Qdisc{m.defaultQdisc()}
			return nil
		}
		out = []netlink.Qdisc{copyQdisc(m.qdisc, m.index)}
		return nil
	})
	return out, err
}

// copyQdisc returns a copy of q on the link with index idx.
func copyQdisc(q netlink.Qdisc, idx int) netlink.Qdisc {
	var c netlink.Qdisc
	switch q := q.(type) {
	case *netlink.Tbf:
		v := *q
		c = &v
	case *netlink.Netem:
		v := *q
		c = &v
	case *netlink.GenericQdisc:
		v := *q
		c = &v
	default:
		c = &netlink.GenericQdisc{QdiscType: q.Type(), QdiscAttrs: *q.Attrs()}
	}
	c.Attrs().LinkIndex = idx
	return c
}

// rootOf locks the model and returns the link whose root qdisc q names;
// the model has no classes, so another parent is EOPNOTSUPP. The caller
// unlocks, whatever it returns.
func (h *handle) rootOf(q netlink.Qdisc) (*netns, *link, error) {
	n, err := h.lock()
	if err != nil {
		return nil, nil, err
	}
	a := q.Attrs()
	m := n.links[a.LinkIndex]
	switch {
	case m == nil:
		return nil, nil, syscall.ENODEV
	case a.Parent != netlink.HANDLE_ROOT:
		return nil, nil, syscall.EOPNOTSUPP
	}
	return n, m, nil
}

// QdiscReplace implements kernel.Netlink, for the root only: a kind the
// kernel lacks is ENOENT (its module is missing); a qdisc of the root's
// kind without a handle, or with its handle, changes it in place;
// another one replaces it, with a handle the kernel picks if none is
// given.
func (h *handle) QdiscReplace(q netlink.Qdisc) error {
	n, m, err := h.rootOf(q)
	defer h.unlock()
	if err != nil {
		return err
	}
	if !n.k.hasQdisc(q.Type()) {
		return syscall.ENOENT
	}
	a := q.Attrs()
	c := copyQdisc(q, m.index)
	switch {
	case m.qdisc != nil && m.qdisc.Type() == q.Type() && (a.Handle == 0 || a.Handle == m.qdisc.Attrs().Handle):
		c.Attrs().Handle = m.qdisc.Attrs().Handle
	case a.Handle == 0:
		n.k.qdiscHandles++
		c.Attrs().Handle = uint32(0x8000+n.k.qdiscHandles) << 16
	}
	m.qdisc = c
	return nil
}

// QdiscDel implements kernel.Netlink, for the root only: the kernel
// attaches its default again.
func (h *handle) QdiscDel(q netlink.Qdisc) error {
	_, m, err := h.rootOf(q)
	defer h.unlock()
	if err != nil {
		return err
	}
	switch {
	case m.qdisc == nil:
		return syscall.ENOENT // "Cannot delete qdisc with handle of zero"
	case q.Type() != "" && q.Type() != m.qdisc.Type():
		return syscall.EINVAL
	}
	m.qdisc = nil
	return nil
}
