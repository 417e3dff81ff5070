package kernel

import "os"

// LinkInfo is what nsh knows about a link it created in this process: its
// index (0 if not learned yet) and the state its own operations gave it.
// It lets an operation on such a link skip looking it up, one netlink
// round trip of the few that building a namespace takes.
//
// The knowledge is dropped whenever nsh is unsure: when an operation on the
// link fails, when it is deleted, and when a revert changes it. A link nsh
// moves or renames is known at its new place only, by the index the kernel
// gave it there (down and in no bridge, as the kernel leaves a moved link):
// never by its old name, nor by an index it had in another namespace,
// since the kernel renumbers a link that moves into a namespace where its
// index is taken. If another program changes a link nsh created between
// two of nsh's operations, a later partial undo restores the state nsh
// knew.
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

// renumbering names a link by its name and the index nsh knew it by, in
// the namespace that holds the map.
type renumbering struct {
	name  string
	index int
}

// Renumber records that the link nsh knew in n as NAME with index old has
// index new now: nsh moved it back into n under that name, and the kernel
// could not give it old again (someone else had taken it meanwhile). It
// lets the revert of an older operation on that link, in this process,
// know it for nsh's own (see Renumbered), where the index it learned from
// the journal would call it foreign.
//
// Unlike LinkInfo, a renumbering is never forgotten while n is open: it is
// a fact about what nsh did, not the state of the link, and it is only
// ever looked up by the index the journal knows, so it cannot make a link
// someone else made under the same name pass for nsh's.
func (n *Namespace) Renumber(name string, old, new int) {
	if old == new || old <= 0 {
		return
	}
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.renum == nil {
		n.renum = map[renumbering]int{}
	}
	n.renum[renumbering{name, old}] = new
}

// Renumbered returns the index that the link nsh knew in n as NAME with
// index old has now: old, unless nsh renumbered it (Renumber), once or
// more.
func (n *Namespace) Renumbered(name string, old int) int {
	n.mu.Lock()
	defer n.mu.Unlock()
	idx := old
	for range len(n.renum) {
		next, ok := n.renum[renumbering{name, idx}]
		if !ok {
			break
		}
		idx = next
	}
	return idx
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
