package ops

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"

	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/nshlab/nsh/builtins/sys/nsexec"
	"github.com/vishvananda/netlink"
)

// NetnsAdd creates a named namespace, as `ip netns add NAME`, and with Lo
// brings its loopback up. With Sandbox it is the session's sandbox, which
// stands in for host. With NoIPv6 the namespace has no IPv6: before any
// link of the lab is in it, disable_ipv6 is set for all its links and as
// the default of new ones, so that none of them gets a link-local
// address, and none sends the duplicate address detection, multicast
// listener reports and router solicitations that a bridge floods to
// every port (docs/performance.md, "What a finished lab costs").
type NetnsAdd struct {
	Name    string `json:"name"`
	Lo      bool   `json:"lo"`
	Sandbox bool   `json:"sandbox,omitempty"`
	NoIPv6  bool   `json:"no_ipv6,omitempty"`
	// Pin is the unique ID of the mount that pins the namespace,
	// learned by Apply (0 on kernels before 6.8), so that Revert never
	// deletes a namespace someone made under the same name since: an
	// inode number would not do, the kernel reuses them at once.
	Pin uint64 `json:"pin,omitempty"`
}

func init() { Register("netns.add", func() Op { return new(NetnsAdd) }) }

// Learns implements Learner.
func (o *NetnsAdd) Learns() {}

// Independent implements Independent: deleting one namespace's pin does
// not depend on any other.
func (o *NetnsAdd) Independent() {}

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
func (o *NetnsAdd) Apply(k kernel.Kernel) error {
	ns, err := k.AddNamed(o.Name, o.Lo)
	if err != nil {
		if errors.Is(err, os.ErrExist) {
			return fmt.Errorf("failed to add namespace %q: it already exists (nsh never adopts a namespace it did not create)", o.Name)
		}
		return failed(fmt.Sprintf("add namespace %q", o.Name), err)
	}
	o.Pin = ns.PinID()
	if o.NoIPv6 {
		for _, key := range noIPv6Sysctls {
			if err := ns.WriteSysctl(key, "1"); err != nil {
				k.DeleteNamed(o.Name, o.Pin)
				return failed(fmt.Sprintf("turn IPv6 off in namespace %q (sysctl %s)", o.Name, key), err)
			}
		}
	}
	if o.Sandbox {
		if err := k.SetHost(o.Name); err != nil {
			k.DeleteNamed(o.Name, 0)
			return err
		}
	}
	return nil
}

// Revert implements Op.
func (o *NetnsAdd) Revert(k kernel.Kernel) error {
	if err := stopHelpers(k, o.Name); err != nil {
		return failed(fmt.Sprintf("delete namespace %q", o.Name), err)
	}
	return o.reverted(k, k.DeleteNamed(o.Name, o.Pin))
}

// stopHelpers stops the warm helper processes that run commands in the
// named namespaces (nsexec.StopHelpers), of this nsh or of another, before
// they are deleted: a process in a namespace keeps it alive, and with it
// the other ends of its veths. A model runs no helpers.
func stopHelpers(k kernel.Kernel, names ...string) error {
	if kernel.RunsNothing(k.Host()) {
		return nil
	}
	paths := make([]string, len(names))
	for i, name := range names {
		paths[i] = filepath.Join(kernel.NetnsRunDir, name)
	}
	return nsexec.StopHelpers(paths...)
}

// reverted turns the outcome of deleting the namespace into Revert's.
func (o *NetnsAdd) reverted(k kernel.Kernel, err error) error {
	if o.Sandbox && (err == nil || errors.Is(err, kernel.ErrReplaced)) {
		// The sandbox nsh made is gone either way: never let host reach
		// the namespace that replaced it.
		k.HostGone(o.Name)
	}
	if errors.Is(err, kernel.ErrReplaced) {
		return &Warning{Msg: err.Error() + " (it was deleted and made again by someone else)"}
	}
	if err != nil {
		return failed(fmt.Sprintf("delete namespace %q", o.Name), err)
	}
	return nil
}

// RevertAll reverts Independent operations, all together where the kernel
// allows: namespaces are deleted with kernel.DeleteNamedAll. It returns
// one result per operation, as its Revert would have.
func RevertAll(k kernel.Kernel, list []Op) []error {
	errs := make([]error, len(list))
	var idx []int
	var names []string
	var pins []uint64
	for i, op := range list {
		if o, ok := op.(*NetnsAdd); ok {
			idx = append(idx, i)
			names = append(names, o.Name)
			pins = append(pins, o.Pin)
			continue
		}
		errs[i] = op.Revert(k)
	}
	if err := stopHelpers(k, names...); err != nil {
		for _, i := range idx {
			errs[i] = failed(fmt.Sprintf("delete namespace %q", list[i].(*NetnsAdd).Name), err)
		}
		return errs
	}
	for j, err := range k.DeleteNamedAll(names, pins) {
		i := idx[j]
		errs[i] = list[i].(*NetnsAdd).reverted(k, err)
	}
	return errs
}

// Explain implements Op.
func (o *NetnsAdd) Explain(host string) []string {
	q := shellQuote(o.name(host))
	cmds := []string{"ip netns add " + q}
	if o.Lo {
		cmds = append(cmds, "ip -n "+q+" link set lo up")
	}
	if o.NoIPv6 {
		c := "ip netns exec " + q + " sysctl -w"
		for _, key := range noIPv6Sysctls {
			c += " " + key + "=1"
		}
		cmds = append(cmds, c)
	}
	return cmds
}

// Undo implements Undoer.
func (o *NetnsAdd) Undo(host string) []string {
	return []string{"ip netns delete " + shellQuote(o.name(host))}
}

// name returns the namespace's name in commands: a sandbox is host's
// stand-in, named host (see Explainer) where that is given.
func (o *NetnsAdd) name(host string) string {
	if o.Sandbox && host != "" {
		return host
	}
	return o.Name
}

// noIPv6Sysctls turn IPv6 off in a namespace: on the links it has (lo),
// and on those it gets, which copy the default.
var noIPv6Sysctls = []string{"net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6"}

// linkByName finds a link in a namespace of the kernel.
func linkByName(k kernel.Kernel, nsName, name string) (kernel.Namespace, kernel.Netlink, netlink.Link, error) {
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
