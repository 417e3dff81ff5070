package kernel

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
