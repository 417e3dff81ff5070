package ops

import "github.com/nshlab/nsh/builtins/sys/kernel"

// SharedKey implements Shared: a table of the machine's own namespace is
// shared by the sessions that add rules to it. The tables of iptables
// and ip6tables are apart (nf_tables families ip and ip6), and so are
// their keys. iptables-nft made it for the
// first of them, and it is removed when the last one's rules are gone
// (never while a rule of anyone else's is in it).
func (o *IptRule) SharedKey() string {
	if !isHost(o.NS) {
		return ""
	}
	return o.tool() + " table " + o.Table
}

// Inherit implements Shared: a rule added to a table that another
// session's rule made takes over the knowledge that nsh made the table
// (and the chain), so that whichever session goes last removes them.
func (o *IptRule) Inherit(held Op) {
	h, ok := held.(*IptRule)
	if !ok || h.Table != o.Table || h.Family != o.Family {
		return
	}
	o.NewTable = o.NewTable || h.NewTable
}

// Release implements Shared. Revert already leaves a table that still
// holds rules, whoever's they are, so releasing is reverting.
func (o *IptRule) Release(k kernel.Kernel) error { return o.Revert(k) }
