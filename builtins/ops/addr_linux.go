package ops

import (
	"errors"
	"fmt"
	"net"

	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// AddrAdd adds an address to a link, as `ip addr add CIDR [brd BRD] dev
// LINK [nodad]`. Like ip, it sets no broadcast address unless asked: Brd
// is "" for none, "+" for the subnet's (ip's `brd +`), or an address.
// NoDAD marks an IPv6 address usable at once, without duplicate address
// detection (IFA_F_NODAD).
type AddrAdd struct {
	NS    string `json:"ns"`
	Link  string `json:"link"`
	CIDR  string `json:"cidr"`
	Brd   string `json:"brd,omitempty"`
	NoDAD bool   `json:"nodad,omitempty"`
}

func init() { Register("addr.add", func() Op { return new(AddrAdd) }) }

// Kind implements Op.
func (o *AddrAdd) Kind() string { return "addr.add" }

// Namespaces implements Scoped.
func (o *AddrAdd) Namespaces() []string { return scope(o.NS) }

// Apply implements Op.
func (o *AddrAdd) Apply(k kernel.Kernel) error {
	what := fmt.Sprintf("add address %s to %q%s", o.CIDR, o.Link, inNS(o.NS))
	a, err := netlink.ParseAddr(o.CIDR)
	if err != nil {
		return fmt.Errorf("failed to %s: bad CIDR", what)
	}
	if a.IP.To4() != nil {
		switch o.Brd {
		case "":
			// The library fills in the subnet's broadcast address when
			// none is given, which ip does not; the zero address makes
			// it send none.
			a.Broadcast = net.IPv4zero
		case "+":
			// nil: the library computes the subnet's, as `brd +` does.
		default:
			if a.Broadcast = net.ParseIP(o.Brd).To4(); a.Broadcast == nil {
				return fmt.Errorf("failed to %s: bad broadcast address %q", what, o.Brd)
			}
		}
	}
	if o.NoDAD {
		a.Flags |= unix.IFA_F_NODAD
	}
	ns, err := k.Namespace(o.NS)
	if err != nil {
		return failed(what, err)
	}
	h, err := ns.Netlink()
	if err != nil {
		return failed(what, err)
	}
	lookup := true
	if li, ok := ns.Known(o.Link); ok && li.Index > 0 {
		err = h.AddrAdd(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: li.Index, Name: o.Link}}, a)
		if err != nil {
			ns.ForgetLink(o.Link)
		}
		// Gone means deleted and maybe made again: look it up.
		lookup = gone(err)
	}
	if lookup {
		l, lerr := h.LinkByName(o.Link)
		if lerr != nil {
			return failed(what, lerr)
		}
		err = h.AddrAdd(l, a)
	}
	if err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("failed to %s: the link already has that address", what)
		}
		return failed(what, err)
	}
	return nil
}

// Revert implements Op.
func (o *AddrAdd) Revert(k kernel.Kernel) error {
	a, err := netlink.ParseAddr(o.CIDR)
	if err != nil {
		return nil
	}
	_, h, l, err := linkByName(k, o.NS, o.Link)
	if err != nil {
		if gone(err) {
			return nil
		}
		return err
	}
	if err := h.AddrDel(l, a); err != nil && !gone(err) {
		return failed(fmt.Sprintf("delete address %s from %q%s", o.CIDR, o.Link, inNS(o.NS)), err)
	}
	return nil
}

// Explain implements Op.
func (o *AddrAdd) Explain(host string) []string {
	cmd := "ip " + nsFlag(o.NS, host) + "addr add " + o.CIDR
	if o.Brd != "" {
		cmd += " brd " + o.Brd
	}
	cmd += " dev " + shellQuote(o.Link)
	if o.NoDAD {
		cmd += " nodad"
	}
	return []string{cmd}
}

// Undo implements Undoer.
func (o *AddrAdd) Undo(host string) []string {
	return []string{"ip " + nsFlag(o.NS, host) + "addr del " + o.CIDR + " dev " + shellQuote(o.Link)}
}
