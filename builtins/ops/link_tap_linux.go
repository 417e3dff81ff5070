package ops

import (
	"errors"
	"fmt"
	"os"
	"strings"

	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// Tap is a persistent tap link: an Ethernet link whose other end is a
// program that opens it through /dev/net/tun (a virtual machine, a
// user-space switch). Until one does, it has no carrier. Tun is the same
// at layer 3: it carries IP packets, without Ethernet headers.
type Tap struct{}

// Tun is a persistent tun link (see Tap).
type Tun struct{}

func init() {
	RegisterLinkKind(func() LinkKind { return new(Tap) })
	RegisterLinkKind(func() LinkKind { return new(Tun) })
}

// Name implements LinkKind.
func (*Tap) Name() string { return "tap" }

// Name implements LinkKind.
func (*Tun) Name() string { return "tun" }

// Driver implements LinkKind.
func (*Tap) Driver() string { return "CONFIG_TUN" }

// Driver implements LinkKind.
func (*Tun) Driver() string { return "CONFIG_TUN" }

// Link implements LinkKind.
func (*Tap) Link(_ kernel.Kernel, ns kernel.Namespace, o *LinkAdd, attrs netlink.LinkAttrs) (netlink.Link, error) {
	return tuntapLink(ns, o, attrs, netlink.TUNTAP_MODE_TAP)
}

// Link implements LinkKind.
func (*Tun) Link(_ kernel.Kernel, ns kernel.Namespace, o *LinkAdd, attrs netlink.LinkAttrs) (netlink.Link, error) {
	return tuntapLink(ns, o, attrs, netlink.TUNTAP_MODE_TUN)
}

// tuntapLink builds a persistent tun or tap link. The kernel makes one
// through /dev/net/tun (TUNSETIFF), which with IFF_TUN_EXCL refuses a
// name that is taken; that refusal carries no errno the library passes
// on, so the name is looked up first, for the error that names it.
func tuntapLink(ns kernel.Namespace, o *LinkAdd, attrs netlink.LinkAttrs, mode netlink.TuntapMode) (netlink.Link, error) {
	h, err := ns.Netlink()
	if err != nil {
		return nil, err
	}
	if _, err := h.LinkByName(o.Name); err == nil {
		return nil, fmt.Errorf("a link named %q already exists%s", o.Name, inNSOrHost(o.NS))
	}
	return &netlink.Tuntap{LinkAttrs: attrs, Mode: mode, Flags: netlink.TUNTAP_DEFAULTS | netlink.TUNTAP_NO_PI}, nil
}

// Add implements addingKind.
func (*Tap) Add(ns kernel.Namespace, h kernel.Netlink, l netlink.Link) error {
	return addTuntap(ns, h, l)
}

// Add implements addingKind.
func (*Tun) Add(ns kernel.Namespace, h kernel.Netlink, l netlink.Link) error {
	return addTuntap(ns, h, l)
}

// addTuntap creates the link on a thread in ns: /dev/net/tun makes its
// link in the namespace of the thread that opens it, not in that of a
// netlink socket. The model, which runs nothing, makes it directly.
func addTuntap(ns kernel.Namespace, h kernel.Netlink, l netlink.Link) error {
	err := ns.Do(func() error { return h.LinkAdd(l) })
	if errors.Is(err, kernel.ErrNotRun) {
		err = h.LinkAdd(l)
	}
	if err == nil {
		return nil
	}
	// The library reports the ioctl's errno as text only.
	switch {
	case errors.Is(err, os.ErrNotExist), strings.Contains(err.Error(), "no such file"):
		return &opError{msg: "this kernel has no tun driver (CONFIG_TUN): /dev/net/tun is missing", err: unix.EOPNOTSUPP}
	case strings.Contains(err.Error(), "device or resource busy"):
		return &opError{msg: fmt.Sprintf("a link named %q already exists", l.Attrs().Name), err: unix.EEXIST}
	}
	return err
}

// Explain implements LinkKind.
func (*Tap) Explain(o *LinkAdd, host string) string { return explainTuntap(o, "tap", host) }

// Explain implements LinkKind.
func (*Tun) Explain(o *LinkAdd, host string) string { return explainTuntap(o, "tun", host) }

func explainTuntap(o *LinkAdd, mode, host string) string {
	return "ip " + nsFlag(o.NS, host) + "tuntap add " + shellQuote(o.Name) + " mode " + mode
}
