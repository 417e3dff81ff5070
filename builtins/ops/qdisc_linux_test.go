package ops

import (
	"reflect"
	"strings"
	"testing"

	"github.com/vishvananda/netlink"
)

// qdiscSample is a qdisc.set with every field set, for the journal's
// round trip (TestEncodeDecodeRoundTrip).
var qdiscSample = &QdiscSet{NS: "earth", Link: "e0", Qdisc: "tbf", Rate: 10e6, Burst: 32768, Latency: 20000,
	Delay: 1, Jitter: 2, Loss: 0.5, Duplicate: 1.5, Reorder: 25,
	Old: &Qdisc{Kind: "tbf", Handle: 0x80010000, Tbf: &netlink.Tbf{Rate: 1000, Limit: 2000, Buffer: 3000}},
	Set: &Qdisc{Kind: "tbf", Handle: 0x80020000, Netem: &netlink.Netem{Latency: 7, Loss: 8}}}

// TestExplainKernel6 checks the iproute2 and tc commands of the kinds of
// link and the qdiscs that IPv6 labs, VXLAN and traffic control brought.
func TestExplainKernel6(t *testing.T) {
	for _, c := range []struct {
		op   Op
		want string
	}{
		{&LinkAdd{NS: "host", Name: "vx0", Type: &Vxlan{ID: 42, Remote: "192.0.2.2", Local: "192.0.2.1", Dev: "u0", Port: 4789}},
			"ip link add vx0 type vxlan id 42 remote 192.0.2.2 local 192.0.2.1 dev u0 dstport 4789"},
		{&LinkAdd{NS: "a", Name: "vx0", Type: &Vxlan{ID: 7, Group: "239.1.1.1", Dev: "u0", Port: 8472}},
			"ip -n a link add vx0 type vxlan id 7 group 239.1.1.1 dev u0 dstport 8472"},
		{&LinkAdd{NS: "a", Name: "tap0", Type: &Tap{}}, "ip -n a tuntap add tap0 mode tap"},
		{&LinkAdd{NS: "host", Name: "tun0", Type: &Tun{}}, "ip tuntap add tun0 mode tun"},
		{&LinkAdd{NS: "a", Name: "e0.7", Type: &Vlan{Parent: "e0", ID: 7}}, "ip -n a link add e0.7 link e0 type vlan id 7"},
		{&QdiscSet{NS: "a", Link: "e0", Qdisc: "tbf", Rate: 10e6}, "tc -n a qdisc replace dev e0 root tbf rate 10mbit burst 16384b latency 50ms"},
		{&QdiscSet{NS: "host", Link: "e0", Qdisc: "tbf", Rate: 1500, Burst: 2000, Latency: 1500}, "tc qdisc replace dev e0 root tbf rate 1500bit burst 2000b latency 1500us"},
		{&QdiscSet{NS: "host", Link: "e0", Qdisc: "netem", Delay: 100000, Jitter: 10000, Loss: 1.5, Duplicate: 1, Reorder: 25, Rate: 1e9},
			"tc qdisc replace dev e0 root netem delay 100ms 10ms loss 1.5% duplicate 1% reorder 25% rate 1gbit"},
		{&IptRule{NS: "a", Table: "nat", Chain: "POSTROUTING", Args: []string{"-s", "fd00::/64", "-j", "MASQUERADE"}, Family: "ipv6"},
			"ip netns exec a ip6tables -t nat -A POSTROUTING -s fd00::/64 -j MASQUERADE"},
	} {
		if got := c.op.Explain(""); !reflect.DeepEqual(got, []string{c.want}) {
			t.Errorf("%T.Explain() = %q, want %q", c.op, got, c.want)
		}
	}
}

// TestIptRuleSharedKeyFamily checks that rules of iptables and ip6tables
// in the machine's namespace hold different tables.
func TestIptRuleSharedKeyFamily(t *testing.T) {
	v4 := &IptRule{NS: "host", Table: "nat"}
	v6 := &IptRule{NS: "host", Table: "nat", Family: "ipv6"}
	if v4.SharedKey() == v6.SharedKey() {
		t.Errorf("iptables and ip6tables share the key %q", v4.SharedKey())
	}
	v6.Inherit(&IptRule{NS: "host", Table: "nat", NewTable: true})
	if v6.NewTable {
		t.Error("an ip6tables rule inherited that nsh made a table of iptables")
	}
	v6.Inherit(&IptRule{NS: "host", Table: "nat", NewTable: true, Family: "ipv6"})
	if !v6.NewTable {
		t.Error("an ip6tables rule did not inherit that nsh made its table")
	}
}

// TestVxlanCheck checks the parameters a vxlan refuses before anything
// is journaled.
func TestVxlanCheck(t *testing.T) {
	for _, c := range []struct {
		x    Vxlan
		want string
	}{
		{Vxlan{ID: 42, Port: 4789}, ""},
		{Vxlan{ID: 1 << 24, Port: 4789}, "bad id 16777216"},
		{Vxlan{ID: -1, Port: 4789}, "bad id -1"},
		{Vxlan{ID: 1, Port: 0}, "bad port 0"},
		{Vxlan{ID: 1, Port: 70000}, "bad port 70000"},
		{Vxlan{ID: 1, Port: 4789, Remote: "10.0.0.1", Group: "239.0.0.1", Dev: "u"}, "exclude each other"},
		{Vxlan{ID: 1, Port: 4789, Group: "10.0.0.1", Dev: "u"}, "not a multicast address"},
		{Vxlan{ID: 1, Port: 4789, Group: "239.0.0.1"}, "needs dev="},
		{Vxlan{ID: 1, Port: 4789, Remote: "239.0.0.1"}, "use group="},
		{Vxlan{ID: 1, Port: 4789, Remote: "10.0.0.1", Local: "fd00::1"}, "not of one IP version"},
		{Vxlan{ID: 1, Port: 4789, Remote: "10.0.0.300"}, `bad remote "10.0.0.300"`},
		{Vxlan{ID: 1, Port: 4789, Dev: "vx"}, "cannot carry itself"},
	} {
		err := (&LinkAdd{NS: "host", Name: "vx", Type: &c.x}).Check()
		switch {
		case c.want == "" && err != nil:
			t.Errorf("%+v: %v", c.x, err)
		case c.want != "" && (err == nil || !strings.Contains(err.Error(), c.want)):
			t.Errorf("%+v: error %v, want %q", c.x, err, c.want)
		}
	}
}
