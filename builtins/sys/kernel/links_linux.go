package kernel

import (
	"errors"
	"fmt"
	"os"
	"runtime"
	"strings"
	"sync"

	"github.com/nshlab/nsh/builtins/sys/ipt"
	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netlink/nl"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NameOfNsID implements Kernel. It looks at host and the namespaces nsh
// has open first, then at the rest of /run/netns.
func (k *Linux) NameOfNsID(from Namespace, nsid int) (string, bool) {
	f, ok := from.(*linuxNamespace)
	if !ok {
		return "", false
	}
	h, err := f.handle()
	if err != nil {
		return "", false
	}
	match := func(ns *linuxNamespace) bool {
		id, err := h.GetNetNsIdByFd(ns.Fd())
		return err == nil && id == nsid
	}
	return k.findNamespace(match)
}

// findNamespace returns the name of the first namespace that match
// accepts: host, then the namespaces nsh has open, then the rest of
// /run/netns.
func (k *Linux) findNamespace(match func(*linuxNamespace) bool) (string, bool) {
	if match(k.hostNS()) {
		return HostName, true
	}
	k.mu.Lock()
	var open []*linuxNamespace
	for _, ns := range k.named {
		open = append(open, ns)
	}
	k.mu.Unlock()
	for _, ns := range open {
		if match(ns) {
			return ns.name, true
		}
	}
	ents, _ := os.ReadDir(NetnsRunDir)
	for _, e := range ents {
		if ns, err := k.named1(e.Name()); err == nil && match(ns) {
			return ns.name, true
		}
	}
	return "", false
}

// MoveLink implements Namespace: one RTM_NEWLINK with IFLA_NET_NS_FD, and
// IFLA_IFNAME and IFLA_NEW_IFINDEX where asked for.
func (n *linuxNamespace) MoveLink(idx, fd int, name string, want int) error {
	return n.Do(func() error {
		req := nl.NewNetlinkRequest(unix.RTM_NEWLINK, unix.NLM_F_ACK)
		msg := nl.NewIfInfomsg(unix.AF_UNSPEC)
		msg.Index = int32(idx)
		req.AddData(msg)
		req.AddData(nl.NewRtAttr(unix.IFLA_NET_NS_FD, nl.Uint32Attr(uint32(fd))))
		if name != "" {
			req.AddData(nl.NewRtAttr(unix.IFLA_IFNAME, nl.ZeroTerminated(name)))
		}
		if want > 0 {
			req.AddData(nl.NewRtAttr(unix.IFLA_NEW_IFINDEX, nl.Uint32Attr(uint32(want))))
		}
		_, err := req.Execute(unix.NETLINK_ROUTE, 0)
		return err
	})
}

// ReadSysctl implements Namespace.
func (n *linuxNamespace) ReadSysctl(key string) (string, error) {
	var v string
	err := n.Do(func() error {
		b, err := os.ReadFile(SysctlPath(key))
		v = strings.TrimSpace(string(b))
		return err
	})
	return v, err
}

// WriteSysctl implements Namespace. A sysctl written in the namespace nsh
// runs in drops the spare namespace (see spare): new namespaces copy
// conf/all and conf/default from the machine's namespace (or from nsh's,
// with devconf_inherit_init_net=3), and one made ahead of time would miss
// the change.
func (n *linuxNamespace) WriteSysctl(key, value string) error {
	err := n.Do(func() error {
		return os.WriteFile(SysctlPath(key), []byte(value+"\n"), 0)
	})
	if err == nil && n.k != nil {
		n.k.DropSpare()
	}
	return err
}

// Iptables implements Namespace.
func (n *linuxNamespace) Iptables(bin string) (Iptables, error) {
	h, err := ipt.Open(bin)
	if err != nil {
		return nil, err
	}
	return &linuxIptables{h: h, ns: n}, nil
}

// Ip6tables implements Namespace.
func (n *linuxNamespace) Ip6tables(bin string) (Iptables, error) {
	h, err := ipt.Open6(bin)
	if err != nil {
		return nil, err
	}
	return &linuxIptables{h: h, ns: n}, nil
}

// linuxIptables runs an iptables binary in a namespace: each call on a
// thread switched into it, which the iptables child inherits.
type linuxIptables struct {
	h  *ipt.Handle
	ns *linuxNamespace
}

func (t *linuxIptables) Path() string { return t.h.Path }
func (t *linuxIptables) NFT() bool    { return t.h.NFT() }

func (t *linuxIptables) Append(table, chain string, args []string) error {
	return t.ns.Do(func() error { return t.h.Append(table, chain, args) })
}

func (t *linuxIptables) Insert(table, chain string, pos int, args []string) error {
	return t.ns.Do(func() error { return t.h.Insert(table, chain, pos, args) })
}

func (t *linuxIptables) Delete(table, chain string, args []string) (found bool, err error) {
	err = t.ns.Do(func() (err error) { found, err = t.h.Delete(table, chain, args); return })
	return
}

func (t *linuxIptables) Check(table, chain string, args []string) (ok bool, err error) {
	err = t.ns.Do(func() (err error) { ok, err = t.h.Check(table, chain, args); return })
	return
}

func (t *linuxIptables) ChainExists(table, chain string) (ok bool, err error) {
	err = t.ns.Do(func() (err error) { ok, err = t.h.ChainExists(table, chain); return })
	return
}

func (t *linuxIptables) List(table, chain string) (rules []string, err error) {
	err = t.ns.Do(func() (err error) { rules, err = t.h.List(table, chain); return })
	return
}

func (t *linuxIptables) Policy(table, chain string) (p string, err error) {
	err = t.ns.Do(func() (err error) { p, err = t.h.Policy(table, chain); return })
	return
}

func (t *linuxIptables) TableExists(table string) (ok bool, err error) {
	err = t.ns.Do(func() (err error) { ok, err = t.h.TableExists(table); return })
	return
}

func (t *linuxIptables) ChainMade(table, chain string) (ok bool, err error) {
	err = t.ns.Do(func() (err error) { ok, err = t.h.ChainMade(table, chain); return })
	return
}

func (t *linuxIptables) DropChain(table, chain string) (ok bool, err error) {
	err = t.ns.Do(func() (err error) { ok, err = t.h.DropChain(table, chain); return })
	return
}

func (t *linuxIptables) DropTable(table string) (ok bool, err error) {
	err = t.ns.Do(func() (err error) { ok, err = t.h.DropTable(table); return })
	return
}

var drivers struct {
	sync.Mutex
	known map[string]bool
}

// HasDriver implements Kernel. It asks the kernel, as
// `ip link add probe type KIND` would (which also loads the driver's
// module if there is one), in a throwaway network namespace that dies
// with the probe, so no namespace of the machine or of a session is
// touched. The answer is cached for the life of the process.
func (k *Linux) HasDriver(kind string) (bool, error) { return HasDriver(kind) }

// HasDriver is Linux.HasDriver, which needs no Linux value.
func HasDriver(kind string) (bool, error) {
	drivers.Lock()
	defer drivers.Unlock()
	if ok, seen := drivers.known[kind]; seen {
		return ok, nil
	}
	type answer struct {
		ok  bool
		err error
	}
	c := make(chan answer, 1)
	go func() {
		// The thread enters a new network namespace and is never
		// unlocked: it ends with the goroutine, and the namespace with it.
		runtime.LockOSThread()
		ns, err := netns.New()
		if err != nil {
			c <- answer{err: fmt.Errorf("has_driver(%q): failed to make a namespace to probe in: %w", kind, err)}
			return
		}
		defer ns.Close()
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			c <- answer{err: fmt.Errorf("has_driver(%q): %w", kind, err)}
			return
		}
		defer h.Close()
		attrs := netlink.NewLinkAttrs()
		attrs.Name = "nshprobe0"
		var l netlink.Link = &netlink.GenericLink{LinkAttrs: attrs, LinkType: kind}
		if kind == "tun" || kind == "tap" {
			// The kernel makes these only through /dev/net/tun (its
			// rtnetlink refuses them with EOPNOTSUPP); a link that no
			// file keeps goes when the probe closes it.
			l = &netlink.Tuntap{LinkAttrs: attrs, Mode: netlink.TUNTAP_MODE_TAP, NonPersist: true}
		}
		err = h.LinkAdd(l)
		if kind == "tun" || kind == "tap" {
			c <- answer{ok: err == nil}
			return
		}
		// Any answer but "unknown device type" means the driver is there
		// (a kind such as vxlan refuses a link without its parameters).
		c <- answer{ok: !errors.Is(err, unix.EOPNOTSUPP)}
	}()
	a := <-c
	if a.err == nil {
		if drivers.known == nil {
			drivers.known = map[string]bool{}
		}
		drivers.known[kind] = a.ok
	}
	return a.ok, a.err
}
