package ops

import (
	"errors"
	"fmt"
	"os"

	"github.com/nshlab/nsh/builtins/kernel"
	"github.com/vishvananda/netlink"
)

// NetnsAdd creates a named namespace, as `ip netns add NAME`, and with Lo
// brings its loopback up. With Sandbox it is the session's sandbox, which
// stands in for host.
type NetnsAdd struct {
	Name    string `json:"name"`
	Lo      bool   `json:"lo"`
	Sandbox bool   `json:"sandbox,omitempty"`
}

func init() { Register("netns.add", func() Op { return new(NetnsAdd) }) }

// Kind implements Op.
func (o *NetnsAdd) Kind() string { return "netns.add" }

// Creates implements Creator.
func (o *NetnsAdd) Creates() string {
	if o.Sandbox {
		return kernel.HostName
	}
	return o.Name
}

// Apply implements Op.
func (o *NetnsAdd) Apply(k *kernel.Kernel) error {
	ns, err := k.AddNamed(o.Name)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("failed to add namespace %q: it already exists (nsh never adopts a namespace it did not create)", o.Name)
		}
		return failed(fmt.Sprintf("add namespace %q", o.Name), err)
	}
	if o.Lo {
		if err := loUp(ns); err != nil {
			k.DeleteNamed(o.Name)
			return failed(fmt.Sprintf("bring up lo in namespace %q", o.Name), err)
		}
	}
	if o.Sandbox {
		if err := k.SetHost(o.Name); err != nil {
			k.DeleteNamed(o.Name)
			return err
		}
	}
	return nil
}

// Revert implements Op.
func (o *NetnsAdd) Revert(k *kernel.Kernel) error {
	if err := k.DeleteNamed(o.Name); err != nil {
		return failed(fmt.Sprintf("delete namespace %q", o.Name), err)
	}
	return nil
}

// Explain implements Op.
func (o *NetnsAdd) Explain() []string {
	q := shellQuote(o.Name)
	cmds := []string{"ip netns add " + q}
	if o.Lo {
		cmds = append(cmds, "ip -n "+q+" link set lo up")
	}
	return cmds
}

// loUp brings up the loopback of a new namespace, which is always
// interface 1, without looking it up.
func loUp(ns *kernel.Namespace) error {
	h, err := ns.Netlink()
	if err != nil {
		return err
	}
	lo := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: 1, Name: "lo"}}
	return h.LinkSetUp(lo)
}

// linkByName finds a link in a namespace of the kernel.
func linkByName(k *kernel.Kernel, nsName, name string) (*kernel.Namespace, *netlink.Handle, netlink.Link, error) {
	ns, err := k.Namespace(nsName)
	if err != nil {
		return nil, nil, nil, err
	}
	h, err := ns.Netlink()
	if err != nil {
		return nil, nil, nil, err
	}
	l, err := h.LinkByName(name)
	if err != nil {
		return ns, h, nil, err
	}
	return ns, h, l, nil
}
