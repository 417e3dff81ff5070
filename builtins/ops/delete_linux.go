package ops

import (
	"errors"
	"fmt"
	"time"

	"github.com/nshlab/nsh/builtins/sys/kernel"
)

// A Replayer operation deletes what older operations of the session made
// (deleting a namespace deletes every link in it, and the other ends of
// its veths), so its revert is to make all of that again: the session
// reverts it by calling Replay with those operations, oldest first,
// instead of Revert, and then records what they learn again (the index
// of each link made again, the pin of the namespace), so that reverting
// them later finds what the replay made.
//
// The operations stay live in the journal while the deletion is: nothing
// older than the deletion can be reverted before it, since undo goes
// newest first.
type Replayer interface {
	// Replays returns the journal IDs of the operations the deletion
	// undid, oldest first.
	Replays() []int
	// Replay applies the operations again, oldest first. If one fails,
	// those already applied are reverted, and the error is returned.
	Replay(k kernel.Kernel, ops []Op) error
}

// replay implements Replayer.Replay for both deletions.
func replay(k kernel.Kernel, what string, list []Op) error {
	for i, op := range list {
		if err := op.Apply(k); err != nil {
			for j := i - 1; j >= 0; j-- {
				list[j].Revert(k)
			}
			return fmt.Errorf("failed to undo the deletion of %s: %w", what, err)
		}
	}
	return nil
}

// NetnsDel deletes a namespace the session made, as `ip netns delete
// NAME`: the kernel deletes everything in it, and the other ends of its
// veths wherever they are. Destroys lists the operations of the session
// that made what goes with it (found by the builtin from the journal);
// undoing the deletion makes them again (see Replayer).
type NetnsDel struct {
	Name string `json:"name"`
	// Pin is the pin of the namespace the session made (NetnsAdd.Pin), so
	// that a namespace someone else made under the name is never deleted.
	Pin      uint64 `json:"pin,omitempty"`
	Destroys []int  `json:"destroys"`
}

func init() { Register("netns.delete", func() Op { return new(NetnsDel) }) }

// Kind implements Op.
func (o *NetnsDel) Kind() string { return "netns.delete" }

// Apply implements Op.
func (o *NetnsDel) Apply(k kernel.Kernel) error {
	if !k.Exists(o.Name) {
		return fmt.Errorf("failed to delete namespace %q: %w", o.Name, kernel.ErrNoNamespace)
	}
	peers := outerPeers(k, o.Name)
	if err := stopHelpers(k, o.Name); err != nil {
		return failed(fmt.Sprintf("delete namespace %q", o.Name), err)
	}
	if err := k.DeleteNamed(o.Name, o.Pin); err != nil {
		if errors.Is(err, kernel.ErrReplaced) {
			return fmt.Errorf("failed to delete namespace %q: %w (someone deleted it and made another one)", o.Name, err)
		}
		return failed(fmt.Sprintf("delete namespace %q", o.Name), err)
	}
	waitGone(k, peers)
	return nil
}

// peerEnd is a veth end in another namespace than the one deleted.
type peerEnd struct {
	ns    string
	index int
}

// outerPeers returns the ends, in other namespaces, of the veths of the
// named namespace: the kernel destroys them with it.
func outerPeers(k kernel.Kernel, name string) []peerEnd {
	ns, err := k.Namespace(name)
	if err != nil {
		return nil
	}
	h, err := ns.Netlink()
	if err != nil {
		return nil
	}
	links, err := h.LinkList()
	if err != nil {
		return nil
	}
	var out []peerEnd
	for _, l := range links {
		a := l.Attrs()
		if l.Type() != "veth" || a.NetNsID < 0 || a.ParentIndex == 0 {
			continue
		}
		if peerNS, ok := k.NameOfNsID(ns, a.NetNsID); ok && peerNS != name {
			out = append(out, peerEnd{peerNS, a.ParentIndex})
		}
	}
	return out
}

// deleteWait bounds how long a deletion waits for the kernel to destroy
// what goes with a namespace.
const deleteWait = 5 * time.Second

// waitGone waits until the veth ends in other namespaces are gone. The
// kernel destroys a namespace, and the other ends of its veths, in a work
// queue after its last reference goes: without the wait, a check right
// after ns.delete() would still see them (as one right after ip netns
// delete does). It gives up silently after deleteWait.
func waitGone(k kernel.Kernel, peers []peerEnd) {
	deadline := time.Now().Add(deleteWait)
	for _, p := range peers {
		ns, err := k.Namespace(p.ns)
		if err != nil {
			continue
		}
		h, err := ns.Netlink()
		if err != nil {
			continue
		}
		for time.Now().Before(deadline) {
			if _, err := h.LinkByIndex(p.index); err != nil {
				break
			}
			time.Sleep(5 * time.Millisecond)
		}
	}
}

// Revert implements Op. A deletion is undone by Replay, which the session
// calls with the operations it needs; alone, it cannot be.
func (o *NetnsDel) Revert(k kernel.Kernel) error {
	return fmt.Errorf("cannot undo the deletion of namespace %q without the operations that made it", o.Name)
}

// Replays implements Replayer.
func (o *NetnsDel) Replays() []int { return o.Destroys }

// Replay implements Replayer.
func (o *NetnsDel) Replay(k kernel.Kernel, list []Op) error {
	return replay(k, fmt.Sprintf("namespace %q", o.Name), list)
}

// Explain implements Op.
func (o *NetnsDel) Explain(host string) []string {
	return []string{"ip netns delete " + shellQuote(o.Name)}
}

// LinkDel deletes a link the session made, as `ip link delete NAME`: a
// veth with its other end, a bridge (its ports stay, out of it). Destroys
// lists the operations of the session that made what goes with it (the
// link, its addresses, routes through it, the ports' membership);
// undoing the deletion makes them again (see Replayer).
type LinkDel struct {
	NS   string `json:"ns"`
	Name string `json:"name"`
	// Index is the link's index when the builtin found it, so that a link
	// someone else made under the name since is never deleted.
	Index    int   `json:"index,omitempty"`
	Destroys []int `json:"destroys"`
}

func init() { Register("link.delete", func() Op { return new(LinkDel) }) }

// Kind implements Op.
func (o *LinkDel) Kind() string { return "link.delete" }

// Apply implements Op.
func (o *LinkDel) Apply(k kernel.Kernel) error {
	what := fmt.Sprintf("delete link %q%s", o.Name, inNS(o.NS))
	ns, h, l, err := linkByName(k, o.NS, o.Name)
	if err != nil {
		return failed(what, err)
	}
	if o.Index > 0 && l.Attrs().Index != o.Index {
		return fmt.Errorf("failed to %s: it is not the link nsh created (index %d, now %d)", what, o.Index, l.Attrs().Index)
	}
	ns.ForgetLink(o.Name)
	if err := h.LinkDel(l); err != nil {
		return failed(what, err)
	}
	return nil
}

// Revert implements Op; see NetnsDel.Revert.
func (o *LinkDel) Revert(k kernel.Kernel) error {
	return fmt.Errorf("cannot undo the deletion of link %q%s without the operations that made it", o.Name, inNS(o.NS))
}

// Replays implements Replayer.
func (o *LinkDel) Replays() []int { return o.Destroys }

// Replay implements Replayer.
func (o *LinkDel) Replay(k kernel.Kernel, list []Op) error {
	return replay(k, fmt.Sprintf("link %q%s", o.Name, inNS(o.NS)), list)
}

// Explain implements Op.
func (o *LinkDel) Explain(host string) []string {
	return []string{"ip " + nsFlag(o.NS, host) + "link delete " + shellQuote(o.Name)}
}
