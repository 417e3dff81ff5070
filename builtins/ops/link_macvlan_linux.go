package ops

import (
	"errors"
	"fmt"
	"net"
	"strings"

	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Macvlan is a macvlan: a link with its own MAC address on top of Parent,
// an Ethernet link in the same namespace, in one of the MacvlanModes.
// Deleting the parent deletes its macvlans, which a revert counts as done.
type Macvlan struct {
	Parent string `json:"parent"`
	Mode   string `json:"mode"`
}

func init() { RegisterLinkKind(func() LinkKind { return new(Macvlan) }) }

// MacvlanModes are the modes of a macvlan, as iproute2 names them: how it
// forwards to the other macvlans of its parent (bridge: directly; vepa:
// out through the parent, for the switch to send back; private: never;
// passthru: the only macvlan of its parent, which it takes over; source:
// only frames from listed MAC addresses).
var MacvlanModes = map[string]netlink.MacvlanMode{
	"private":  netlink.MACVLAN_MODE_PRIVATE,
	"vepa":     netlink.MACVLAN_MODE_VEPA,
	"bridge":   netlink.MACVLAN_MODE_BRIDGE,
	"passthru": netlink.MACVLAN_MODE_PASSTHRU,
	"source":   netlink.MACVLAN_MODE_SOURCE,
}

// Name implements LinkKind.
func (*Macvlan) Name() string { return "macvlan" }

// Driver implements LinkKind.
func (*Macvlan) Driver() string { return "CONFIG_MACVLAN" }

// Check implements linkChecker.
func (m *Macvlan) Check(o *LinkAdd) error {
	if _, ok := MacvlanModes[m.Mode]; !ok {
		return fmt.Errorf("macvlan %q: unknown mode %q: want private, vepa, bridge, passthru or source", o.Name, m.Mode)
	}
	if err := kernel.ValidateIfName(m.Parent); err != nil {
		return fmt.Errorf("macvlan %q: parent: %w", o.Name, err)
	}
	if m.Parent == o.Name {
		return fmt.Errorf("macvlan %q cannot be its own parent", o.Name)
	}
	return nil
}

// Link implements LinkKind. It looks the parent up in the macvlan's
// namespace, by name, for its index (IFLA_LINK).
func (m *Macvlan) Link(_ kernel.Kernel, ns kernel.Namespace, o *LinkAdd, attrs netlink.LinkAttrs) (netlink.Link, error) {
	mode, ok := MacvlanModes[m.Mode]
	if !ok {
		return nil, fmt.Errorf("unknown mode %q", m.Mode)
	}
	h, err := ns.Netlink()
	if err != nil {
		return nil, err
	}
	p, err := h.LinkByName(m.Parent)
	if err != nil {
		if gone(err) {
			return nil, fmt.Errorf("no parent link %q%s", m.Parent, inNSOrHost(o.NS))
		}
		return nil, fmt.Errorf("parent %q: %s", m.Parent, reason(err))
	}
	pa := p.Attrs()
	if pa.Flags&net.FlagLoopback != 0 || pa.EncapType != "" && pa.EncapType != "ether" {
		return nil, fmt.Errorf("parent %q is not an Ethernet link (%s): a macvlan needs one, such as a veth end", m.Parent, linkType(p))
	}
	attrs.ParentIndex = pa.Index
	return &netlink.Macvlan{LinkAttrs: attrs, Mode: mode}, nil
}

// linkType names a link's kind for an error.
func linkType(l netlink.Link) string {
	if l.Attrs().Flags&net.FlagLoopback != 0 {
		return "loopback"
	}
	return l.Type()
}

// Refused implements refusingKind.
func (m *Macvlan) Refused(o *LinkAdd, err error) error {
	switch {
	case errors.Is(err, unix.EBUSY):
		return &opError{msg: fmt.Sprintf("parent %q is busy: it is a port of a bridge (or a bond), which cannot also carry a macvlan", m.Parent), err: err}
	case errors.Is(err, unix.EINVAL) && m.Mode == "passthru":
		return &opError{msg: fmt.Sprintf("parent %q already carries a macvlan, and one in mode passthru must be its only one", m.Parent), err: err}
	case errors.Is(err, unix.EINVAL):
		return &opError{msg: fmt.Sprintf("parent %q cannot carry another macvlan (it carries one in mode passthru, which must be its only one)", m.Parent), err: err}
	}
	return nil
}

// Explain implements LinkKind. The parent is named in the namespace the
// macvlan is made in, so the command runs there (-n) rather than moving
// the new link there (netns), as a veth's does.
func (m *Macvlan) Explain(o *LinkAdd, host string) string {
	return strings.Join([]string{"ip", nsFlag(o.NS, host) + "link add", shellQuote(o.Name), "link", shellQuote(m.Parent),
		"type macvlan mode", m.Mode}, " ")
}
