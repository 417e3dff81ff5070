package kernel

import (
	"errors"
	"fmt"
	"runtime"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// A spare is a network namespace made ahead of time: unshared, with its
// netlink socket open and, if asked, its loopback up, but pinned nowhere
// and known to no other process. The kernel's setup of a namespace is the
// costliest part of `ip netns add`; with a spare ready, AddNamed only has
// to pin it, and the next spare is made on another thread while the script
// goes on, so that the kernel's work for it overlaps nsh's other work.
//
// A spare has no name: no pin, no entry in /run/netns, nothing `ip netns`
// lists (lsns and /proc/PID/fd show it, as any namespace nsh holds open).
// If it is never used, it is closed with the Kernel (or with the process)
// and the kernel frees it.
//
// A new namespace copies the IPv4 conf/all and conf/default sysctls of the
// machine's namespace, or, with net.core.devconf_inherit_init_net=3, of
// the one that creates it: a spare must not be older than such a change.
// nsh drops it when it changes a sysctl in its own namespace itself
// (DropSpare), or may have (exec_in there), and never uses one made more
// than maxSpareAge ago, which bounds what a change by another program can
// miss.
type spare struct {
	lo   bool          // made with lo up
	done chan struct{} // closed when the fields below are set
	at   time.Time     // when it was ready
	fd   netns.NsHandle
	nl   *netlink.Handle
	err  error
}

// maxSpareAge is how old a spare may be when it is used. A script that
// makes namespaces in a row uses each within milliseconds.
const maxSpareAge = time.Second

// newSpare starts making a spare on a thread of its own, from the
// namespace back, to which the thread returns.
func newSpare(back netns.NsHandle, lo bool) *spare {
	sp := &spare{lo: lo, done: make(chan struct{}), fd: netns.None()}
	go func() {
		defer func() {
			sp.at = time.Now()
			close(sp.done)
		}()
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			runtime.UnlockOSThread() // nothing changed
			sp.err = fmt.Errorf("failed to create a network namespace: %w", err)
			return
		}
		sp.err = sp.fill()
		if err := netns.Set(back); err != nil {
			// Stay locked: the runtime ends the thread with this goroutine.
			sp.err = errors.Join(sp.err, fmt.Errorf("failed to return from a new namespace: %w", err))
		} else {
			runtime.UnlockOSThread()
		}
		if sp.err != nil {
			sp.close()
		}
	}()
	return sp
}

// fill opens the new namespace's file and netlink socket from inside it,
// where no switch is needed, and brings lo up if asked.
func (sp *spare) fill() error {
	fd, err := unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return fmt.Errorf("failed to open a new namespace: %w", err)
	}
	sp.fd = netns.NsHandle(fd)
	if sp.nl, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
		return fmt.Errorf("failed to open netlink in a new namespace: %w", err)
	}
	if sp.lo {
		return loUp(sp.nl)
	}
	return nil
}

// wait returns once the spare is made (or failed).
func (sp *spare) wait() error {
	<-sp.done
	return sp.err
}

// close frees a spare that was not used.
func (sp *spare) close() {
	if sp.nl != nil {
		sp.nl.Close()
		sp.nl = nil
	}
	if sp.fd.IsOpen() {
		sp.fd.Close()
		sp.fd = netns.None()
	}
}

// loUp brings up the loopback of a new namespace, which is always
// interface 1, without looking it up.
func loUp(h *netlink.Handle) error {
	lo := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: 1, Name: "lo"}}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("failed to bring up lo: %w", err)
	}
	return nil
}

// takeSpare returns a spare made with lo as asked, ready or in the making,
// and starts making one if there is none, or if the one there is was made
// for another lo or is older than maxSpareAge.
func (k *Linux) takeSpare(lo bool) *spare {
	k.mu.Lock()
	sp := k.spare
	k.spare = nil
	k.mu.Unlock()
	if sp != nil && sp.lo == lo && !sp.stale() {
		return sp
	}
	if sp != nil {
		sp.wait()
		sp.close()
	}
	return newSpare(k.own.fd, lo)
}

// stale reports whether a spare is ready and older than maxSpareAge.
func (sp *spare) stale() bool {
	select {
	case <-sp.done:
		return time.Since(sp.at) > maxSpareAge
	default:
		return false // in the making: as new as can be
	}
}

// keepSpare puts back a spare that AddNamed could not use (the name was
// taken), or frees it if another is already kept.
func (k *Linux) keepSpare(sp *spare) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.spare == nil && !k.closed {
		k.spare = sp
		return
	}
	go func() { sp.wait(); sp.close() }()
}

// prepareSpare starts making the next spare, from the second namespace k
// creates on (a script that makes one namespace, or only its sandbox,
// should not pay for another), when nsh runs in the machine's mount
// namespace, the only place AddNamed uses spares.
func (k *Linux) prepareSpare(lo bool) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.created++
	if k.spare != nil || k.closed || k.created < 2 || machineMnt() >= 0 {
		return
	}
	k.spare = newSpare(k.own.fd, lo)
}

// DropSpare frees the spare namespace, if any, so that the next namespace
// is made with the settings of this moment. Operations that change a
// sysctl in nsh's own namespace call it, and so does exec_in there.
func (k *Linux) DropSpare() {
	k.mu.Lock()
	sp := k.spare
	k.spare = nil
	k.mu.Unlock()
	if sp != nil {
		sp.wait()
		sp.close()
	}
}
