package ops_test

import (
	"net"
	"strings"
	"testing"

	"github.com/nshlab/nsh/builtins/ops"
	"github.com/nshlab/nsh/builtins/sys/model"
)

// TestErrorsAsTheKernels applies operations that the kernel refuses, and
// checks that they fail with the sentences they give against it.
func TestErrorsAsTheKernels(t *testing.T) {
	k := model.New(model.Options{Drivers: []string{"veth", "bridge"}})
	apply := func(op ops.Op) error { t.Helper(); return op.Apply(k) }
	must := func(op ops.Op) {
		t.Helper()
		if err := apply(op); err != nil {
			t.Fatal(err)
		}
	}
	must(&ops.NetnsAdd{Name: "n1", Lo: true})
	must(&ops.LinkAdd{NS: "host", Name: "v0", Type: &ops.Veth{Peer: "v1", PeerNS: "n1"}})
	for _, c := range []struct {
		op   ops.Op
		want string
	}{
		{&ops.NetnsAdd{Name: "n1"}, `failed to add namespace "n1": it already exists`},
		{&ops.LinkAdd{NS: "host", Name: "v0", Type: &ops.Veth{Peer: "x", PeerNS: "host"}}, `failed to add veth "v0": a link named "v0" already exists in host`},
		{&ops.LinkAdd{NS: "host", Name: "y", Type: &ops.Veth{Peer: "v1", PeerNS: "n1"}}, `failed to add veth "y": a link named "v1" already exists in namespace "n1"`},
		{&ops.LinkAdd{NS: "host", Name: "d0", Type: &ops.Dummy{}}, `failed to add dummy "d0": this kernel has no dummy driver (CONFIG_DUMMY)`},
		{&ops.LinkAdd{NS: "nope", Name: "b", Type: &ops.Bridge{}}, `failed to add bridge "b": no such namespace`},
		{&ops.AddrAdd{NS: "n1", Link: "eth9", CIDR: "10.0.0.1/24"}, `failed to add address 10.0.0.1/24 to "eth9" in namespace "n1": no such link`},
		{&ops.RouteAdd{NS: "n1", Dst: "default", Via: "10.0.0.1"}, `failed to add route default via 10.0.0.1 in namespace "n1": the gateway is not reachable`},
		{&ops.LinkSet{NS: "n1", Name: "v1", Attr: "master", Value: "v1"}, `failed to attach link "v1" in namespace "n1" to bridge "v1": "v1" in namespace "n1" is not a bridge`},
		{&ops.SysctlSet{NS: "n1", Key: "net.ipv4.nosuch", Value: "1"}, `failed to set sysctl net.ipv4.nosuch=1 in namespace "n1": open /proc/sys/net/ipv4/nosuch: no such file or directory`},
		{&ops.SysctlSet{NS: "n1", Key: "net.ipv4.ip_forward", Value: "yes"}, `failed to set sysctl net.ipv4.ip_forward=yes in namespace "n1": write /proc/sys/net/ipv4/ip_forward: invalid argument`},
		{&ops.IptRule{NS: "n1", Table: "filter", Chain: "NOPE", Args: []string{"-j", "ACCEPT"}}, `failed to add iptables rule -j ACCEPT in filter NOPE in namespace "n1": Chain 'NOPE' does not exist`},
	} {
		err := apply(c.op)
		if err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.op.Explain("")[0], err, c.want)
		}
	}
	// The gateway is reachable once the address is there and the link up.
	must(&ops.AddrAdd{NS: "n1", Link: "v1", CIDR: "10.0.0.2/24"})
	if err := apply(&ops.RouteAdd{NS: "n1", Dst: "default", Via: "10.0.0.1"}); err == nil {
		t.Error("route via a link that is down was added")
	}
	must(&ops.LinkSet{NS: "n1", Name: "v1", Attr: "up", Value: "true"})
	must(&ops.RouteAdd{NS: "n1", Dst: "default", Via: "10.0.0.1"})
	if err := apply(&ops.RouteAdd{NS: "n1", Dst: "default", Via: "10.0.0.1"}); err == nil || !strings.Contains(err.Error(), "a route to default already exists") {
		t.Errorf("second default route: %v", err)
	}
}

// TestIndexes checks the kernel's numbering: per namespace, a veth's peer
// first, a moved link keeping its index where it is free, and a new one
// where it is taken; a moved link is down and without addresses.
func TestIndexes(t *testing.T) {
	k := model.New(model.Options{})
	must := func(op ops.Op) {
		t.Helper()
		if err := op.Apply(k); err != nil {
			t.Fatal(err)
		}
	}
	must(&ops.NetnsAdd{Name: "x"})
	must(&ops.NetnsAdd{Name: "y"})
	a := &ops.LinkAdd{NS: "x", Name: "veth0", Type: &ops.Veth{Peer: "veth1", PeerNS: "x"}}
	must(a)
	if a.Index != 3 {
		t.Errorf("veth0 is %d, want 3 (lo 1, its peer 2)", a.Index)
	}
	b := &ops.LinkAdd{NS: "x", Name: "br0", Type: &ops.Bridge{}}
	must(b)
	must(&ops.AddrAdd{NS: "x", Link: "veth1", CIDR: "10.0.0.1/24"})
	must(&ops.LinkSet{NS: "x", Name: "veth1", Attr: "up", Value: "true"})
	must(&ops.LinkMove{NS: "x", Name: "veth1", ToNS: "y", NewName: "veth1"})
	c := &ops.LinkAdd{NS: "x", Name: "veth2", Type: &ops.Veth{Peer: "veth3", PeerNS: "y"}}
	must(c)
	if b.Index != 4 || c.Index != 5 {
		t.Errorf("br0 is %d, veth2 %d; want 4 and 5", b.Index, c.Index)
	}
	y, _ := k.Namespace("y")
	h, _ := y.Netlink()
	for name, want := range map[string]int{"veth1": 2, "veth3": 3} {
		l, err := h.LinkByName(name)
		if err != nil || l.Attrs().Index != want {
			t.Errorf("%s in y: %v, %v; want index %d", name, l, err, want)
		}
	}
	l, _ := h.LinkByName("veth1")
	if as, _ := h.AddrList(l, 0); len(as) != 0 || l.Attrs().Flags&net.FlagUp != 0 {
		t.Errorf("veth1 kept its state across the move: %v, addresses %v", l.Attrs().Flags, as)
	}
	// veth3 moves to x, where its index 3 is veth0's: it gets the next.
	must(&ops.LinkMove{NS: "y", Name: "veth3", ToNS: "x", NewName: "veth3"})
	x, _ := k.Namespace("x")
	hx, _ := x.Netlink()
	if l, err := hx.LinkByName("veth3"); err != nil || l.Attrs().Index != 6 {
		t.Errorf("veth3 in x: %v, %v; want index 6", l, err)
	}
}

// TestNoIPv6OnTheModel checks that the model takes a namespace without
// IPv6, as a plan of netns(ipv6=False) needs, and that its links copy the
// default.
func TestNoIPv6OnTheModel(t *testing.T) {
	k := model.New(model.Options{Drivers: []string{"veth"}})
	if err := (&ops.NetnsAdd{Name: "n", Lo: true, NoIPv6: true}).Apply(k); err != nil {
		t.Fatal(err)
	}
	ns, err := k.Namespace("n")
	if err != nil {
		t.Fatal(err)
	}
	for _, key := range []string{"net.ipv6.conf.all.disable_ipv6", "net.ipv6.conf.default.disable_ipv6"} {
		if v, err := ns.ReadSysctl(key); err != nil || v != "1" {
			t.Errorf("%s = %q, %v; want 1", key, v, err)
		}
	}
}
