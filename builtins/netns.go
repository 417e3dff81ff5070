package builtins

import (
	"fmt"
	"net"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"sync"

	"github.com/nshlab/nsh/builtins/ops"
	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/vishvananda/netlink"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
	"golang.org/x/sys/unix"
)

// Netns is a network namespace: "host" or a named one in /run/netns.
type Netns struct {
	env  *Env
	name string
	// pid is the process the namespace was given by (netns_of), or 0:
	// link.move and veth's peer_ns then name it by the pid, as
	// `ip link set X netns PID` does.
	pid int
}

var (
	_ starlark.HasAttrs   = (*Netns)(nil)
	_ starlark.Comparable = (*Netns)(nil)
)

func (n *Netns) String() string        { return fmt.Sprintf("netns(%q)", n.name) }
func (n *Netns) Type() string          { return "netns" }
func (n *Netns) Freeze()               {}
func (n *Netns) Truth() starlark.Bool  { return true }
func (n *Netns) Hash() (uint32, error) { return starlark.String(n.name).Hash() }

// CompareSameType implements starlark.Comparable: two values of the same
// namespace are equal.
func (n *Netns) CompareSameType(op syntax.Token, y starlark.Value, depth int) (bool, error) {
	return compareNames(op, n.name, y.(*Netns).name)
}

// Name returns the namespace's name.
func (n *Netns) Name() string { return n.name }

var netnsMethods = map[string]*starlark.Builtin{
	"exec":   starlark.NewBuiltin("exec", netnsExec),
	"sysctl": starlark.NewBuiltin("sysctl", netnsSysctl),
	"route":  starlark.NewBuiltin("route", netnsRoute),
	"link":   starlark.NewBuiltin("link", netnsLink),
	"links":  starlark.NewBuiltin("links", netnsLinks),
	"addrs":  starlark.NewBuiltin("addrs", netnsAddrs),
	"routes": starlark.NewBuiltin("routes", netnsRoutes),
	"delete": starlark.NewBuiltin("delete", netnsDelete),
	"etc":    starlark.NewBuiltin("etc", netnsEtc),
}

// Attr implements starlark.HasAttrs.
func (n *Netns) Attr(name string) (starlark.Value, error) {
	switch name {
	case "name":
		return starlark.String(n.name), nil
	case "path":
		if n.name == kernel.HostName {
			return starlark.None, nil
		}
		return starlark.String(filepath.Join(kernel.NetnsRunDir, n.name)), nil
	}
	if m, ok := netnsMethods[name]; ok {
		return m.BindReceiver(n), nil
	}
	return nil, nil
}

// AttrNames implements starlark.HasAttrs.
func (n *Netns) AttrNames() []string {
	names := []string{"name", "path"}
	for k := range netnsMethods {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// netnsBuiltin implements netns(name, lo=True, ipv6=True).
func netnsBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	lo, ipv6 := true, true
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name, "lo?", &lo, "ipv6?", &ipv6); err != nil {
		return nil, err
	}
	env, err := envOf(thread)
	if err != nil {
		return nil, err
	}
	if err := kernel.ValidateNetnsName(name); err != nil {
		return nil, err
	}
	if env.kern().Exists(name) {
		return nil, env.namespaceExists(name)
	}
	if err := env.apply(&ops.NetnsAdd{Name: name, Lo: lo, NoIPv6: !ipv6}); err != nil {
		return nil, err
	}
	return env.netns(name), nil
}

func (e *Env) ns(name string) (kernel.Namespace, kernel.Netlink, error) {
	if err := e.Barrier(); err != nil {
		return nil, nil, err
	}
	ns, err := e.kern().Namespace(name)
	if err != nil {
		return nil, nil, fmt.Errorf("namespace %q: %w", name, err)
	}
	h, err := ns.Netlink()
	return ns, h, err
}

func netnsLink(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	n := b.Receiver().(*Netns)
	var name string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name); err != nil {
		return nil, err
	}
	env, err := envOf(thread)
	if err != nil {
		return nil, err
	}
	return env.lookupLink(n.name, name)
}

func (e *Env) lookupLink(nsName, name string) (*Link, error) {
	_, h, err := e.ns(nsName)
	if err != nil {
		return nil, err
	}
	l, err := h.LinkByName(name)
	if err != nil {
		return nil, &noLinkError{env: e, ns: nsName, name: name}
	}
	return e.linkFromNetlink(nsName, l), nil
}

// namespaceExists is the error for netns() of a name that is taken: it
// says which session made the namespace, if one did, so that the fix is
// that session's nsh down rather than deleting its namespace behind its
// back.
func (e *Env) namespaceExists(name string) error {
	switch who := e.ownersOf().Namespace(name); who {
	case "":
		return fmt.Errorf("namespace %q already exists (nsh never adopts a namespace it did not create; pick another name or remove it with `ip netns delete %s`)", name, name)
	case e.Session.Name:
		return fmt.Errorf("namespace %q already exists: this session (%q) made it in step %q, and it is still up; tear the lab down first with nsh down --session %s, get its value with lookup(%q), or pick another name",
			name, who, e.ownersOf().OwnStep(name), who, name)
	default:
		return fmt.Errorf("namespace %q already exists: session %q made it; pick another name, or tear that lab down first with nsh down --session %s", name, who, who)
	}
}

// noLinkError is the error for a link name that is not in a namespace. It
// says where the link is if it is in another namespace of the session, or
// which name was likely meant. The search runs only when the message is
// read: lookup() tries many namespaces and drops the errors.
type noLinkError struct {
	env      *Env
	ns, name string
	once     sync.Once
	msg      string
}

func (err *noLinkError) Error() string {
	err.once.Do(func() {
		err.msg = fmt.Sprintf("unknown link %q in %s", err.name, nsLabel(err.ns)) + err.env.linkHint(err.ns, err.name)
	})
	return err.msg
}

// linkHint says where else a link named name is (host or a namespace the
// session made), or which link of ns was likely meant.
func (e *Env) linkHint(ns, name string) string {
	for _, p := range e.Session.Namespaces() {
		if p == ns {
			continue
		}
		if _, h, err := e.ns(p); err == nil {
			if _, err := h.LinkByName(name); err == nil {
				return fmt.Sprintf("; it is in %s: use %s.link(%q)", nsLabel(p), nsExpr(p), name)
			}
		}
	}
	_, h, err := e.ns(ns)
	if err != nil {
		return ""
	}
	ls, err := h.LinkList()
	if err != nil {
		return ""
	}
	names := make([]string, len(ls))
	for i, l := range ls {
		names[i] = l.Attrs().Name
	}
	return didYouMean(name, names)
}

// nsExpr is an expression for a namespace's value: its name if that is
// an identifier (the usual name of its variable), else lookup("NAME").
func nsExpr(ns string) string {
	if identifier.MatchString(ns) {
		return ns
	}
	return fmt.Sprintf("lookup(%q)", ns)
}

var identifier = regexp.MustCompile(`^[A-Za-z_][A-Za-z0-9_]*$`)

func (e *Env) linkFromNetlink(nsName string, l netlink.Link) *Link {
	return &Link{env: e, ns: nsName, name: l.Attrs().Name, kind: linkKind(l)}
}

func linkKind(l netlink.Link) string {
	if l.Attrs().Flags&net.FlagLoopback != 0 {
		return "loopback"
	}
	return l.Type()
}

// listing unpacks a netns method that takes no arguments and returns the
// receiver, the environment and the namespace's netlink handle.
func listing(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (*Netns, *Env, kernel.Netlink, error) {
	n := b.Receiver().(*Netns)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, nil, nil, err
	}
	env, err := envOf(thread)
	if err != nil {
		return nil, nil, nil, err
	}
	_, h, err := env.ns(n.name)
	return n, env, h, err
}

func netnsLinks(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	n, env, h, err := listing(thread, b, args, kwargs)
	if err != nil {
		return nil, err
	}
	ls, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("failed to list links in %s: %w", nsLabel(n.name), err)
	}
	out := make([]starlark.Value, 0, len(ls))
	for _, l := range ls {
		out = append(out, env.linkFromNetlink(n.name, l))
	}
	return starlark.NewList(out), nil
}

func netnsAddrs(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	n := b.Receiver().(*Netns)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	env, err := envOf(thread)
	if err != nil {
		return nil, err
	}
	return env.addrs(n.name, nil)
}

// addrs lists the addresses in a namespace, or of one link, as CIDRs.
func (e *Env) addrs(nsName string, link netlink.Link) (starlark.Value, error) {
	_, h, err := e.ns(nsName)
	if err != nil {
		return nil, err
	}
	as, err := h.AddrList(link, unix.AF_UNSPEC)
	if err != nil {
		return nil, fmt.Errorf("failed to list addresses in %s: %w", nsLabel(nsName), err)
	}
	out := make([]starlark.Value, 0, len(as))
	for _, a := range as {
		out = append(out, starlark.String(a.IPNet.String()))
	}
	return starlark.NewList(out), nil
}

func netnsRoutes(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	n, _, h, err := listing(thread, b, args, kwargs)
	if err != nil {
		return nil, err
	}
	rs, err := h.RouteList(nil, unix.AF_UNSPEC)
	if err != nil {
		return nil, fmt.Errorf("failed to list routes in %s: %w", nsLabel(n.name), err)
	}
	names := map[int]string{}
	out := make([]starlark.Value, 0, len(rs))
	for _, r := range rs {
		out = append(out, starlark.String(formatRoute(h, r, names)))
	}
	return starlark.NewList(out), nil
}

// formatRoute prints a route the way `ip route` does.
func formatRoute(h kernel.Netlink, r netlink.Route, names map[int]string) string {
	var b strings.Builder
	if r.Dst == nil || (r.Dst.IP.IsUnspecified() && prefixLen(r.Dst) == 0) {
		b.WriteString("default")
	} else {
		b.WriteString(r.Dst.String())
	}
	if r.Gw != nil {
		b.WriteString(" via " + r.Gw.String())
	}
	if r.LinkIndex > 0 {
		name, ok := names[r.LinkIndex]
		if !ok {
			if l, err := h.LinkByIndex(r.LinkIndex); err == nil {
				name = l.Attrs().Name
			}
			names[r.LinkIndex] = name
		}
		b.WriteString(" dev " + name)
	}
	if r.Protocol == unix.RTPROT_KERNEL {
		b.WriteString(" proto kernel")
	}
	if r.Scope == netlink.SCOPE_LINK {
		b.WriteString(" scope link")
	}
	if r.Src != nil {
		b.WriteString(" src " + r.Src.String())
	}
	if r.Priority != 0 {
		fmt.Fprintf(&b, " metric %d", r.Priority)
	}
	return b.String()
}

func prefixLen(n *net.IPNet) int {
	ones, _ := n.Mask.Size()
	return ones
}

func nsLabel(ns string) string {
	if ns == kernel.HostName {
		return "host"
	}
	return fmt.Sprintf("namespace %q", ns)
}
