package kernel

import (
	"errors"
	"net"
	"path/filepath"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
)

// Kernel is the set of network namespaces one nsh session works with, and
// everything that operations and builtins may do to them. Nothing above
// this package reaches the kernel another way, so that the same operations
// apply to the machine's kernel (Linux) and to an in-memory model of one
// (package model), which needs no root.
//
// The host namespace is the one nsh started in, or a named sandbox
// namespace that stands in for it.
type Kernel interface {
	// Host returns the session's host namespace.
	Host() Namespace
	// Sandboxed reports whether host is a sandbox namespace rather than
	// the namespace nsh started in.
	Sandboxed() bool
	// Namespace returns "host" (or "") or the named namespace. It fails
	// with an error wrapping ErrNoNamespace if there is none.
	Namespace(name string) (Namespace, error)
	// Named returns the namespace pinned at /run/netns/NAME.
	Named(name string) (Namespace, error)
	// Exists reports whether /run/netns/NAME exists.
	Exists(name string) bool
	// AddNamed creates a namespace pinned at /run/netns/NAME, as
	// `ip netns add NAME` does, and with lo brings its loopback up. It
	// fails with an error wrapping os.ErrExist if the name is taken.
	AddNamed(name string, lo bool) (Namespace, error)
	// DeleteNamed removes the pin of /run/netns/NAME, as
	// `ip netns delete` does. A namespace that is already gone is not an
	// error. With pin other than 0 (the PinID of the namespace nsh
	// created), a pin that now holds another namespace is left alone, and
	// the error wraps ErrReplaced.
	DeleteNamed(name string, pin uint64) error
	// DeleteNamedAll deletes several namespaces as DeleteNamed does each,
	// together, and returns one error per name.
	DeleteNamedAll(names []string, pins []uint64) []error
	// Forget closes nsh's references to a named namespace without
	// deleting it.
	Forget(name string)
	// NameOfNsID returns the name ("host" or a /run/netns name) of the
	// namespace that from knows by nsid, as the kernel reports a veth
	// peer's namespace (netlink.LinkAttrs.NetNsID).
	NameOfNsID(from Namespace, nsid int) (string, bool)
	// NameOfPid returns the name ("host" or a /run/netns name) of the
	// network namespace that process pid is in, as `ip link set X netns
	// PID` names a namespace. It fails if there is no such process, or if
	// its namespace has no name nsh can use (an anonymous one).
	NameOfPid(pid int) (string, error)
	// HasDriver reports whether the kernel can create links of kind
	// ("veth", "bridge", "dummy", "vxlan", ...), without changing any
	// namespace.
	HasDriver(kind string) (bool, error)

	// SetHost makes the named namespace stand in for host: the session's
	// sandbox. It changes which namespace "host" means, so only two
	// callers may use it, both from what the journal says: the
	// operation that creates the sandbox (ops.NetnsAdd with Sandbox, whose
	// journal entry records it), and session.Open, for a session whose
	// journal names a sandbox.
	SetHost(name string) error
	// HostGone makes host stand for a sandbox namespace that no longer
	// exists: every use of host then fails with ErrNoNamespace, so that
	// reverting what was made in it counts as done and nothing falls back
	// to the machine's own namespace. Its callers are those of SetHost:
	// the revert of the sandbox's creation, and session.Open for a journal
	// whose sandbox is gone.
	HostGone(name string)
	// DropSpare tells the kernel that a new namespace made from now on
	// must see the sysctls of this moment (new namespaces copy some from
	// the machine's). The kernel notices the sysctls written through
	// Namespace.WriteSysctl itself; DropSpare is for changes it cannot
	// see, made by a command that nsh ran in its own namespace (exec_in).
	DropSpare()
	// Close releases every namespace file and handle.
	Close()
}

// A Namespace is one network namespace of a Kernel.
type Namespace interface {
	// Name is the name scripts use: "host" or the /run/netns name.
	Name() string
	// Own reports whether the namespace is the one the nsh process runs
	// in.
	Own() bool
	// Fd returns a number that stands for the namespace where netlink
	// takes a namespace's file (netlink.Veth.PeerNamespace as a
	// netlink.NsFd, Netlink.LinkSetNsFd, MoveLink), valid until the
	// Kernel is closed.
	Fd() int
	// PinID returns the unique ID of the mount that pins a namespace
	// AddNamed created, or 0 where there is none.
	PinID() uint64
	// Netlink returns the namespace's netlink handle.
	Netlink() (Netlink, error)
	// MoveLink moves the link with index idx to the namespace that fd
	// stands for and renames it there unless name is "", in one request: a
	// name taken in this namespace does not matter. Unless want is 0 it
	// asks for that index there (IFLA_NEW_IFINDEX), and fails with EBUSY
	// if it is taken.
	MoveLink(idx, fd int, name string, want int) error
	// ReadSysctl reads a sysctl (dotted or slashed key), without the
	// trailing newline. An unknown key fails as reading its /proc/sys file
	// does.
	ReadSysctl(key string) (string, error)
	// WriteSysctl writes a sysctl, as `sysctl -w KEY=VALUE` does.
	WriteSysctl(key, value string) error
	// Iptables returns the iptables of the namespace, run through the
	// binary at bin (or the one ipt.Find selects, if bin is "" or gone).
	Iptables(bin string) (Iptables, error)
	// Ip6tables returns the ip6tables of the namespace, run through the
	// binary at bin (or the one ipt.Find6 selects, if bin is "" or gone).
	Ip6tables(bin string) (Iptables, error)

	// Known, Remember and ForgetLink hold what nsh knows of the links it
	// created in the namespace (see LinkInfo).
	Known(name string) (LinkInfo, bool)
	Remember(name string, li LinkInfo)
	ForgetLink(name string)
	// Renumber and Renumbered record and look up the indexes the kernel
	// gave links nsh moved back where their index was taken (see
	// LinkCache.Renumber).
	Renumber(name string, old, new int)
	Renumbered(name string, old int) int

	// Do runs fn on an OS thread switched into the namespace: for what
	// only a real namespace can do, running processes (exec_in, spawn)
	// and opening sockets (probes). Operations never use it. The model
	// cannot: its Do returns an error wrapping ErrNotRun without calling
	// fn.
	Do(fn func() error) error
}

// Netlink is the part of a netlink handle (*netlink.Handle) that nsh uses,
// bound to one namespace. Errors are the kernel's errnos (syscall.Errno)
// and netlink.LinkNotFoundError, as netlink returns them.
type Netlink interface {
	LinkAdd(link netlink.Link) error
	LinkDel(link netlink.Link) error
	LinkByName(name string) (netlink.Link, error)
	LinkByIndex(index int) (netlink.Link, error)
	LinkList() ([]netlink.Link, error)
	LinkSetUp(link netlink.Link) error
	LinkSetDown(link netlink.Link) error
	LinkSetMTU(link netlink.Link, mtu int) error
	LinkSetHardwareAddr(link netlink.Link, hwaddr net.HardwareAddr) error
	LinkSetName(link netlink.Link, name string) error
	LinkSetMaster(link, master netlink.Link) error
	LinkSetMasterByIndex(link netlink.Link, masterIndex int) error
	LinkSetNoMaster(link netlink.Link) error
	LinkSetNsFd(link netlink.Link, fd int) error
	AddrAdd(link netlink.Link, addr *netlink.Addr) error
	AddrDel(link netlink.Link, addr *netlink.Addr) error
	AddrList(link netlink.Link, family int) ([]netlink.Addr, error)
	RouteAdd(route *netlink.Route) error
	RouteDel(route *netlink.Route) error
	RouteList(link netlink.Link, family int) ([]netlink.Route, error)
	// RouteGetWithOptions asks which route a packet to dst takes (ip
	// route get), for probes that settle their path first.
	RouteGetWithOptions(dst net.IP, opts *netlink.RouteGetOptions) ([]netlink.Route, error)
	// QdiscList, QdiscReplace and QdiscDel read and change a link's
	// queueing disciplines (tc qdisc show, replace, del). The kernel
	// answers ENOENT for a kind of qdisc it has no module of.
	QdiscList(link netlink.Link) ([]netlink.Qdisc, error)
	QdiscReplace(qdisc netlink.Qdisc) error
	QdiscDel(qdisc netlink.Qdisc) error
}

var _ Netlink = (*netlink.Handle)(nil)

// Iptables is the part of an iptables binary (ipt.Handle) that nsh uses,
// bound to one namespace. Errors are iptables' own (ipt.Error).
type Iptables interface {
	// Path is the binary, which the journal records.
	Path() string
	// NFT reports whether the binary drives nftables (iptables-nft).
	NFT() bool
	Append(table, chain string, args []string) error
	Insert(table, chain string, pos int, args []string) error
	Delete(table, chain string, args []string) (bool, error)
	Check(table, chain string, args []string) (bool, error)
	ChainExists(table, chain string) (bool, error)
	List(table, chain string) ([]string, error)
	Policy(table, chain string) (string, error)
	TableExists(table string) (bool, error)
	// ChainMade reports whether a builtin chain is really in the kernel
	// (iptables-nft makes one with its first rule); DropChain and
	// DropTable remove one, or a table, that iptables-nft made, if it is
	// empty (see ipt.Handle).
	ChainMade(table, chain string) (bool, error)
	DropChain(table, chain string) (bool, error)
	DropTable(table string) (bool, error)
}

// ErrNotRun is returned by the Do of a namespace that cannot run code,
// such as the model's.
var ErrNotRun = errors.New("not run: this kernel is a model, which runs no processes")

// RunsNothing reports whether ns is a namespace of a kernel that runs no
// processes and carries no packets (the model's, in a plan): its Do fails
// with ErrNotRun, so that what would run in it (exec_in, spawn, the
// probes) is only described. Such a namespace has a method RunsNothing
// that returns true.
func RunsNothing(ns Namespace) bool {
	r, ok := ns.(interface{ RunsNothing() bool })
	return ok && r.RunsNothing()
}

// SysctlPath returns the /proc/sys file of a dotted or slashed key.
func SysctlPath(key string) string {
	if !strings.Contains(key, "/") {
		key = strings.ReplaceAll(key, ".", "/")
	}
	return filepath.Join("/proc/sys", filepath.Clean("/"+key))
}

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

// LinkCache holds the LinkInfo of a namespace's links. Its zero value is
// empty and ready to use; implementations of Namespace embed it.
type LinkCache struct {
	mu    sync.Mutex
	links map[string]LinkInfo
	renum map[renumbering]int // see Renumber
}

// Known returns what nsh knows of a link it created.
func (c *LinkCache) Known(name string) (LinkInfo, bool) {
	c.mu.Lock()
	defer c.mu.Unlock()
	li, ok := c.links[name]
	return li, ok
}

// Remember records what nsh knows of a link it created.
func (c *LinkCache) Remember(name string, li LinkInfo) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.links == nil {
		c.links = map[string]LinkInfo{}
	}
	c.links[name] = li
}

// ForgetLink drops what nsh knows of a link.
func (c *LinkCache) ForgetLink(name string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	delete(c.links, name)
}

// renumbering names a link by its name and the index nsh knew it by, in
// the namespace that holds the cache.
type renumbering struct {
	name  string
	index int
}

// Renumber records that the link nsh knew in the namespace as NAME with
// index old has index new now: nsh moved it back under that name, and the
// kernel could not give it old again (someone else had taken it
// meanwhile). It lets the revert of an older operation on that link, in
// this process, know it for nsh's own (see Renumbered), where the index it
// learned from the journal would call it foreign.
//
// Unlike LinkInfo, a renumbering is never forgotten while the namespace is
// open: it is a fact about what nsh did, not the state of the link, and it
// is only ever looked up by the index the journal knows, so it cannot make
// a link someone else made under the same name pass for nsh's.
func (c *LinkCache) Renumber(name string, old, new int) {
	if old == new || old <= 0 {
		return
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.renum == nil {
		c.renum = map[renumbering]int{}
	}
	c.renum[renumbering{name, old}] = new
}

// Renumbered returns the index that the link nsh knew as NAME with index
// old has now: old, unless nsh renumbered it (Renumber), once or more.
func (c *LinkCache) Renumbered(name string, old int) int {
	c.mu.Lock()
	defer c.mu.Unlock()
	idx := old
	for range len(c.renum) {
		next, ok := c.renum[renumbering{name, idx}]
		if !ok {
			break
		}
		idx = next
	}
	return idx
}
