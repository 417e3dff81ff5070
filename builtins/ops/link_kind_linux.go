package ops

import (
	"encoding/json"
	"fmt"
	"sort"

	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/vishvananda/netlink"
)

// A LinkKind is one kind of link that LinkAdd can create (veth, bridge,
// dummy, macvlan), with the parameters of that kind: everything about a
// link that depends on its kind is in the kind's own file
// (link_KIND_linux.go), and LinkAdd does the rest the same way for all.
//
// A kind is a pointer to a struct whose exported fields are its
// parameters. They are journaled in the same JSON object as LinkAdd's own
// fields, so their names must differ from "ns", "name", "type" and
// "index". A kind registers itself with RegisterLinkKind.
type LinkKind interface {
	// Name returns the kernel's name of the kind, as in `ip link add
	// NAME type KIND`. LinkAdd journals it as its "type".
	Name() string
	// Driver returns the kernel configuration option that provides the
	// kind's driver, for the error that says it is missing.
	Driver() string
	// Link returns the link to ask the kernel for: attrs (which name it)
	// and the kind's own attributes. ns is the namespace the link is
	// created in. An error is a reason, as in "failed to add KIND
	// "NAME": REASON".
	Link(k kernel.Kernel, ns kernel.Namespace, o *LinkAdd, attrs netlink.LinkAttrs) (netlink.Link, error)
	// Explain returns the iproute2 command that creates the link; host is
	// as for Explainer.
	Explain(o *LinkAdd, host string) string
}

// A linkChecker kind checks its parameters before anything is journaled
// (LinkAdd.Check).
type linkChecker interface {
	Check(o *LinkAdd) error
}

// A pairedKind creates its links in pairs: creating one creates its peer,
// and deleting either deletes both (veth). LinkAdd remembers and forgets
// the peer with the link, and names it when its name is taken.
type pairedKind interface {
	// PeerEnd returns the peer's namespace and name.
	PeerEnd() (ns, name string)
}

// A refusingKind explains the kernel's refusals that are particular to
// it (a macvlan's parent that cannot carry one). Refused returns nil to
// leave err to LinkAdd.
type refusingKind interface {
	Refused(o *LinkAdd, err error) error
}

// An addingKind asks the kernel for its links itself, rather than with
// one RTM_NEWLINK through the namespace's netlink handle (a tap, which
// the kernel creates only through /dev/net/tun, in the namespace of the
// thread that opens it).
type addingKind interface {
	Add(ns kernel.Namespace, h kernel.Netlink, l netlink.Link) error
}

// addLink asks the kernel for the link l of kind in namespace ns.
func addLink(kind LinkKind, ns kernel.Namespace, h kernel.Netlink, l netlink.Link) error {
	if a, ok := kind.(addingKind); ok {
		return a.Add(ns, h, l)
	}
	return h.LinkAdd(l)
}

var linkKinds = map[string]func() LinkKind{}

// RegisterLinkKind makes a kind of link known to LinkAdd and to the
// journal. It is called from the init function of the kind's file.
func RegisterLinkKind(zero func() LinkKind) {
	name := zero().Name()
	if _, dup := linkKinds[name]; dup {
		panic("ops: duplicate link kind " + name)
	}
	linkKinds[name] = zero
}

// LinkKinds returns the names of the registered kinds of link, sorted.
func LinkKinds() []string {
	var ks []string
	for k := range linkKinds {
		ks = append(ks, k)
	}
	sort.Strings(ks)
	return ks
}

// HasPeer reports whether links of the named kind come in pairs, so that
// a link of that kind has a peer (a veth's other end).
func HasPeer(kind string) bool {
	zero, ok := linkKinds[kind]
	if !ok {
		return false
	}
	_, paired := zero().(pairedKind)
	return paired
}

// PeerOf returns the peer that o creates with its link: its namespace and
// name, and false if the kind has no peers.
func PeerOf(o *LinkAdd) (ns, name string, ok bool) {
	p, ok := o.Type.(pairedKind)
	if !ok {
		return "", "", false
	}
	ns, name = p.PeerEnd()
	return ns, name, true
}

// linkAddJSON is how the journal records LinkAdd's own fields. The kind's
// parameters are in the same object.
type linkAddJSON struct {
	NS    string `json:"ns"`
	Name  string `json:"name"`
	Type  string `json:"type"`
	Index int    `json:"index,omitempty"`
}

// MarshalJSON records the link's kind as "type" and the kind's
// parameters beside LinkAdd's own fields, so a veth is recorded as
// {"ns":..,"name":..,"type":"veth","index":..,"peer":..,"peer_ns":..}, as
// it always was.
func (o *LinkAdd) MarshalJSON() ([]byte, error) {
	j := linkAddJSON{NS: o.NS, Name: o.Name, Index: o.Index}
	if o.Type == nil {
		return json.Marshal(j)
	}
	j.Type = o.Type.Name()
	b, err := json.Marshal(j)
	if err != nil {
		return nil, err
	}
	params, err := json.Marshal(o.Type)
	if err != nil {
		return nil, err
	}
	if len(params) <= 2 { // {}
		return b, nil
	}
	// Both are JSON objects: join them into one.
	return append(append(b[:len(b)-1], ','), params[1:]...), nil
}

// UnmarshalJSON decodes what MarshalJSON encoded: LinkAdd's own fields,
// then the parameters of the kind that "type" names.
func (o *LinkAdd) UnmarshalJSON(b []byte) error {
	var j linkAddJSON
	if err := json.Unmarshal(b, &j); err != nil {
		return err
	}
	zero, ok := linkKinds[j.Type]
	if !ok {
		return fmt.Errorf("unknown link type %q (journal written by a newer nsh?)", j.Type)
	}
	kind := zero()
	if err := json.Unmarshal(b, kind); err != nil {
		return err
	}
	*o = LinkAdd{NS: j.NS, Name: j.Name, Type: kind, Index: j.Index}
	return nil
}

// explainAdd returns the iproute2 command that adds a link of a kind
// without parameters: `ip link add NAME [netns NS] type KIND`.
func explainAdd(o *LinkAdd, host string) string {
	return "ip link add " + shellQuote(o.Name) + nsArg(o.NS, host) + " type " + o.Type.Name()
}
