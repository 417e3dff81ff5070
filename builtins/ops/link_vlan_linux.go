package ops

import (
	"fmt"
	"strconv"
	"strings"

	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/vishvananda/netlink"
)

// Vlan is an 802.1Q VLAN link: the frames of VLAN ID on Parent, an
// Ethernet link in the same namespace, tagged on the way out and untagged
// on the way in. Deleting the parent deletes its VLAN links, which a
// revert counts as done.
type Vlan struct {
	Parent string `json:"parent"`
	ID     int    `json:"id"`
}

func init() { RegisterLinkKind(func() LinkKind { return new(Vlan) }) }

// MaxVLAN is the largest VLAN ID; 4095 is reserved.
const MaxVLAN = 4094

// Name implements LinkKind.
func (*Vlan) Name() string { return "vlan" }

// Driver implements LinkKind.
func (*Vlan) Driver() string { return "CONFIG_VLAN_8021Q" }

// Check implements linkChecker.
func (v *Vlan) Check(o *LinkAdd) error {
	if v.ID < 0 || v.ID > MaxVLAN {
		return fmt.Errorf("vlan %q: bad id %d: a VLAN ID is 0 to %d (12 bits; 4095 is reserved)", o.Name, v.ID, MaxVLAN)
	}
	if err := kernel.ValidateIfName(v.Parent); err != nil {
		return fmt.Errorf("vlan %q: parent: %w", o.Name, err)
	}
	if v.Parent == o.Name {
		return fmt.Errorf("vlan %q cannot be its own parent", o.Name)
	}
	return nil
}

// Link implements LinkKind. It looks the parent up in the link's
// namespace, by name, for its index (IFLA_LINK).
func (v *Vlan) Link(_ kernel.Kernel, ns kernel.Namespace, o *LinkAdd, attrs netlink.LinkAttrs) (netlink.Link, error) {
	h, err := ns.Netlink()
	if err != nil {
		return nil, err
	}
	p, err := h.LinkByName(v.Parent)
	if err != nil {
		if gone(err) {
			return nil, fmt.Errorf("no parent link %q%s", v.Parent, inNSOrHost(o.NS))
		}
		return nil, fmt.Errorf("parent %q: %s", v.Parent, reason(err))
	}
	attrs.ParentIndex = p.Attrs().Index
	return &netlink.Vlan{LinkAttrs: attrs, VlanId: v.ID, VlanProtocol: netlink.VLAN_PROTOCOL_8021Q}, nil
}

// Explain implements LinkKind.
func (v *Vlan) Explain(o *LinkAdd, host string) string {
	return strings.Join([]string{"ip", nsFlag(o.NS, host) + "link add", shellQuote(o.Name), "link", shellQuote(v.Parent),
		"type vlan id", strconv.Itoa(v.ID)}, " ")
}
