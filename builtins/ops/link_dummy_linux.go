package ops

import (
	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/vishvananda/netlink"
)

// Dummy is a dummy link: it drops what it is sent, and holds addresses
// and routes.
type Dummy struct{}

func init() { RegisterLinkKind(func() LinkKind { return new(Dummy) }) }

// Name implements LinkKind.
func (*Dummy) Name() string { return "dummy" }

// Driver implements LinkKind.
func (*Dummy) Driver() string { return "CONFIG_DUMMY" }

// Link implements LinkKind.
func (*Dummy) Link(_ kernel.Kernel, _ kernel.Namespace, _ *LinkAdd, attrs netlink.LinkAttrs) (netlink.Link, error) {
	return &netlink.Dummy{LinkAttrs: attrs}, nil
}

// Explain implements LinkKind.
func (*Dummy) Explain(o *LinkAdd, host string) string { return explainAdd(o, host) }
