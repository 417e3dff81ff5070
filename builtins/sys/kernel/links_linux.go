package kernel

import "os"

// LinkInfo is what nsh knows about a link it created in this process: its
// index (0 if not learned yet) and the state its own operations gave it.
// It lets an operation on such a link skip looking it up, one netlink
// round trip of the few that building a namespace takes.
//
// The knowledge is dropped whenever nsh is unsure: when an operation on the
// link fails, when it is moved, renamed or deleted, and when a revert
// changes it. If another program changes a link nsh created between two of
// nsh's operations, a later partial undo restores the state nsh knew.
type LinkInfo struct {
	Index  int
	Up     bool
	Master string
}

// Known returns what nsh knows of a link it created in n.
func (n *Namespace) Known(name string) (LinkInfo, bool) {
	n.mu.Lock()
	defer n.mu.Unlock()
	li, ok := n.links[name]
	return li, ok
}

// Remember records what nsh knows of a link it created in n.
func (n *Namespace) Remember(name string, li LinkInfo) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.links == nil {
		n.links = map[string]LinkInfo{}
	}
	n.links[name] = li
}

// ForgetLink drops what nsh knows of a link in n.
func (n *Namespace) ForgetLink(name string) {
	n.mu.Lock()
	defer n.mu.Unlock()
	delete(n.links, name)
}

// NameOfNsID returns the name ("host" or a /run/netns name) of the
// namespace that from knows by nsid, as the kernel reports a veth peer's
// namespace (IFLA_LINK_NETNSID). It looks at host and the namespaces nsh
// has open first, then at the rest of /run/netns.
func (k *Kernel) NameOfNsID(from *Namespace, nsid int) (string, bool) {
	h, err := from.Netlink()
	if err != nil {
		return "", false
	}
	match := func(ns *Namespace) bool {
		id, err := h.GetNetNsIdByFd(ns.Fd())
		return err == nil && id == nsid
	}
	if host := k.Host(); match(host) {
		return HostName, true
	}
	k.mu.Lock()
	var open []*Namespace
	for _, ns := range k.named {
		open = append(open, ns)
	}
	k.mu.Unlock()
	for _, ns := range open {
		if match(ns) {
			return ns.Name, true
		}
	}
	ents, _ := os.ReadDir(NetnsRunDir)
	for _, e := range ents {
		if ns, err := k.Named(e.Name()); err == nil && match(ns) {
			return ns.Name, true
		}
	}
	return "", false
}
