package ops

import (
	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/vishvananda/netlink"
)

// Bridge is a bridge, with the kernel's defaults. Links join it with
// LinkSet's "master".
type Bridge struct{}

func init() { RegisterLinkKind(func() LinkKind { return new(Bridge) }) }

// Name implements LinkKind.
func (*Bridge) Name() string { return "bridge" }

// Driver implements LinkKind.
func (*Bridge) Driver() string { return "CONFIG_BRIDGE" }

// Link implements LinkKind.
func (*Bridge) Link(_ kernel.Kernel, _ kernel.Namespace, _ *LinkAdd, attrs netlink.LinkAttrs) (netlink.Link, error) {
	return &netlink.Bridge{LinkAttrs: attrs}, nil
}

// Explain implements LinkKind.
func (*Bridge) Explain(o *LinkAdd, host string) string { return explainAdd(o, host) }
