package ops

import (
	"reflect"
	"testing"

	"github.com/nshlab/nsh/builtins/sys/nsexec"
)

// TestEncodeDecodeRoundTrip encodes and decodes one operation of every
// registered kind, so that a new kind cannot be forgotten here: the
// journal must be able to give back exactly what it recorded.
func TestEncodeDecodeRoundTrip(t *testing.T) {
	oldHosts := "127.0.0.1 localhost\n"
	samples := map[string]Op{}
	for _, op := range []Op{
		&NetnsAdd{Name: "earth", Lo: true},
		&LinkAdd{NS: "earth", Name: "e0", Type: &Veth{Peer: "n0", PeerNS: "neptune", PeerPid: 42}, Index: 7},
		&LinkSet{NS: "host", Name: "br0", Attr: "up", Value: "true", Old: "false"},
		&LinkMove{NS: "host", Name: "d0", ToNS: "earth", NewName: "eth0", Index: 3, ToIndex: 4, ToPid: 42},
		&NetnsDel{Name: "earth", Pin: 9, Destroys: []int{1, 2, 5}},
		&LinkDel{NS: "earth", Name: "e0", Index: 3, Destroys: []int{2, 4}},
		&NetnsEtc{NS: "earth", File: "hosts", Content: "10.0.0.1 earth\n", Old: &oldHosts, Made: []string{"/etc/netns", "/etc/netns/earth"}, Learned: true},
		&AddrAdd{NS: "earth", Link: "e0", CIDR: "10.0.0.1/24"},
		&RouteAdd{NS: "earth", Dst: "default", Via: "10.0.0.254", Metric: 5},
		&SysctlSet{NS: "host", Key: "net.ipv4.ip_forward", Value: "1", Old: "0"},
		&ProcSpawn{NS: "earth", Argv: []string{"sleep", "1"}, Pidfile: "/x.pid", Logfile: "/x.log", Container: "c", Enter: "/c.pid", Cgroup: "/cg"},
		&ContainerAdd{Name: "c", NS: "c", Hostname: "In Namespace", PID: true, UTS: true, IPC: true, Mount: true, User: true, UID: 1000, GID: 1000,
			Rootfs: "/srv/root", Limits: nsexec.Limits{Memory: 1 << 20, Pids: 10, CPU: 0.5}, Cgroup: "/sys/fs/cgroup/nsh/s.c", Pidfile: "/c.pid", Logfile: "/c.log"},
		&IptRule{NS: "earth", Table: "nat", Chain: "POSTROUTING", Args: []string{"-o", "e0", "-j", "MASQUERADE"}, Insert: true, Bin: "/usr/sbin/iptables", NewTable: true, NewChain: true, Family: "ipv6"},
		qdiscSample,
	} {
		samples[op.Kind()] = op
	}
	kinds := Kinds()
	if len(kinds) == 0 {
		t.Fatal("no operation kind is registered")
	}
	for _, kind := range kinds {
		op, ok := samples[kind]
		if !ok {
			t.Errorf("kind %q has no sample in TestEncodeDecodeRoundTrip: add one with every field set", kind)
			continue
		}
		delete(samples, kind)
		b, err := Encode(op)
		if err != nil {
			t.Fatal(err)
		}
		got, err := Decode(op.Kind(), b)
		if err != nil {
			t.Fatalf("%s: %v", op.Kind(), err)
		}
		if !reflect.DeepEqual(got, op) {
			t.Errorf("%s: round trip gave %#v, want %#v", op.Kind(), got, op)
		}
	}
	for kind := range samples {
		t.Errorf("sample of kind %q, which is not registered", kind)
	}
	if _, err := Decode("no.such", []byte("{}")); err == nil {
		t.Error("Decode of an unknown kind succeeded")
	}
}

func TestExplain(t *testing.T) {
	for _, c := range []struct {
		op   Op
		want []string
	}{
		{&NetnsAdd{Name: "earth", Lo: true}, []string{"ip netns add earth", "ip -n earth link set lo up"}},
		{&NetnsAdd{Name: "earth"}, []string{"ip netns add earth"}},
		{&NetnsAdd{Name: "earth", Lo: true, NoIPv6: true}, []string{"ip netns add earth", "ip -n earth link set lo up",
			"ip netns exec earth sysctl -w net.ipv6.conf.all.disable_ipv6=1 net.ipv6.conf.default.disable_ipv6=1"}},
		{&LinkAdd{NS: "earth", Name: "earth-veth", Type: &Veth{Peer: "neptune-veth", PeerNS: "neptune"}},
			[]string{"ip link add earth-veth netns earth type veth peer name neptune-veth netns neptune"}},
		{&LinkAdd{NS: "host", Name: "veth0", Type: &Veth{Peer: "ceth0", PeerNS: "host"}},
			[]string{"ip link add veth0 type veth peer name ceth0"}},
		{&LinkAdd{NS: "host", Name: "br0", Type: &Bridge{}}, []string{"ip link add br0 type bridge"}},
		{&LinkAdd{NS: "earth", Name: "d0", Type: &Dummy{}}, []string{"ip link add d0 netns earth type dummy"}},
		{&LinkAdd{NS: "host", Name: "mv0", Type: &Macvlan{Parent: "eth0", Mode: "bridge"}},
			[]string{"ip link add mv0 link eth0 type macvlan mode bridge"}},
		{&LinkAdd{NS: "earth", Name: "mv0", Type: &Macvlan{Parent: "e0", Mode: "private"}},
			[]string{"ip -n earth link add mv0 link e0 type macvlan mode private"}},
		{&LinkSet{NS: "earth", Name: "e0", Attr: "up", Value: "true"}, []string{"ip -n earth link set e0 up"}},
		{&LinkSet{NS: "host", Name: "e0", Attr: "master", Value: "br0"}, []string{"ip link set e0 master br0"}},
		{&LinkSet{NS: "host", Name: "e0", Attr: "master", Value: ""}, []string{"ip link set e0 nomaster"}},
		{&LinkSet{NS: "host", Name: "e0", Attr: "mtu", Value: "1400"}, []string{"ip link set e0 mtu 1400"}},
		{&LinkMove{NS: "host", Name: "d0", ToNS: "earth", NewName: "eth0"}, []string{"ip link set d0 netns earth name eth0"}},
		{&LinkMove{NS: "earth", Name: "d0", ToNS: "host", NewName: "d0"}, []string{"ip -n earth link set d0 netns 1"}},
		{&LinkMove{NS: "host", Name: "veth1", ToNS: "child", NewName: "veth1", ToPid: 4242}, []string{"ip link set veth1 netns 4242"}},
		{&LinkAdd{NS: "host", Name: "veth0", Type: &Veth{Peer: "veth1", PeerNS: "netns1", PeerPid: 4242}},
			[]string{"ip link add veth0 type veth peer name veth1 netns 4242"}},
		{&NetnsDel{Name: "earth", Destroys: []int{1}}, []string{"ip netns delete earth"}},
		{&LinkDel{NS: "earth", Name: "e0"}, []string{"ip -n earth link delete e0"}},
		{&NetnsEtc{NS: "netns1", File: "hosts", Content: "192.168.100.199 dummy.com\n"},
			[]string{"mkdir -p /etc/netns/netns1", `printf '192.168.100.199 dummy.com\n' > /etc/netns/netns1/hosts`}},
		{&AddrAdd{NS: "earth", Link: "e0", CIDR: "10.0.0.1/24"}, []string{"ip -n earth addr add 10.0.0.1/24 dev e0"}},
		{&RouteAdd{NS: "earth", Dst: "default", Via: "10.0.0.254"}, []string{"ip -n earth route add default via 10.0.0.254"}},
		{&RouteAdd{NS: "host", Dst: "10.1.0.0/16", Dev: "br0", Metric: 7}, []string{"ip route add 10.1.0.0/16 dev br0 metric 7"}},
		{&SysctlSet{NS: "host", Key: "net.ipv4.ip_forward", Value: "1"}, []string{"sysctl -w net.ipv4.ip_forward=1"}},
		{&SysctlSet{NS: "earth", Key: "net.ipv4.ip_forward", Value: "1"}, []string{"ip netns exec earth sysctl -w net.ipv4.ip_forward=1"}},
		{&ProcSpawn{NS: "earth", Argv: []string{"sh", "-c", "echo hi there"}}, []string{"ip netns exec earth sh -c 'echo hi there' &"}},
	} {
		if got := c.op.Explain(""); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%T.Explain() = %q, want %q", c.op, got, c.want)
		}
	}
}

func TestSysctlPath(t *testing.T) {
	for key, want := range map[string]string{
		"net.ipv4.ip_forward":          "/proc/sys/net/ipv4/ip_forward",
		"net/ipv4/ip_forward":          "/proc/sys/net/ipv4/ip_forward",
		"net/../../etc/passwd":         "/proc/sys/etc/passwd",
		"net.ipv4.conf.all.forwarding": "/proc/sys/net/ipv4/conf/all/forwarding",
	} {
		if got := SysctlPath(key); got != want {
			t.Errorf("SysctlPath(%q) = %q, want %q", key, got, want)
		}
	}
}

func TestShellQuote(t *testing.T) {
	if got := ShellJoin([]string{"echo", "a b", "it's", "x=1"}); got != `echo 'a b' 'it'\''s' x=1` {
		t.Errorf("ShellJoin = %s", got)
	}
}
