package ops

import (
	"errors"
	"fmt"

	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// AddrAdd adds an address to a link, as `ip addr add CIDR dev LINK`.
type AddrAdd struct {
	NS   string `json:"ns"`
	Link string `json:"link"`
	CIDR string `json:"cidr"`
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
func (o *AddrAdd) Explain() []string {
	return []string{"ip " + nsFlag(o.NS) + "addr add " + o.CIDR + " dev " + shellQuote(o.Link)}
}
