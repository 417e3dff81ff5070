package ops

import (
	"fmt"
	"strconv"

	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/vishvananda/netlink"
)

// Veth is a veth pair: the link, and its peer Peer in namespace PeerNS.
// Creating one end creates both, in one message, and deleting either end
// deletes both, so LinkAdd's revert deletes the end it is named for (which
// a move of that end has brought back by then), wherever the peer is.
type Veth struct {
	Peer   string `json:"peer"`
	PeerNS string `json:"peer_ns"`
	// PeerPid is the process whose namespace PeerNS is, where the script
	// gave it by a process (peer_ns=pid): --explain names it as `ip link
	// add ... peer name PEER netns PID` does.
	PeerPid int `json:"peer_pid,omitempty"`
}

func init() { RegisterLinkKind(func() LinkKind { return new(Veth) }) }

// Name implements LinkKind.
func (*Veth) Name() string { return "veth" }

// Driver implements LinkKind.
func (*Veth) Driver() string { return "CONFIG_VETH" }

// PeerEnd implements pairedKind.
func (v *Veth) PeerEnd() (string, string) { return v.PeerNS, v.Peer }

// Check implements linkChecker.
func (v *Veth) Check(o *LinkAdd) error {
	if err := kernel.ValidateIfName(v.Peer); err != nil {
		return err
	}
	if v.Peer == o.Name && scope(v.PeerNS)[0] == scope(o.NS)[0] {
		return fmt.Errorf("veth %q: the two ends need different names in one namespace", o.Name)
	}
	return nil
}

// Link implements LinkKind: the peer goes straight into its namespace
// (VETH_INFO_PEER with IFLA_NET_NS_FD), with no message of its own.
//
// Neither end gets attributes that `ip link add NAME type veth peer name
// PEER` does not send: the library sends the peer's IFLA_TXQLEN unless
// PeerTxQLen is negative, and 0 would give the peer no queue at all where
// the kernel gives every veth 1000.
func (v *Veth) Link(k kernel.Kernel, _ kernel.Namespace, o *LinkAdd, attrs netlink.LinkAttrs) (netlink.Link, error) {
	l := &netlink.Veth{LinkAttrs: attrs, PeerName: v.Peer, PeerTxQLen: -1}
	if v.PeerNS != o.NS {
		pns, err := k.Namespace(v.PeerNS)
		if err != nil {
			return nil, fmt.Errorf("peer namespace %q: %s", v.PeerNS, reason(err))
		}
		l.PeerNamespace = netlink.NsFd(pns.Fd())
	}
	return l, nil
}

// Explain implements LinkKind.
func (v *Veth) Explain(o *LinkAdd, host string) string {
	cmd := explainAdd(o, host) + " peer name " + shellQuote(v.Peer)
	if v.PeerPid > 0 {
		cmd += " netns " + strconv.Itoa(v.PeerPid)
	} else {
		cmd += nsArg(v.PeerNS, host)
	}
	return cmd
}
