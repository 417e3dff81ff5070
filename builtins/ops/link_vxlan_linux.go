package ops

import (
	"errors"
	"fmt"
	"net"
	"strconv"
	"strings"

	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Vxlan is a VXLAN link: an Ethernet segment carried in UDP to Port of
// Remote (one peer, unicast), or of every member of the multicast Group
// joined on Dev, as VNI ID. Local is the source address of the UDP
// packets ("" for the route's), Dev the underlay link the packets leave
// by ("" for the route's). Deleting Dev deletes the link, which a revert
// counts as done.
type Vxlan struct {
	ID     int    `json:"id"`
	Remote string `json:"remote,omitempty"`
	Local  string `json:"local,omitempty"`
	Group  string `json:"group,omitempty"`
	Dev    string `json:"dev,omitempty"`
	Port   int    `json:"port"`

	// nameTaken records, while Apply runs, that a link has the new link's
	// name already, to tell the kernel's two reasons for EEXIST apart.
	nameTaken bool
}

func init() { RegisterLinkKind(func() LinkKind { return new(Vxlan) }) }

// MaxVNI is the largest VXLAN network identifier: it has 24 bits.
const MaxVNI = 1<<24 - 1

// Name implements LinkKind.
func (*Vxlan) Name() string { return "vxlan" }

// Driver implements LinkKind.
func (*Vxlan) Driver() string { return "CONFIG_VXLAN" }

// Check implements linkChecker.
func (x *Vxlan) Check(o *LinkAdd) error {
	what := fmt.Sprintf("vxlan %q", o.Name)
	if x.ID < 0 || x.ID > MaxVNI {
		return fmt.Errorf("%s: bad id %d: a VNI is 0 to %d (24 bits)", what, x.ID, MaxVNI)
	}
	if x.Port < 1 || x.Port > 65535 {
		return fmt.Errorf("%s: bad port %d: want 1 to 65535 (4789 is VXLAN's, 8472 Linux's old default)", what, x.Port)
	}
	if x.Remote != "" && x.Group != "" {
		return fmt.Errorf("%s: remote and group exclude each other: one peer (remote) or a multicast group of them (group)", what)
	}
	var fam []net.IP
	for _, a := range []struct {
		name, v   string
		multicast bool // must be, or must not be, multicast
	}{{"remote", x.Remote, false}, {"local", x.Local, false}, {"group", x.Group, true}} {
		if a.v == "" {
			continue
		}
		ip := net.ParseIP(a.v)
		if ip == nil {
			return fmt.Errorf("%s: bad %s %q: want an IP address", what, a.name, a.v)
		}
		switch {
		case a.multicast && !ip.IsMulticast():
			return fmt.Errorf("%s: group %s is not a multicast address (for one peer, use remote=)", what, a.v)
		case !a.multicast && (ip.IsMulticast() || ip.IsUnspecified()):
			hint := ""
			if ip.IsMulticast() && a.name == "remote" {
				hint = " (for a multicast group, use group=)"
			}
			return fmt.Errorf("%s: %s %s is not a unicast address%s", what, a.name, a.v, hint)
		}
		fam = append(fam, ip)
	}
	for _, ip := range fam[min(1, len(fam)):] {
		if (ip.To4() == nil) != (fam[0].To4() == nil) {
			return fmt.Errorf("%s: %s and %s are not of one IP version", what, fam[0], ip)
		}
	}
	if x.Group != "" && x.Dev == "" {
		return fmt.Errorf("%s: a multicast group needs dev=, the underlay link to join it on", what)
	}
	if x.Dev != "" {
		if err := kernel.ValidateIfName(x.Dev); err != nil {
			return fmt.Errorf("%s: dev: %w", what, err)
		}
		if x.Dev == o.Name {
			return fmt.Errorf("%s cannot carry itself: its dev must be another link", what)
		}
	}
	return nil
}

// Link implements LinkKind. It looks Dev up in the vxlan's namespace, by
// name, for its index (IFLA_VXLAN_LINK). Like ip, it learns source MAC
// addresses (IFLA_VXLAN_LEARNING), so that frames to a peer's MAC go to
// that peer once it has been heard.
func (x *Vxlan) Link(_ kernel.Kernel, ns kernel.Namespace, o *LinkAdd, attrs netlink.LinkAttrs) (netlink.Link, error) {
	h, err := ns.Netlink()
	if err != nil {
		return nil, err
	}
	_, err = h.LinkByName(o.Name)
	x.nameTaken = err == nil
	v := &netlink.Vxlan{LinkAttrs: attrs, VxlanId: x.ID, Port: x.Port, Learning: true}
	if x.Dev != "" {
		d, err := h.LinkByName(x.Dev)
		if err != nil {
			if gone(err) {
				return nil, fmt.Errorf("no dev link %q%s", x.Dev, inNSOrHost(o.NS))
			}
			return nil, fmt.Errorf("dev %q: %s", x.Dev, reason(err))
		}
		v.VtepDevIndex = d.Attrs().Index
	}
	if x.Remote != "" {
		v.Group = net.ParseIP(x.Remote)
	}
	if x.Group != "" {
		v.Group = net.ParseIP(x.Group)
	}
	if x.Local != "" {
		v.SrcAddr = net.ParseIP(x.Local)
	}
	return v, nil
}

// Refused implements refusingKind: the kernel refuses a second vxlan
// with the same VNI, port and local address in one namespace, with the
// errno of a name that is taken.
func (x *Vxlan) Refused(o *LinkAdd, err error) error {
	if errors.Is(err, unix.EEXIST) && !x.nameTaken {
		return &opError{msg: fmt.Sprintf("another vxlan%s already has id %d on port %d: each VNI and port is one segment per namespace (and local address)",
			inNSOrHost(o.NS), x.ID, x.Port), err: err}
	}
	return nil
}

// Explain implements LinkKind.
func (x *Vxlan) Explain(o *LinkAdd, host string) string {
	argv := []string{"ip", strings.TrimSpace(nsFlag(o.NS, host) + "link"), "add", shellQuote(o.Name), "type vxlan id", strconv.Itoa(x.ID)}
	if x.Remote != "" {
		argv = append(argv, "remote", x.Remote)
	}
	if x.Group != "" {
		argv = append(argv, "group", x.Group)
	}
	if x.Local != "" {
		argv = append(argv, "local", x.Local)
	}
	if x.Dev != "" {
		argv = append(argv, "dev", shellQuote(x.Dev))
	}
	argv = append(argv, "dstport", strconv.Itoa(x.Port))
	return strings.Join(argv, " ")
}
