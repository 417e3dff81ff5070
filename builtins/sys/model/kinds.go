package model

import (
	"net"
	"syscall"

	"github.com/vishvananda/netlink"
)

// extraKinds maps the netlink type of the kinds of link that carry
// attributes of their own (kept in link.spec) to the kernel's driver of
// them, which Options.Drivers names: a vxlan, a tun or tap (one driver,
// "tun", makes both), an 802.1Q vlan.
var extraKinds = map[string]string{
	"vxlan":  "vxlan",
	"tuntap": "tun",
	"vlan":   "vlan",
}

// kindSpec checks the attributes of a link of one of the extraKinds as
// the kernel does, and returns what the model keeps of them and the link
// the new one lives on (a vxlan's dev, a vlan's parent: deleting it
// deletes the new link), if any.
func (n *netns) kindSpec(l netlink.Link) (netlink.Link, *link, error) {
	switch v := l.(type) {
	case *netlink.Vxlan:
		if v.VxlanId < 0 || v.VxlanId > 1<<24-1 {
			return nil, nil, syscall.ERANGE
		}
		var dev *link
		if v.VtepDevIndex != 0 {
			if dev = n.links[v.VtepDevIndex]; dev == nil {
				return nil, nil, syscall.ENODEV
			}
		}
		port := v.Port
		if port == 0 {
			port = 8472 // the kernel's default
		}
		for _, m := range n.links {
			if x, ok := m.spec.(*netlink.Vxlan); ok && x.VxlanId == v.VxlanId && x.Port == port && x.SrcAddr.Equal(v.SrcAddr) {
				return nil, nil, syscall.EEXIST // vxlan_vni_in_use
			}
		}
		return &netlink.Vxlan{VxlanId: v.VxlanId, VtepDevIndex: v.VtepDevIndex, SrcAddr: v.SrcAddr, Group: v.Group,
			Port: port, Learning: v.Learning}, dev, nil
	case *netlink.Tuntap:
		if v.Mode != netlink.TUNTAP_MODE_TAP && v.Mode != netlink.TUNTAP_MODE_TUN {
			return nil, nil, syscall.EINVAL
		}
		return &netlink.Tuntap{Mode: v.Mode, Flags: v.Flags}, nil, nil
	case *netlink.Vlan:
		p := n.links[v.ParentIndex]
		switch {
		case p == nil:
			return nil, nil, syscall.ENODEV
		case p.kind == "loopback" || p.kind == "tun" && p.spec.(*netlink.Tuntap).Mode == netlink.TUNTAP_MODE_TUN:
			return nil, nil, syscall.EOPNOTSUPP // not an Ethernet link
		case v.VlanId < 0 || v.VlanId > 4094:
			return nil, nil, syscall.ERANGE
		}
		for _, m := range n.links {
			if x, ok := m.spec.(*netlink.Vlan); ok && m.parent == p && x.VlanId == v.VlanId {
				return nil, nil, syscall.EEXIST
			}
		}
		return &netlink.Vlan{VlanId: v.VlanId, VlanProtocol: v.VlanProtocol}, p, nil
	}
	return nil, nil, nil
}

// kindValue returns the netlink value of a link of one of the extraKinds,
// with attrs, as the library decodes one; nil for other kinds.
func (l *link) kindValue(a netlink.LinkAttrs) netlink.Link {
	switch s := l.spec.(type) {
	case *netlink.Vxlan:
		v := *s
		v.LinkAttrs = a
		v.SrcAddr = append(net.IP(nil), s.SrcAddr...)
		v.Group = append(net.IP(nil), s.Group...)
		return &v
	case *netlink.Tuntap:
		v := *s
		v.LinkAttrs = a
		return &v
	case *netlink.Vlan:
		v := *s
		v.LinkAttrs = a
		if l.parent != nil {
			v.ParentIndex = l.parent.index
		}
		return &v
	}
	return nil
}
