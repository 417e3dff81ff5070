package ops

import (
	"errors"
	"fmt"
	"net"
	"strconv"

	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// LinkAdd creates a link of one kind (Type): a veth pair, a bridge, a
// dummy, a macvlan. Links are created down, as `ip link add` creates them.
// What depends on the kind is in the kind's own file (see LinkKind).
type LinkAdd struct {
	NS   string
	Name string
	// Type is the kind of link, with its parameters (a veth's peer). The
	// journal records its name as "type" (see MarshalJSON).
	Type LinkKind
	// Index is the index the kernel gave the link, learned by Apply, so
	// that Revert never deletes a link of the same name that someone else
	// made after nsh's was deleted.
	Index int
}

func init() { Register("link.add", func() Op { return new(LinkAdd) }) }

// Kind implements Op.
func (o *LinkAdd) Kind() string { return "link.add" }

// Learns implements Learner.
func (o *LinkAdd) Learns() {}

// Namespaces implements Scoped.
func (o *LinkAdd) Namespaces() []string {
	if pns, _, ok := PeerOf(o); ok {
		return scope(o.NS, pns)
	}
	return scope(o.NS)
}

// Check reports what is wrong with the parameters of the link's kind (a
// veth's peer name), so that a builtin can refuse them before anything is
// journaled. The link's own name is the builtin's to check.
func (o *LinkAdd) Check() error {
	if o.Type == nil {
		return fmt.Errorf("link %q has no type", o.Name)
	}
	if c, ok := o.Type.(linkChecker); ok {
		return c.Check(o)
	}
	return nil
}

// what names the link for errors: `veth "e0" in namespace "earth"`.
func (o *LinkAdd) what() string {
	return fmt.Sprintf("%s %q%s", o.Type.Name(), o.Name, inNS(o.NS))
}

// Apply implements Op.
func (o *LinkAdd) Apply(k kernel.Kernel) error {
	if o.Type == nil {
		return fmt.Errorf("failed to add link %q: it has no type", o.Name)
	}
	ns, err := k.Namespace(o.NS)
	if err != nil {
		return failed(fmt.Sprintf("add %s %q", o.Type.Name(), o.Name), err)
	}
	h, err := ns.Netlink()
	if err != nil {
		return err
	}
	attrs := netlink.NewLinkAttrs()
	attrs.Name = o.Name
	// An operation applied again (the undo of a deletion, see Replayer)
	// asks for the index it had, so that its revert and those of the
	// operations after it know the link for theirs; the kernel picks
	// another if someone has it.
	attrs.Index = o.Index
	l, err := o.Type.Link(k, ns, o, attrs)
	if err != nil {
		return fmt.Errorf("failed to add %s: %w", o.what(), err)
	}
	err = addLink(o.Type, ns, h, l)
	if err != nil && o.Index > 0 && errors.Is(err, unix.EBUSY) {
		// The index it had before is taken: any will do.
		l.Attrs().Index = 0
		err = addLink(o.Type, ns, h, l)
	}
	if err != nil {
		if r, ok := o.Type.(refusingKind); ok {
			if why := r.Refused(o, err); why != nil {
				return fmt.Errorf("failed to add %s: %w", o.what(), why)
			}
		}
		switch {
		case errors.Is(err, unix.EOPNOTSUPP):
			return fmt.Errorf("failed to add %s: this kernel has no %s driver (%s)", o.what(), o.Type.Name(), o.Type.Driver())
		case errors.Is(err, unix.EEXIST):
			return fmt.Errorf("failed to add %s: %s", o.what(), o.existing(k))
		}
		return failed("add "+o.what(), err)
	}
	// The library looked the new link up for its index; it is down and in
	// no bridge (and so is a veth's peer), as the kernel creates links.
	o.Index = l.Attrs().Index
	ns.Remember(o.Name, kernel.LinkInfo{Index: o.Index})
	if pns, peer, ok := PeerOf(o); ok {
		if pn, err := k.Namespace(pns); err == nil {
			pn.Remember(peer, kernel.LinkInfo{})
		}
	}
	return nil
}

// existing names which of the link's names is taken.
func (o *LinkAdd) existing(k kernel.Kernel) string {
	if _, _, l, err := linkByName(k, o.NS, o.Name); err == nil && l != nil {
		return fmt.Sprintf("a link named %q already exists%s", o.Name, inNSOrHost(o.NS))
	}
	if pns, peer, ok := PeerOf(o); ok {
		if _, _, l, err := linkByName(k, pns, peer); err == nil && l != nil {
			return fmt.Sprintf("a link named %q already exists%s", peer, inNSOrHost(pns))
		}
	}
	return "it already exists"
}

func inNSOrHost(ns string) string {
	if isHost(ns) {
		return " in host"
	}
	return inNS(ns)
}

// Revert implements Op. It deletes the link by name, if it is still the
// one Apply created (its index); deleting a link deletes its peer too.
func (o *LinkAdd) Revert(k kernel.Kernel) error {
	if o.Type == nil {
		return nil
	}
	forget(k, o.NS, o.Name)
	if pns, peer, ok := PeerOf(o); ok {
		forget(k, pns, peer)
	}
	ns, h, l, err := linkByName(k, o.NS, o.Name)
	if err != nil {
		if gone(err) {
			return nil
		}
		return failed("delete "+o.what(), err)
	}
	if o.Index > 0 && l.Attrs().Index != ns.Renumbered(o.Name, o.Index) {
		// nsh's link is gone, and this one of the same name is not it.
		// A link nsh moved away and back has the index it had before (see
		// LinkMove), or one this process recorded.
		return &Warning{Msg: fmt.Sprintf("%s %q%s is not the link nsh created (index %d, now %d): someone replaced it, so nsh left it alone",
			o.Type.Name(), o.Name, inNSOrHost(o.NS), o.Index, l.Attrs().Index)}
	}
	if err := h.LinkDel(l); err != nil && !gone(err) {
		return failed("delete "+o.what(), err)
	}
	return nil
}

// Explain implements Op.
func (o *LinkAdd) Explain(host string) []string {
	if o.Type == nil {
		return nil
	}
	return []string{o.Type.Explain(o, host)}
}

// Undo implements Undoer: deleting the link deletes its peer too.
func (o *LinkAdd) Undo(host string) []string {
	return []string{"ip " + nsFlag(o.NS, host) + "link del " + shellQuote(o.Name)}
}

// LinkSet changes one attribute of a link: its state ("up"), MTU, MAC
// address or bridge master. Apply learns the value it replaces, for Revert.
type LinkSet struct {
	NS   string `json:"ns"`
	Name string `json:"name"`
	// Attr is "up", "mtu", "mac" or "master".
	Attr string `json:"attr"`
	// Value and Old are "true"/"false" for up, a number for mtu, a MAC
	// for mac, and a link name ("" for none) for master.
	Value string `json:"value"`
	Old   string `json:"old"`
	// Learned is set once Apply has read Old. An operation that nsh
	// stopped applying before it was journaled as done has no Old, and
	// its revert does nothing.
	Learned bool `json:"learned,omitempty"`
}

func init() { Register("link.set", func() Op { return new(LinkSet) }) }

// Kind implements Op.
func (o *LinkSet) Kind() string { return "link.set" }

// Learns implements Learner.
func (o *LinkSet) Learns() {}

// Namespaces implements Scoped.
func (o *LinkSet) Namespaces() []string { return scope(o.NS) }

// Apply implements Op.
func (o *LinkSet) Apply(k kernel.Kernel) error {
	ns, err := k.Namespace(o.NS)
	if err != nil {
		return failed(o.describe(o.Value), err)
	}
	if li, ok := ns.Known(o.Name); ok && li.Index > 0 && (o.Attr == "up" || o.Attr == "master") {
		err := o.applyKnown(ns, li)
		if err == nil {
			return nil
		}
		ns.ForgetLink(o.Name)
		if !gone(err) {
			return failed(o.describe(o.Value), err)
		}
		// Deleted and maybe made again by someone else: look it up.
	}
	err = o.applyLookup(k, ns)
	if err != nil {
		ns.ForgetLink(o.Name)
		return failed(o.describe(o.Value), err)
	}
	return nil
}

// applyKnown sets up or master on a link nsh created, from what it knows
// of it: one round trip instead of two or three.
func (o *LinkSet) applyKnown(ns kernel.Namespace, li kernel.LinkInfo) error {
	h, err := ns.Netlink()
	if err != nil {
		return err
	}
	l := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: li.Index, Name: o.Name}}
	switch o.Attr {
	case "up":
		o.Old = strconv.FormatBool(li.Up)
		o.Learned = true
		if err := o.set(h, l, o.Value, ns); err != nil {
			return err
		}
		li.Up = o.Value == "true"
	case "master":
		o.Old = li.Master
		o.Learned = true
		if err := o.set(h, l, o.Value, ns); err != nil {
			return err
		}
		li.Master = o.Value
	}
	ns.Remember(o.Name, li)
	return nil
}

// applyLookup looks the link up, learns the value it replaces, and sets it.
func (o *LinkSet) applyLookup(k kernel.Kernel, ns kernel.Namespace) error {
	h, err := ns.Netlink()
	if err != nil {
		return err
	}
	l, err := h.LinkByName(o.Name)
	if err != nil {
		return err
	}
	a := l.Attrs()
	switch o.Attr {
	case "up":
		o.Old = strconv.FormatBool(a.Flags&net.FlagUp != 0)
	case "mtu":
		o.Old = strconv.Itoa(a.MTU)
	case "mac":
		o.Old = a.HardwareAddr.String()
	case "master":
		o.Old = ""
		if a.MasterIndex > 0 {
			m, err := h.LinkByIndex(a.MasterIndex)
			if err != nil {
				return err
			}
			o.Old = m.Attrs().Name
		}
	}
	o.Learned = true
	if err := o.set(h, l, o.Value, ns); err != nil {
		return err
	}
	// A link nsh created (known, index not yet learned) is known from now.
	if li, ok := ns.Known(o.Name); ok {
		li.Index = a.Index
		switch o.Attr {
		case "up":
			li.Up = o.Value == "true"
			li.Master = masterName(h, a)
		case "master":
			li.Up = a.Flags&net.FlagUp != 0
			li.Master = o.Value
		default:
			li.Up = a.Flags&net.FlagUp != 0
			li.Master = masterName(h, a)
		}
		ns.Remember(o.Name, li)
	}
	return nil
}

// masterName returns the name of a link's bridge, or "".
func masterName(h kernel.Netlink, a *netlink.LinkAttrs) string {
	if a.MasterIndex == 0 {
		return ""
	}
	if m, err := h.LinkByIndex(a.MasterIndex); err == nil {
		return m.Attrs().Name
	}
	return ""
}

// Revert implements Op.
func (o *LinkSet) Revert(k kernel.Kernel) error {
	if !o.Learned || o.Value == o.Old {
		return nil
	}
	forget(k, o.NS, o.Name)
	ns, h, l, err := linkByName(k, o.NS, o.Name)
	if err == nil {
		err = o.set(h, l, o.Old, ns)
	}
	if err != nil && !gone(err) {
		return failed(o.describe(o.Old), err)
	}
	return nil
}

func (o *LinkSet) describe(v string) string {
	switch o.Attr {
	case "up":
		if v == "true" {
			return fmt.Sprintf("set link %q%s up", o.Name, inNS(o.NS))
		}
		return fmt.Sprintf("set link %q%s down", o.Name, inNS(o.NS))
	case "master":
		if v == "" {
			return fmt.Sprintf("detach link %q%s from its bridge", o.Name, inNS(o.NS))
		}
		return fmt.Sprintf("attach link %q%s to bridge %q", o.Name, inNS(o.NS), v)
	}
	return fmt.Sprintf("set %s of link %q%s to %s", o.Attr, o.Name, inNS(o.NS), v)
}

func (o *LinkSet) set(h kernel.Netlink, l netlink.Link, v string, ns kernel.Namespace) error {
	switch o.Attr {
	case "up":
		if v == "true" {
			return h.LinkSetUp(l)
		}
		return h.LinkSetDown(l)
	case "mtu":
		n, err := strconv.Atoi(v)
		if err != nil {
			return err
		}
		return h.LinkSetMTU(l, n)
	case "mac":
		mac, err := net.ParseMAC(v)
		if err != nil {
			return err
		}
		return h.LinkSetHardwareAddr(l, mac)
	case "master":
		if v == "" {
			return h.LinkSetNoMaster(l)
		}
		// EOPNOTSUPP: the master is a link of another kind (a veth).
		notBridge := func(err error) error {
			if errors.Is(err, unix.EOPNOTSUPP) {
				return fmt.Errorf("%q%s is not a bridge", v, inNS(o.NS))
			}
			return err
		}
		if br, ok := ns.Known(v); ok && br.Index > 0 {
			err := h.LinkSetMasterByIndex(l, br.Index)
			if !gone(err) {
				return notBridge(err)
			}
			ns.ForgetLink(v)
		}
		m, err := h.LinkByName(v)
		if err != nil {
			return fmt.Errorf("no bridge %q%s", v, inNS(o.NS))
		}
		return notBridge(h.LinkSetMaster(l, m))
	}
	return fmt.Errorf("unknown link attribute %q", o.Attr)
}

// Explain implements Op.
func (o *LinkSet) Explain(host string) []string { return o.explainSet(host, o.Value) }

// Undo implements Undoer: it sets the value the link had before, if Apply
// learned it.
func (o *LinkSet) Undo(host string) []string {
	if !o.Learned || o.Old == o.Value {
		return nil
	}
	return o.explainSet(host, o.Old)
}

// explainSet returns the command that sets the attribute to v.
func (o *LinkSet) explainSet(host, v string) []string {
	pre := "ip " + nsFlag(o.NS, host) + "link set " + shellQuote(o.Name) + " "
	switch o.Attr {
	case "up":
		if v == "true" {
			return []string{pre + "up"}
		}
		return []string{pre + "down"}
	case "mtu":
		return []string{pre + "mtu " + v}
	case "mac":
		return []string{pre + "address " + v}
	case "master":
		if v == "" {
			return []string{pre + "nomaster"}
		}
		return []string{pre + "master " + shellQuote(v)}
	}
	return nil
}

// LinkMove moves a link to another namespace, optionally renaming it, as
// `ip link set NAME netns NS [name NEW]`.
//
// # Link identity
//
// nsh tells a link it made from one that someone else made under the same
// name, after nsh's was deleted, by the link's index: the kernel hands out
// indexes cyclically, so a new link does not get the index of one deleted
// a moment ago. But an index is unique only within a namespace, and a link
// that moves into a namespace where its index is taken gets another one.
// So the identity of a link is the namespace, name and index where its
// newest operation left it, and every operation that moves or renames a
// link learns them again:
//
//   - LinkAdd learns the index the kernel gave the new link.
//   - LinkMove learns the index before the move (Index, found before the
//     operation is journaled, so that a move nsh was killed in the middle
//     of knows it too) and after it (ToIndex, journaled once it is done).
//   - Reverting a move checks that the link at the destination is the one
//     the move put there (ToIndex), moves it back and asks the kernel to
//     give it back the index it had before (IFLA_NEW_IFINDEX). The
//     operations older than the move are reverted after it, newest first,
//     and find the link exactly where and as they left it, whichever
//     process reverts them: only the journal is needed.
//
// Only if someone else took that index meanwhile does the kernel pick
// another; the revert records the renumbering in memory (see
// kernel.Namespace.Renumber), for the older reverts in the same process
// (`nsh down`, or one `nsh undo` of both steps). The journal records
// nothing that a revert learns, so a later process would call such a link
// foreign and leave it, with a warning.
//
// The veth peer relationship would be no better identity: the ends of a
// pair someone made again under the same names are peers too, so it proves
// nothing without the index of one end, which then moves and is renumbered
// like any other; it says nothing of links of other kinds; and learning
// the peer's index would cost every veth another netlink round trip.
type LinkMove struct {
	NS      string `json:"ns"`
	Name    string `json:"name"`
	ToNS    string `json:"to_ns"`
	NewName string `json:"new_name"`
	// Index is the link's index in NS before the move, found by Locate
	// (or by Apply), and asked for again when the move is reverted.
	Index int `json:"index,omitempty"`
	// ToIndex is the link's index in ToNS after the move, learned by
	// Apply: what the kernel gave it there.
	ToIndex int `json:"to_index,omitempty"`
	// BackIndex is the index the link came back to NS with, learned by
	// Revert where the kernel could not give it Index again (someone else
	// had taken it meanwhile), and journaled with the undo (Recaller).
	BackIndex int `json:"back_index,omitempty"`
	// ToPid is the process whose namespace ToNS is, where the script gave
	// the namespace by a process (link.move(pid)): --explain names it as
	// `ip link set NAME netns PID` does. ToNS is what the move uses.
	ToPid int `json:"to_pid,omitempty"`
}

func init() { Register("link.move", func() Op { return new(LinkMove) }) }

// Kind implements Op.
func (o *LinkMove) Kind() string { return "link.move" }

// Learns implements Learner.
func (o *LinkMove) Learns() {}

// Locate finds the index of the link to move, to be journaled with the
// operation before it is applied. A link it cannot find is left to Apply,
// which fails with the reason.
func (o *LinkMove) Locate(k kernel.Kernel) {
	ns, err := k.Namespace(o.NS)
	if err != nil {
		return
	}
	if li, ok := ns.Known(o.Name); ok && li.Index > 0 {
		o.Index = li.Index
		return
	}
	if _, _, l, err := linkByName(k, o.NS, o.Name); err == nil {
		o.Index = l.Attrs().Index
	}
}

// Apply implements Op.
func (o *LinkMove) Apply(k kernel.Kernel) error {
	// Applied again (see Replayer), the move looks the link up by name
	// and asks for the index it gave it before, as LinkAdd does.
	idx := o.Index
	if o.ToIndex > 0 {
		idx = 0
	}
	from, to, err := relocate(k, o.NS, o.Name, idx, o.ToNS, o.NewName, o.ToIndex)
	if err != nil {
		return failed(fmt.Sprintf("move link %q%s to %s", o.Name, inNS(o.NS), nsLabel(o.ToNS)), err)
	}
	o.Index, o.ToIndex = from, to
	return nil
}

// Revert implements Op.
func (o *LinkMove) Revert(k kernel.Kernel) error {
	what := fmt.Sprintf("move link %q back to %s", o.NewName, nsLabel(o.NS))
	to, _, l, err := linkByName(k, o.ToNS, o.NewName)
	if err != nil {
		if gone(err) {
			forget(k, o.ToNS, o.NewName)
			return nil
		}
		return failed(what, err)
	}
	idx := l.Attrs().Index
	if o.ToIndex > 0 && idx != to.Renumbered(o.NewName, o.ToIndex) {
		forget(k, o.ToNS, o.NewName)
		return &Warning{Msg: fmt.Sprintf("link %q%s is not the link nsh moved there (index %d, now %d): someone replaced it, so nsh left it alone",
			o.NewName, inNSOrHost(o.ToNS), o.ToIndex, idx)}
	}
	_, back, err := relocate(k, o.ToNS, o.NewName, idx, o.NS, o.Name, o.Index)
	if err != nil {
		if gone(err) {
			return nil
		}
		return failed(what, err)
	}
	if back > 0 && o.Index > 0 && back != o.Index {
		o.BackIndex = back
		o.Recall(k)
	}
	return nil
}

// Recall implements Recaller: a link that came back with another index
// than it left with is known by that index to the reverts of older
// operations on it (the add), in this process or a later one.
func (o *LinkMove) Recall(k kernel.Kernel) {
	if o.BackIndex <= 0 || o.Index <= 0 || o.BackIndex == o.Index {
		return
	}
	if ns, err := k.Namespace(o.NS); err == nil {
		ns.Renumber(o.Name, o.Index, o.BackIndex)
	}
}

func nsLabel(ns string) string {
	if isHost(ns) {
		return "host"
	}
	return fmt.Sprintf("namespace %q", ns)
}

// relocate moves the link named name in fromNS (with index idx there, or
// 0 to look it up) to toNS, renaming it to newName, or only renames it if
// the two namespaces are one. In another namespace it asks the kernel for
// index want (0 for any); if that is taken, the kernel picks one. It
// returns the link's index before and after (0 after if the moved link
// could not be found again, which is not an error: it moved).
//
// What nsh knows of a link it created (LinkInfo) follows it: a link that
// moves to another namespace is down and in no bridge, as the kernel
// leaves it; one renamed in place keeps its state.
func relocate(k kernel.Kernel, fromNS, name string, idx int, toNS, newName string, want int) (int, int, error) {
	from, err := k.Namespace(fromNS)
	if err != nil {
		return 0, 0, err
	}
	to, err := k.Namespace(toNS)
	if err != nil {
		return 0, 0, err
	}
	li, known := from.Known(name)
	from.ForgetLink(name)
	to.ForgetLink(newName)
	h, err := from.Netlink()
	if err != nil {
		return 0, 0, err
	}
	if idx == 0 {
		l, err := h.LinkByName(name)
		if err != nil {
			return 0, 0, err
		}
		idx = l.Attrs().Index
	}
	after := 0
	if from == to {
		// Renamed in place: the link keeps its state and its bridge.
		if name != newName {
			dev := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: idx, Name: name}}
			if err := h.LinkSetName(dev, newName); err != nil {
				return idx, 0, err
			}
		}
		after = idx
	} else {
		rename := ""
		if newName != name {
			// The kernel renames and moves in one message (IFLA_IFNAME
			// with IFLA_NET_NS_FD), so a name taken in the source does
			// not matter.
			rename = newName
		}
		err := moveLink(from, idx, to.Fd(), rename, want)
		if want > 0 && errors.Is(err, unix.EBUSY) {
			// Someone else has the index there now.
			err = moveLink(from, idx, to.Fd(), rename, 0)
		} else if err == nil {
			after = want
		}
		if err != nil {
			return idx, 0, err
		}
		li = kernel.LinkInfo{}
		if after == 0 {
			if th, err := to.Netlink(); err == nil {
				if l, err := th.LinkByName(newName); err == nil {
					after = l.Attrs().Index
				}
			}
		}
	}
	if known && after > 0 {
		li.Index = after
		to.Remember(newName, li)
	}
	return idx, after, nil
}

// Explain implements Op.
func (o *LinkMove) Explain(host string) []string {
	if o.ToPid > 0 {
		cmd := "ip " + nsFlag(o.NS, host) + "link set " + shellQuote(o.Name) + " netns " + strconv.Itoa(o.ToPid)
		if o.NewName != o.Name {
			cmd += " name " + shellQuote(o.NewName)
		}
		return []string{cmd}
	}
	return []string{explainMove(o.NS, o.Name, o.ToNS, o.NewName, host)}
}

// Undo implements Undoer: it moves the link back under its old name.
func (o *LinkMove) Undo(host string) []string {
	return []string{explainMove(o.ToNS, o.NewName, o.NS, o.Name, host)}
}

// explainMove returns the command that moves link name in ns to toNS as
// newName. The machine's own namespace is written "netns 1", as the
// tutorials do: the namespace of process 1.
func explainMove(ns, name, toNS, newName, host string) string {
	cmd := "ip " + nsFlag(ns, host) + "link set " + shellQuote(name) + " netns "
	if to := explainNS(toNS, host); to == "" {
		cmd += "1"
	} else {
		cmd += shellQuote(to)
	}
	if newName != name {
		cmd += " name " + shellQuote(newName)
	}
	return cmd
}

// moveLink sends one RTM_NEWLINK that moves the link with index idx in
// namespace from to the namespace fd, renaming it there unless name is "",
// and asking for index want there unless want is 0 (IFLA_NEW_IFINDEX: the
// kernel fails with EBUSY if it is taken).
func moveLink(from kernel.Namespace, idx, fd int, name string, want int) error {
	if name == "" && want == 0 {
		h, err := from.Netlink()
		if err != nil {
			return err
		}
		return h.LinkSetNsFd(&netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: idx}}, fd)
	}
	return from.MoveLink(idx, fd, name, want)
}

// forget drops what nsh knows of a link, if its namespace is still there.
func forget(k kernel.Kernel, nsName, name string) {
	if ns, err := k.Namespace(nsName); err == nil {
		ns.ForgetLink(name)
	}
}
