package model

import (
	"fmt"
	"os"
	"sort"
	"sync"

	"github.com/nshlab/nsh/builtins/sys/kernel"
)

// Options describe the machine a Kernel models.
type Options struct {
	// Drivers are the link kinds the kernel can create; nil means veth,
	// bridge, dummy, macvlan, vxlan and tun (which makes tun and tap
	// links).
	Drivers []string
	// Sysctls are the values a new namespace starts with, by dotted key
	// (net.ipv4.conf.all.rp_filter), over the kernel's defaults; a key
	// the model does not know is added (net.bridge.bridge-nf-call-iptables
	// where br_netfilter is loaded). An empty value removes a key.
	Sysctls map[string]string
	// Iptables is the path of the iptables binary; "" means
	// /usr/sbin/iptables.
	Iptables string
	// Legacy makes iptables drive x_tables (iptables-legacy), whose
	// tables always exist, rather than nf_tables, whose tables are made by
	// the first rule.
	Legacy bool
	// Qdiscs are the kinds of qdisc the kernel has; nil means those of
	// defaultQdiscs (qdisc.go), without netem.
	Qdiscs []string
}

// Kernel is an in-memory kernel.Kernel. Its zero value is not usable: use
// New.
type Kernel struct {
	mu           sync.Mutex
	opts         Options
	drivers      map[string]bool
	own          *netns            // the machine's own namespace
	host         *view             // what "host" means
	ownView      *view             // the view of own as host
	named        map[string]*netns // /run/netns
	views        map[string]*view  // the named namespaces nsh has open
	byFd         map[int]*netns    // Fd numbers
	nextFd       int               // the next Fd number
	nextPin      uint64            // the next PinID
	macs         int               // MAC addresses handed out
	qdiscHandles int               // qdisc handles handed out
	ctrs         map[string]string // containers: name -> namespace (container.go)
	closed       bool
}

var _ kernel.Kernel = (*Kernel)(nil)

// New returns a model of a machine whose own namespace holds only its
// loopback, up.
func New(o Options) *Kernel {
	k := &Kernel{opts: o, named: map[string]*netns{}, views: map[string]*view{}, byFd: map[int]*netns{}, nextFd: 1000, nextPin: 1}
	k.drivers = map[string]bool{}
	ds := o.Drivers
	if ds == nil {
		ds = []string{"veth", "bridge", "dummy", "macvlan", "vxlan", "tun"}
	}
	for _, d := range ds {
		k.drivers[d] = true
	}
	k.own = k.newNetns("")
	k.own.setUp(k.own.links[1], true)
	k.ownView = &view{k: k, ns: k.own, name: kernel.HostName, own: true}
	k.host = k.ownView
	return k
}

// newNetns makes a namespace as the kernel makes one: lo (index 1, down)
// and default sysctls.
func (k *Kernel) newNetns(name string) *netns {
	n := &netns{k: k, name: name, fd: k.nextFd, links: map[int]*link{}, nsids: map[*netns]int{}}
	k.nextFd++
	k.byFd[n.fd] = n
	n.initSysctls()
	lo := &link{kind: "loopback", name: "lo", mtu: 65536, mac: make([]byte, 6)}
	n.insert(lo, n.allocIndex())
	return n
}

// errNoNS is the error for a namespace that does not exist, as Linux
// words it.
func errNoNS(name string) error {
	return fmt.Errorf("namespace %q: %w", name, kernel.ErrNoNamespace)
}

// Host implements kernel.Kernel.
func (k *Kernel) Host() kernel.Namespace {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.host
}

// Sandboxed implements kernel.Kernel.
func (k *Kernel) Sandboxed() bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	return !k.host.own
}

// Namespace implements kernel.Kernel.
func (k *Kernel) Namespace(name string) (kernel.Namespace, error) {
	if name == kernel.HostName || name == "" {
		return k.Host(), nil
	}
	return k.Named(name)
}

// Named implements kernel.Kernel.
func (k *Kernel) Named(name string) (kernel.Namespace, error) {
	if err := kernel.ValidateNetnsName(name); err != nil {
		return nil, fmt.Errorf("bad namespace: %w", err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if v, ok := k.views[name]; ok && v.ns.alive() {
		return v, nil
	}
	n, ok := k.named[name]
	if !ok {
		return nil, errNoNS(name)
	}
	v := &view{k: k, ns: n, name: name}
	k.views[name] = v
	return v, nil
}

// Exists implements kernel.Kernel.
func (k *Kernel) Exists(name string) bool {
	k.mu.Lock()
	defer k.mu.Unlock()
	_, ok := k.named[name]
	return ok
}

// AddNamed implements kernel.Kernel.
func (k *Kernel) AddNamed(name string, lo bool) (kernel.Namespace, error) {
	if err := kernel.ValidateNetnsName(name); err != nil {
		return nil, fmt.Errorf("bad namespace: %w", err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.named[name]; ok {
		return nil, fmt.Errorf("namespace %q already exists: %w", name, os.ErrExist)
	}
	n := k.newNetns(name)
	n.pin = k.nextPin
	k.nextPin++
	if lo {
		n.setUp(n.links[1], true)
	}
	k.named[name] = n
	v := &view{k: k, ns: n, name: name}
	k.views[name] = v
	return v, nil
}

// DeleteNamed implements kernel.Kernel.
func (k *Kernel) DeleteNamed(name string, pin uint64) error {
	return k.DeleteNamedAll([]string{name}, []uint64{pin})[0]
}

// DeleteNamedAll implements kernel.Kernel. A namespace is destroyed with
// its pin (nsh holds no other reference in the model): its links go, and
// the peers of its veths in other namespaces with them.
func (k *Kernel) DeleteNamedAll(names []string, pins []uint64) []error {
	k.mu.Lock()
	defer k.mu.Unlock()
	errs := make([]error, len(names))
	for i, name := range names {
		delete(k.views, name)
		n, ok := k.named[name]
		if !ok {
			continue
		}
		if pins[i] != 0 && n.pin != pins[i] {
			errs[i] = fmt.Errorf("left namespace %q alone: %w", name, kernel.ErrReplaced)
			continue
		}
		delete(k.named, name)
		k.destroy(n)
	}
	return errs
}

// destroy frees a namespace that nothing refers to any more.
func (k *Kernel) destroy(n *netns) {
	if n == k.own || n.dead {
		return
	}
	for _, l := range n.sortedLinks() {
		if l.kind != "loopback" {
			n.remove(l)
		}
	}
	n.dead = true
	delete(k.byFd, n.fd)
}

// Forget implements kernel.Kernel.
func (k *Kernel) Forget(name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.views, name)
}

// NameOfNsID implements kernel.Kernel.
func (k *Kernel) NameOfNsID(from kernel.Namespace, nsid int) (string, bool) {
	f, ok := from.(*view)
	if !ok {
		return "", false
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	for n, id := range f.ns.nsids {
		if id != nsid || n.dead {
			continue
		}
		if n == k.host.ns {
			return kernel.HostName, true
		}
		if n.name != "" && k.named[n.name] == n {
			return n.name, true
		}
	}
	return "", false
}

// HasDriver implements kernel.Kernel.
func (k *Kernel) HasDriver(kind string) (bool, error) {
	if kind == "tap" {
		kind = "tun" // one driver makes both
	}
	return k.drivers[kind], nil
}

// SetHost implements kernel.Kernel.
func (k *Kernel) SetHost(name string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	n, ok := k.named[name]
	if !ok {
		return fmt.Errorf("sandbox namespace %q: %w", name, kernel.ErrNoNamespace)
	}
	k.host = &view{k: k, ns: n, name: kernel.HostName}
	return nil
}

// HostGone implements kernel.Kernel.
func (k *Kernel) HostGone(name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.host = &view{k: k, ns: &netns{k: k, name: name, dead: true}, name: kernel.HostName}
}

// DropSpare implements kernel.Kernel: the model makes no namespace ahead
// of time.
func (k *Kernel) DropSpare() {}

// Close implements kernel.Kernel.
func (k *Kernel) Close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.closed = true
	k.views = map[string]*view{}
}

// Names returns the names in /run/netns, sorted.
func (k *Kernel) Names() []string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var out []string
	for name := range k.named {
		out = append(out, name)
	}
	sort.Strings(out)
	return out
}

// view is a kernel.Namespace: a namespace under the name nsh reached it
// by ("host" for the sandbox), with the link cache of that name, as
// Linux keeps one per open namespace.
type view struct {
	k    *Kernel
	ns   *netns
	name string
	own  bool
	kernel.LinkCache
}

var _ kernel.Namespace = (*view)(nil)

func (v *view) Name() string  { return v.name }
func (v *view) Own() bool     { return v.own }
func (v *view) Fd() int       { return v.ns.fd }
func (v *view) PinID() uint64 { return v.ns.pin }

// live returns the namespace, or the error of one that is gone. The
// caller holds k.mu.
func (v *view) live() (*netns, error) {
	if !v.ns.alive() {
		return nil, errNoNS(v.name)
	}
	return v.ns, nil
}

// Netlink implements kernel.Namespace.
func (v *view) Netlink() (kernel.Netlink, error) {
	v.k.mu.Lock()
	defer v.k.mu.Unlock()
	if _, err := v.live(); err != nil {
		return nil, err
	}
	return &handle{v: v}, nil
}

// RunsNothing tells kernel.RunsNothing that the model runs no processes.
func (v *view) RunsNothing() bool { return true }

// Do implements kernel.Namespace: the model runs nothing.
func (v *view) Do(fn func() error) error {
	return fmt.Errorf("namespace %q: %w", v.name, kernel.ErrNotRun)
}
