package ops_test

import (
	"strings"
	"testing"

	"github.com/nshlab/nsh/builtins/ops"
	"github.com/nshlab/nsh/builtins/sys/model"
	"github.com/vishvananda/netlink"
)

// lab6 is a model kernel with namespaces a and b joined by veth ea/eb,
// both up; must applies an operation that must succeed.
func lab6(t *testing.T, o model.Options) (*model.Kernel, func(ops.Op)) {
	t.Helper()
	k := model.New(o)
	must := func(op ops.Op) {
		t.Helper()
		if err := op.Apply(k); err != nil {
			t.Fatal(err)
		}
	}
	must(&ops.NetnsAdd{Name: "a", Lo: true})
	must(&ops.NetnsAdd{Name: "b", Lo: true})
	must(&ops.LinkAdd{NS: "a", Name: "ea", Type: &ops.Veth{Peer: "eb", PeerNS: "b"}})
	must(&ops.AddrAdd{NS: "a", Link: "ea", CIDR: "192.0.2.1/24"})
	must(&ops.LinkSet{NS: "a", Name: "ea", Attr: "up", Value: "true"})
	must(&ops.LinkSet{NS: "b", Name: "eb", Attr: "up", Value: "true"})
	return k, must
}

// rootQdisc returns the kind and handle of a link's root qdisc in the
// model.
func rootQdisc(t *testing.T, k *model.Kernel, ns, link string) string {
	t.Helper()
	n, err := k.Namespace(ns)
	if err != nil {
		t.Fatal(err)
	}
	h, _ := n.Netlink()
	l, err := h.LinkByName(link)
	if err != nil {
		t.Fatal(err)
	}
	qs, err := h.QdiscList(l)
	if err != nil || len(qs) != 1 {
		t.Fatalf("qdiscs of %s: %v %v", link, qs, err)
	}
	return qs[0].Type() + " " + netlink.HandleStr(qs[0].Attrs().Handle)
}

// TestNewLinkKindsInTheModel creates and reverts a vxlan on a veth, a
// tap, a tun and a vlan, and checks the model's refusals of them.
func TestNewLinkKindsInTheModel(t *testing.T) {
	k, must := lab6(t, model.Options{Drivers: []string{"veth", "vxlan", "tun", "vlan"}})
	before := k.Dump()
	adds := []*ops.LinkAdd{
		{NS: "a", Name: "vx0", Type: &ops.Vxlan{ID: 42, Remote: "192.0.2.2", Local: "192.0.2.1", Dev: "ea", Port: 4789}},
		{NS: "a", Name: "tap0", Type: &ops.Tap{}},
		{NS: "a", Name: "tun0", Type: &ops.Tun{}},
		{NS: "a", Name: "ea.7", Type: &ops.Vlan{Parent: "ea", ID: 7}},
	}
	for _, op := range adds {
		must(op)
	}
	d := k.Dump()
	for _, want := range []string{"link vx0 vxlan up=false mtu=1450", "link tap0 tun", "link tun0 tun", "link ea.7 vlan"} {
		if !strings.Contains(d, want) {
			t.Errorf("model lacks %q:\n%s", want, d)
		}
	}
	for _, c := range []struct {
		op   ops.Op
		want string
	}{
		{&ops.LinkAdd{NS: "a", Name: "vx1", Type: &ops.Vxlan{ID: 42, Remote: "192.0.2.2", Local: "192.0.2.1", Port: 4789}},
			`failed to add vxlan "vx1" in namespace "a": another vxlan in namespace "a" already has id 42 on port 4789`},
		{&ops.LinkAdd{NS: "a", Name: "vx1", Type: &ops.Vxlan{ID: 43, Dev: "nope", Port: 4789}}, `failed to add vxlan "vx1" in namespace "a": no dev link "nope" in namespace "a"`},
		{&ops.LinkAdd{NS: "a", Name: "tap0", Type: &ops.Tap{}}, `failed to add tap "tap0" in namespace "a": a link named "tap0" already exists in namespace "a"`},
		{&ops.LinkAdd{NS: "a", Name: "v7", Type: &ops.Vlan{Parent: "nope", ID: 7}}, `failed to add vlan "v7" in namespace "a": no parent link "nope"`},
	} {
		if err := c.op.Apply(k); err == nil || !strings.HasPrefix(err.Error(), c.want) {
			t.Errorf("%s: got %v, want %q", c.op.Explain("")[0], err, c.want)
		}
	}
	for i := len(adds) - 1; i >= 0; i-- {
		if err := adds[i].Revert(k); err != nil {
			t.Fatal(err)
		}
	}
	if after := k.Dump(); after != before {
		t.Errorf("revert left the model changed:\nbefore:\n%s\nafter:\n%s", before, after)
	}
	// Deleting the underlay deletes the vxlan and the vlan on it: their
	// reverts then count as done.
	must(adds[0])
	must(adds[3])
	veth := &ops.LinkAdd{NS: "a", Name: "ea", Type: &ops.Veth{Peer: "eb", PeerNS: "b"}}
	if err := veth.Revert(k); err != nil {
		t.Fatal(err)
	}
	for _, op := range []*ops.LinkAdd{adds[3], adds[0]} {
		if err := op.Revert(k); err != nil {
			t.Errorf("revert of %s after its underlay went: %v", op.Name, err)
		}
	}
	if d := k.Dump(); strings.Contains(d, "vx0") || strings.Contains(d, "ea.7") {
		t.Errorf("links outlived their underlay:\n%s", d)
	}
}

// TestMissingDriverInTheModel checks the error for kinds of link the
// kernel lacks, as on the machine nsh is developed on (no vlan, no
// dummy).
func TestMissingDriverInTheModel(t *testing.T) {
	k, _ := lab6(t, model.Options{})
	before := k.Dump()
	for _, c := range []struct {
		op   ops.Op
		want string
	}{
		{&ops.LinkAdd{NS: "a", Name: "v7", Type: &ops.Vlan{Parent: "ea", ID: 7}}, `failed to add vlan "v7" in namespace "a": this kernel has no vlan driver (CONFIG_VLAN_8021Q)`},
	} {
		if err := c.op.Apply(k); err == nil || err.Error() != c.want {
			t.Errorf("got %v, want %q", err, c.want)
		}
	}
	if after := k.Dump(); after != before {
		t.Errorf("a failed link changed the model:\n%s", after)
	}
}

// TestShapeRestoresTheQdisc sets tbf on a link, over the default, over
// itself, and over a tbf someone else set, and checks that each revert
// gives back exactly the qdisc before it.
func TestShapeRestoresTheQdisc(t *testing.T) {
	k, must := lab6(t, model.Options{})
	if got := rootQdisc(t, k, "a", "ea"); got != "noqueue none" {
		t.Fatalf("a fresh veth has root qdisc %s, want noqueue none", got)
	}
	s1 := &ops.QdiscSet{NS: "a", Link: "ea", Qdisc: "tbf", Rate: 10e6}
	must(s1)
	first := rootQdisc(t, k, "a", "ea")
	if !strings.HasPrefix(first, "tbf ") || s1.Old == nil || !s1.Old.Default {
		t.Fatalf("after shape: root %s, learned %+v", first, s1.Old)
	}
	s2 := &ops.QdiscSet{NS: "a", Link: "ea", Qdisc: "tbf", Rate: 1e6, Burst: 4000}
	must(s2)
	if s2.Old == nil || s2.Old.Tbf == nil || s2.Old.Tbf.Rate != 10e6/8 {
		t.Fatalf("second shape learned %+v, want the first tbf", s2.Old)
	}
	if err := s2.Revert(k); err != nil {
		t.Fatal(err)
	}
	n, _ := k.Namespace("a")
	h, _ := n.Netlink()
	l, _ := h.LinkByName("ea")
	qs, _ := h.QdiscList(l)
	if tbf, ok := qs[0].(*netlink.Tbf); !ok || tbf.Rate != 10e6/8 || rootQdisc(t, k, "a", "ea") != first {
		t.Errorf("revert of the second shape left %#v, want the first tbf %s", qs[0], first)
	}
	if err := s1.Revert(k); err != nil {
		t.Fatal(err)
	}
	if got := rootQdisc(t, k, "a", "ea"); got != "noqueue none" {
		t.Errorf("revert of the first shape left %s, want noqueue none", got)
	}
	// A root qdisc someone else changed since is left, with a warning.
	must(s1)
	if err := h.QdiscReplace(&netlink.Tbf{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: l.Attrs().Index, Parent: netlink.HANDLE_ROOT}, Rate: 1000, Limit: 3000, Buffer: 100}); err != nil {
		t.Fatal(err)
	}
	var w *ops.Warning
	if err := s1.Revert(k); err == nil || !strings.Contains(err.Error(), "someone changed it since") {
		t.Errorf("revert over someone else's qdisc: %v", err)
	} else if _, ok := err.(*ops.Warning); !ok {
		t.Errorf("revert over someone else's qdisc is an error, not a warning: %T %v", err, w)
	}
	// A root qdisc nsh cannot restore exactly is refused.
	if err := h.QdiscDel(&netlink.GenericQdisc{QdiscType: "tbf", QdiscAttrs: netlink.QdiscAttrs{LinkIndex: l.Attrs().Index, Parent: netlink.HANDLE_ROOT}}); err != nil {
		t.Fatal(err)
	}
	if err := h.QdiscReplace(&netlink.Htb{QdiscAttrs: netlink.QdiscAttrs{LinkIndex: l.Attrs().Index, Parent: netlink.HANDLE_ROOT, Handle: netlink.MakeHandle(1, 0)}}); err != nil {
		t.Fatal(err)
	}
	if err := (&ops.QdiscSet{NS: "a", Link: "ea", Qdisc: "tbf", Rate: 10e6}).Apply(k); err == nil || !strings.Contains(err.Error(), "root qdisc htb 1: that nsh did not set") {
		t.Errorf("shape over an htb: %v", err)
	}
	// A burst smaller than a frame is refused.
	if err := (&ops.QdiscSet{NS: "b", Link: "eb", Qdisc: "tbf", Rate: 10e6, Burst: 1000}).Apply(k); err == nil || !strings.Contains(err.Error(), "less than one full-size frame") {
		t.Errorf("shape with a 1000-byte burst: %v", err)
	}
}

// TestImpairWithoutNetem checks that impair() on a kernel without
// sch_netem fails with the error that names it and suggests shape(), and
// changes nothing; and that where netem is there, it is set and reverted.
func TestImpairWithoutNetem(t *testing.T) {
	k, must := lab6(t, model.Options{})
	before := k.Dump()
	op := &ops.QdiscSet{NS: "a", Link: "ea", Qdisc: "netem", Delay: 10000, Loss: 1}
	err := op.Apply(k)
	want := `failed to impair link "ea" in namespace "a": this kernel has no netem qdisc (module sch_netem, CONFIG_NET_SCH_NETEM): impair() cannot delay, drop, duplicate or reorder packets here; link.shape(rate) limits the rate with tbf`
	if err == nil || !strings.HasPrefix(err.Error(), want) {
		t.Errorf("impair without netem: %v, want %q", err, want)
	}
	if got := rootQdisc(t, k, "a", "ea"); got != "noqueue none" || k.Dump() != before || op.Old != nil {
		t.Errorf("a failed impair changed something: root %s, learned %+v", got, op.Old)
	}

	k, must = lab6(t, model.Options{Qdiscs: []string{"tbf", "netem"}})
	must(op)
	if got := rootQdisc(t, k, "a", "ea"); !strings.HasPrefix(got, "netem ") {
		t.Errorf("impair with netem: root %s", got)
	}
	if err := op.Revert(k); err != nil {
		t.Fatal(err)
	}
	if got := rootQdisc(t, k, "a", "ea"); got != "noqueue none" {
		t.Errorf("revert of impair left %s", got)
	}
}

// TestIp6tablesInTheModel adds an ip6tables rule beside an iptables one
// of the same table, and checks that the two tables are apart and that
// each revert removes what its rule made.
func TestIp6tablesInTheModel(t *testing.T) {
	k, must := lab6(t, model.Options{})
	before := k.Dump()
	v4 := &ops.IptRule{NS: "a", Table: "nat", Chain: "POSTROUTING", Args: []string{"-s", "10.0.0.0/24", "-j", "MASQUERADE"}}
	v6 := &ops.IptRule{NS: "a", Table: "nat", Chain: "POSTROUTING", Args: []string{"-s", "fd00::/64", "-j", "MASQUERADE"}, Family: "ipv6"}
	must(v4)
	must(v6)
	if !v6.NewTable || !strings.HasSuffix(v6.Bin, "/ip6tables") {
		t.Errorf("the ip6tables rule learned new_table=%v bin=%s", v6.NewTable, v6.Bin)
	}
	d := k.Dump()
	if !strings.Contains(d, "table ip6 nat\n    -A POSTROUTING -s fd00::/64") || !strings.Contains(d, "table nat\n    -A POSTROUTING -s 10.0.0.0/24") {
		t.Errorf("tables of the two families:\n%s", d)
	}
	if err := v4.Revert(k); err != nil {
		t.Fatal(err)
	}
	if d := k.Dump(); !strings.Contains(d, "table ip6 nat") || strings.Contains(d, "table nat") {
		t.Errorf("revert of the iptables rule touched ip6tables, or left its table:\n%s", d)
	}
	if err := v6.Revert(k); err != nil {
		t.Fatal(err)
	}
	if after := k.Dump(); after != before {
		t.Errorf("reverts left the model changed:\n%s", after)
	}
}
