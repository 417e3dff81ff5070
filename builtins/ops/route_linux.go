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

// RouteAdd adds a route, as `ip route add DST [via GW] [dev DEV] [metric M]`.
type RouteAdd struct {
	NS     string `json:"ns"`
	Dst    string `json:"dst"` // "default" or a CIDR
	Via    string `json:"via,omitempty"`
	Dev    string `json:"dev,omitempty"`
	Metric int    `json:"metric,omitempty"`
}

func init() { Register("route.add", func() Op { return new(RouteAdd) }) }

// Kind implements Op.
func (o *RouteAdd) Kind() string { return "route.add" }

// Namespaces implements Scoped.
func (o *RouteAdd) Namespaces() []string { return scope(o.NS) }

func (o *RouteAdd) what() string {
	return fmt.Sprintf("add route %s%s", o.spec(), inNS(o.NS))
}

func (o *RouteAdd) spec() string {
	s := o.Dst
	if o.Via != "" {
		s += " via " + o.Via
	}
	if o.Dev != "" {
		s += " dev " + o.Dev
	}
	if o.Metric != 0 {
		s += " metric " + strconv.Itoa(o.Metric)
	}
	return s
}

// route builds the netlink route; it looks up Dev in h.
func (o *RouteAdd) route(h kernel.Netlink) (*netlink.Route, error) {
	r := &netlink.Route{Priority: o.Metric}
	var gw net.IP
	if o.Via != "" {
		gw = net.ParseIP(o.Via)
		if gw == nil {
			return nil, fmt.Errorf("bad gateway address %q", o.Via)
		}
		r.Gw = gw
	}
	if o.Dst == "default" {
		if gw != nil && gw.To4() == nil {
			_, r.Dst, _ = net.ParseCIDR("::/0")
		} else {
			_, r.Dst, _ = net.ParseCIDR("0.0.0.0/0")
		}
	} else {
		_, dst, err := net.ParseCIDR(o.Dst)
		if err != nil {
			return nil, fmt.Errorf("bad destination %q", o.Dst)
		}
		r.Dst = dst
	}
	if o.Dev != "" {
		l, err := h.LinkByName(o.Dev)
		if err != nil {
			return nil, fmt.Errorf("dev %q: %w", o.Dev, err)
		}
		r.LinkIndex = l.Attrs().Index
	}
	if gw == nil {
		// As ip route add does: a route with no gateway reaches its
		// destination on the link itself (RT_SCOPE_LINK); with one, the
		// scope is the default, universe.
		r.Scope = netlink.SCOPE_LINK
	}
	return r, nil
}

// Apply implements Op.
func (o *RouteAdd) Apply(k kernel.Kernel) error {
	ns, err := k.Namespace(o.NS)
	if err != nil {
		return failed(o.what(), err)
	}
	h, err := ns.Netlink()
	if err != nil {
		return err
	}
	r, err := o.route(h)
	if err != nil {
		return failed(o.what(), err)
	}
	if err := h.RouteAdd(r); err != nil {
		if errors.Is(err, unix.EEXIST) {
			return fmt.Errorf("failed to %s: a route to %s already exists", o.what(), o.Dst)
		}
		return failed(o.what(), err)
	}
	return nil
}

// Revert implements Op.
func (o *RouteAdd) Revert(k kernel.Kernel) error {
	ns, err := k.Namespace(o.NS)
	if err != nil {
		if gone(err) {
			return nil
		}
		return err
	}
	h, err := ns.Netlink()
	if err != nil {
		return err
	}
	r, err := o.route(h)
	if err != nil {
		if gone(err) {
			return nil // its device is gone, and the route with it
		}
		return failed("delete route "+o.spec()+inNS(o.NS), err)
	}
	if err := h.RouteDel(r); err != nil && !gone(err) {
		return failed("delete route "+o.spec()+inNS(o.NS), err)
	}
	return nil
}

// Explain implements Op.
func (o *RouteAdd) Explain(host string) []string {
	return []string{"ip " + nsFlag(o.NS, host) + "route add " + o.spec()}
}

// Undo implements Undoer.
func (o *RouteAdd) Undo(host string) []string {
	return []string{"ip " + nsFlag(o.NS, host) + "route del " + o.spec()}
}
