package session

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"

	"github.com/nshlab/nsh/builtins/ops"
	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/nshlab/nsh/builtins/sys/probe"
	"github.com/vishvananda/netlink"
)

// A Lab describes what a session built, for a drawing (nsh graph): its
// namespaces with their links, addresses and routes as the kernel has
// them, and its iptables rules and processes as the journal has them.
type Lab struct {
	Name string
	// Sandbox names the namespace that stands in for host, if any.
	Sandbox string
	// Namespaces are host (when the lab touches it) and the namespaces
	// the lab made, in the order it made them.
	Namespaces []*LabNS
}

// LabNS is one namespace of a Lab.
type LabNS struct {
	Name  string
	Links []*LabLink
	// Routes are the routes the lab added, as `ip route` writes them.
	Routes []string
	// Rules are the lab's iptables rules, as `iptables -t TABLE -A ...`.
	Rules []LabRule
	// Sysctls are the sysctls the lab set, KEY=VALUE.
	Sysctls []string
	// Processes are the lab's processes, as commands.
	Processes []string
}

// LabLink is one link of a namespace.
type LabLink struct {
	Name, Kind string
	Up         bool
	MTU        int
	// Master is the bridge the link is a port of, or "".
	Master string
	// Addrs are its addresses, CIDR.
	Addrs []string
	// PeerNS and Peer name a veth's other end ("" if unknown).
	PeerNS, Peer string
	// Parent names a macvlan's parent link.
	Parent string
}

// LabRule is an iptables rule.
type LabRule struct {
	Table, Chain string
	// Target is what the rule does: DNAT, MASQUERADE, ACCEPT...
	Target string
	// Text is the rule as iptables arguments.
	Text string
}

// Lab describes what the session built.
func (s *Session) Lab() (*Lab, error) {
	return describe(s.Name, s.j.meta.Sandbox, s.K, s.Changes())
}

// LabOf describes what the session named name built, from its journal
// and the kernel, without taking its lock.
func LabOf(name string) (*Lab, error) {
	changes, meta, err := ChangesOf(name)
	if err != nil {
		return nil, err
	}
	k, err := kernel.New()
	if err != nil {
		return nil, err
	}
	defer k.Close()
	if meta.Sandbox != "" {
		if err := k.SetHost(meta.Sandbox); err != nil {
			return nil, fmt.Errorf("session %q: its sandbox is gone: %w", name, err)
		}
	}
	return describe(name, meta.Sandbox, k, changes)
}

func describe(name, sandbox string, k kernel.Kernel, changes []Change) (*Lab, error) {
	lab := &Lab{Name: name, Sandbox: sandbox}
	byName := map[string]*LabNS{}
	get := func(ns string) *LabNS {
		if ns == "" {
			ns = Host
		}
		if n, ok := byName[ns]; ok {
			return n
		}
		n := &LabNS{Name: ns}
		byName[ns] = n
		lab.Namespaces = append(lab.Namespaces, n)
		return n
	}
	// The links of host that the lab made or moved there: host holds the
	// machine's own links too, which are not the lab's (unless host is a
	// sandbox).
	hostLinks := map[string]bool{}
	for _, c := range changes {
		switch o := c.Op.(type) {
		case *ops.NetnsAdd:
			if !o.Sandbox {
				get(o.Name)
			}
		case *ops.LinkAdd:
			get(o.NS)
			if isHostNS(o.NS) {
				hostLinks[o.Name] = true
			}
			if pns, peer, ok := ops.PeerOf(o); ok {
				get(pns)
				if isHostNS(pns) {
					hostLinks[peer] = true
				}
			}
		case *ops.LinkMove:
			get(o.ToNS)
			if isHostNS(o.ToNS) {
				hostLinks[o.NewName] = true
			}
		case *ops.LinkSet:
			if isHostNS(o.NS) {
				get(o.NS)
				hostLinks[o.Name] = true
			}
		case *ops.AddrAdd:
			get(o.NS)
			if isHostNS(o.NS) {
				hostLinks[o.Link] = true
			}
		case *ops.RouteAdd:
			n := get(o.NS)
			cmd := o.Explain("")[0]
			if i := strings.Index(cmd, "route add "); i >= 0 {
				cmd = cmd[i+len("route add "):]
			}
			n.Routes = append(n.Routes, cmd)
		case *ops.IptRule:
			n := get(o.NS)
			n.Rules = append(n.Rules, LabRule{Table: o.Table, Chain: o.Chain, Target: target(o.Args), Text: ops.ShellJoinRule(withoutMark(o.Args))})
		case *ops.SysctlSet:
			n := get(o.NS)
			n.Sysctls = append(n.Sysctls, o.Key+"="+o.Value)
		case *ops.ProcSpawn:
			n := get(o.NS)
			if addr, reply, ok := probe.ParseServeArgv(o.Argv); ok {
				what := "serve " + addr
				if reply != nil {
					what += fmt.Sprintf(" (reply %q)", *reply)
				}
				n.Processes = append(n.Processes, what)
				continue
			}
			n.Processes = append(n.Processes, ops.ShellJoin(o.Argv))
		}
	}
	// Host first, then the namespaces in the order the lab made them.
	sort.SliceStable(lab.Namespaces, func(i, j int) bool {
		return lab.Namespaces[i].Name == Host && lab.Namespaces[j].Name != Host
	})
	for _, n := range lab.Namespaces {
		keep := func(string) bool { return true }
		if n.Name == Host && sandbox == "" {
			keep = func(name string) bool { return hostLinks[name] }
		}
		if err := readLinks(k, n, keep); err != nil {
			return nil, err
		}
	}
	return lab, nil
}

func isHostNS(ns string) bool { return ns == "" || ns == Host }

// withoutMark returns iptables arguments without the comment match that
// marks a rule as nsh's.
func withoutMark(args []string) []string {
	var out []string
	for i := 0; i < len(args); i++ {
		if i+3 < len(args) && args[i] == "-m" && args[i+1] == "comment" && args[i+2] == "--comment" && strings.HasPrefix(args[i+3], "nsh:") {
			i += 3
			continue
		}
		out = append(out, args[i])
	}
	return out
}

// target returns the -j target of iptables arguments.
func target(args []string) string {
	for i, a := range args {
		if (a == "-j" || a == "--jump") && i+1 < len(args) {
			return args[i+1]
		}
	}
	return ""
}

// readLinks fills in a namespace's links, but lo and those keep refuses,
// from the kernel. A namespace that is gone has none.
func readLinks(k kernel.Kernel, n *LabNS, keep func(string) bool) error {
	kns, err := k.Namespace(n.Name)
	if err != nil {
		if errors.Is(err, kernel.ErrNoNamespace) {
			return nil
		}
		return err
	}
	h, err := kns.Netlink()
	if err != nil {
		return err
	}
	links, err := h.LinkList()
	if err != nil {
		return fmt.Errorf("failed to list the links of %s: %w", n.Name, err)
	}
	byIndex := map[int]string{}
	for _, l := range links {
		byIndex[l.Attrs().Index] = l.Attrs().Name
	}
	for _, l := range links {
		a := l.Attrs()
		if a.Flags&net.FlagLoopback != 0 || !keep(a.Name) {
			continue
		}
		ll := &LabLink{Name: a.Name, Kind: l.Type(), Up: a.Flags&net.FlagUp != 0, MTU: a.MTU, Master: byIndex[a.MasterIndex]}
		if ll.Kind == "device" {
			ll.Kind = "link"
		}
		addrs, err := h.AddrList(l, netlink.FAMILY_ALL)
		if err == nil {
			for _, ad := range addrs {
				if ad.IP.IsLinkLocalUnicast() {
					continue
				}
				ll.Addrs = append(ll.Addrs, ad.IPNet.String())
			}
		}
		switch l.Type() {
		case "veth":
			ll.PeerNS, ll.Peer = peerOf(k, kns, a)
		case "macvlan":
			ll.Parent = byIndex[a.ParentIndex]
		}
		n.Links = append(n.Links, ll)
	}
	return nil
}

// peerOf finds the other end of a veth, as `ip link` does: its index
// (iflink) and, if it is in another namespace, that namespace's nsid.
func peerOf(k kernel.Kernel, ns kernel.Namespace, a *netlink.LinkAttrs) (string, string) {
	if a.ParentIndex == 0 {
		return "", ""
	}
	name := ns.Name()
	if a.NetNsID >= 0 {
		var ok bool
		if name, ok = k.NameOfNsID(ns, a.NetNsID); !ok {
			return "", ""
		}
	}
	pns, err := k.Namespace(name)
	if err != nil {
		return "", ""
	}
	h, err := pns.Netlink()
	if err != nil {
		return "", ""
	}
	p, err := h.LinkByIndex(a.ParentIndex)
	if err != nil {
		return "", ""
	}
	return name, p.Attrs().Name
}
