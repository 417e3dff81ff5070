package session

import (
	"os"
	"sort"

	"github.com/nshlab/nsh/builtins/sys/ipt"
	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/nshlab/nsh/builtins/sys/model"
)

// PlanKernel returns an in-memory model of this machine's kernel (package
// model), for a session that plans a lab rather than build it (nsh plan,
// and nsh export and nsh graph of a script): it needs no root and changes
// nothing. The model runs the iptables the machine's iptables command is
// (so that commands are explained alike), can make the kinds of link that
// the machine's kernel has (without root, as a user namespace finds them
// where those are allowed; every kind where not), and holds the named
// namespaces that exist on the machine, so that a plan fails where a run
// would on a name that is taken. It returns those names too, and whether
// it could read them (/run/netns is readable by all, unless missing).
func PlanKernel() (k kernel.Kernel, taken []string, readable bool) {
	var o model.Options
	if b, err := ipt.Detect(); err == nil {
		o.Iptables, o.Legacy = b.Path, !b.NFT()
	}
	kinds := []string{"veth", "bridge", "dummy", "macvlan", "vxlan"}
	if os.Geteuid() == 0 {
		o.Drivers = []string{}
		for _, kind := range append(kinds, "tun") {
			if ok, err := kernel.HasDriver(kind); err == nil && ok {
				o.Drivers = append(o.Drivers, kind)
			}
		}
	} else if has, err := kernel.UserDrivers(kinds); err == nil {
		o.Drivers = []string{}
		for _, kind := range kinds {
			if has[kind] {
				o.Drivers = append(o.Drivers, kind)
			}
		}
		// rtnetlink makes no tun or tap: the driver is there if its
		// device is.
		if _, err := os.Stat("/dev/net/tun"); err == nil {
			o.Drivers = append(o.Drivers, "tun")
		}
	}
	m := model.New(o)
	ents, err := os.ReadDir(kernel.NetnsRunDir)
	readable = err == nil || os.IsNotExist(err)
	for _, e := range ents {
		if kernel.ValidateNetnsName(e.Name()) != nil {
			continue
		}
		if _, err := m.AddNamed(e.Name(), false); err == nil {
			taken = append(taken, e.Name())
		}
	}
	sort.Strings(taken)
	return m, taken, readable
}
