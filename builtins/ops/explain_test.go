package ops

import (
	"reflect"
	"strings"
	"testing"

	"github.com/nshlab/nsh/builtins/sys/probe"
)

// TestExplainSandbox checks that every command for host names the
// sandbox that stands in for it, so that, pasted, it never changes the
// machine's own namespace, and that commands for other namespaces are as
// without a sandbox.
func TestExplainSandbox(t *testing.T) {
	for _, c := range []struct {
		op   Explainer
		want []string
	}{
		{&NetnsAdd{Name: "nsh-sb-x-123456", Lo: true, Sandbox: true}, []string{"ip netns add SB", "ip -n SB link set lo up"}},
		{&NetnsAdd{Name: "earth", Lo: true}, []string{"ip netns add earth", "ip -n earth link set lo up"}},
		{&LinkAdd{NS: "host", Name: "veth0", Type: &Veth{Peer: "ceth0", PeerNS: "host"}},
			[]string{"ip link add veth0 netns SB type veth peer name ceth0 netns SB"}},
		{&LinkAdd{NS: "host", Name: "uplink", Type: &Veth{Peer: "eth0", PeerNS: "internet"}},
			[]string{"ip link add uplink netns SB type veth peer name eth0 netns internet"}},
		{&LinkAdd{NS: "earth", Name: "e0", Type: &Veth{Peer: "b0", PeerNS: "host"}},
			[]string{"ip link add e0 netns earth type veth peer name b0 netns SB"}},
		{&LinkAdd{NS: "host", Name: "br0", Type: &Bridge{}}, []string{"ip link add br0 netns SB type bridge"}},
		{&LinkAdd{NS: "host", Name: "mv0", Type: &Macvlan{Parent: "eth0", Mode: "bridge"}},
			[]string{"ip -n SB link add mv0 link eth0 type macvlan mode bridge"}},
		{&LinkSet{NS: "host", Name: "e0", Attr: "master", Value: "br0"}, []string{"ip -n SB link set e0 master br0"}},
		{&LinkMove{NS: "earth", Name: "d0", ToNS: "host", NewName: "d0"}, []string{"ip -n earth link set d0 netns SB"}},
		{&LinkMove{NS: "host", Name: "d0", ToNS: "earth", NewName: "eth0"}, []string{"ip -n SB link set d0 netns earth name eth0"}},
		{&AddrAdd{NS: "host", Link: "br0", CIDR: "10.0.0.1/24"}, []string{"ip -n SB addr add 10.0.0.1/24 dev br0"}},
		{&RouteAdd{NS: "host", Dst: "10.1.0.0/16", Dev: "br0"}, []string{"ip -n SB route add 10.1.0.0/16 dev br0"}},
		{&SysctlSet{NS: "host", Key: "net.ipv4.ip_forward", Value: "1"}, []string{"ip netns exec SB sysctl -w net.ipv4.ip_forward=1"}},
		{&IptRule{NS: "host", Table: "nat", Chain: "POSTROUTING", Args: []string{"-j", "MASQUERADE"}, Bin: "/usr/sbin/iptables"},
			[]string{"ip netns exec SB iptables -t nat -A POSTROUTING -j MASQUERADE"}},
		{&ProcSpawn{NS: "host", Argv: []string{"sleep", "9"}, Env: map[string]string{"B": "2", "A": "x y"}},
			[]string{"'A=x y' B=2 ip netns exec SB sleep 9 &"}},
		{&Exec{NS: "earth", Argv: []string{"cat"}, Env: map[string]string{"K": "v"}, Input: ptr("hi there")},
			[]string{"printf %s 'hi there' | K=v ip netns exec earth cat"}},
		{&Exec{NS: "host", Argv: []string{"ip", "link"}}, []string{"ip netns exec SB ip link"}},
	} {
		if got := c.op.Explain("SB"); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%T.Explain(SB) = %q, want %q", c.op, got, c.want)
		}
	}
}

func ptr[T any](v T) *T { return &v }

// TestExplainServe checks that a server started by serve() is shown as
// what it does, with a stand-in made of a standard tool, and never as
// nsh's hidden command line.
func TestExplainServe(t *testing.T) {
	for _, c := range []struct {
		reply *string
		ns    string
		host  string
		want  string
	}{
		{ptr("hello from earth"), "earth", "", `# serve(): nsh's own TCP server on 10.10.0.10:8000 in earth, answering each connection with "hello from earth"; with socat: ip netns exec earth socat TCP-LISTEN:8000,bind=10.10.0.10,reuseaddr,fork 'SYSTEM:printf %b '\''hello from earth'\''' &`},
		{nil, "host", "SB", `# serve(): nsh's own TCP server on 10.10.0.10:8000 in host, answering each connection with the peer's address; with socat: ip netns exec SB socat TCP-LISTEN:8000,bind=10.10.0.10,reuseaddr,fork 'SYSTEM:echo -n "$SOCAT_PEERADDR:$SOCAT_PEERPORT"' &`},
	} {
		op := &ProcSpawn{NS: c.ns, Argv: probe.ServeArgv("10.10.0.10:8000", c.reply)}
		got := op.Explain(c.host)
		if len(got) != 1 || got[0] != c.want {
			t.Errorf("Explain = %q\nwant      %q", got, c.want)
		}
		if strings.Contains(strings.Join(got, " "), "__nsh") {
			t.Errorf("Explain shows nsh's hidden command: %q", got)
		}
	}
}

// TestUndo checks the commands that revert each kind of operation.
func TestUndo(t *testing.T) {
	for _, c := range []struct {
		op   Undoer
		host string
		want []string
	}{
		{&NetnsAdd{Name: "earth", Lo: true}, "", []string{"ip netns delete earth"}},
		{&NetnsAdd{Name: "nsh-sb-x-1", Sandbox: true}, "SB", []string{"ip netns delete SB"}},
		{&LinkAdd{NS: "earth", Name: "e0", Type: &Veth{Peer: "b0", PeerNS: "host"}}, "", []string{"ip -n earth link del e0"}},
		{&LinkAdd{NS: "host", Name: "br0", Type: &Bridge{}}, "SB", []string{"ip -n SB link del br0"}},
		{&LinkSet{NS: "host", Name: "e0", Attr: "up", Value: "true", Old: "false", Learned: true}, "", []string{"ip link set e0 down"}},
		{&LinkSet{NS: "earth", Name: "e0", Attr: "mtu", Value: "1400", Old: "1500", Learned: true}, "", []string{"ip -n earth link set e0 mtu 1500"}},
		{&LinkSet{NS: "earth", Name: "e0", Attr: "master", Value: "br0", Old: "", Learned: true}, "", []string{"ip -n earth link set e0 nomaster"}},
		{&LinkSet{NS: "earth", Name: "e0", Attr: "up", Value: "true"}, "", nil},
		{&LinkMove{NS: "host", Name: "d0", ToNS: "earth", NewName: "eth0"}, "", []string{"ip -n earth link set eth0 netns 1 name d0"}},
		{&LinkMove{NS: "host", Name: "d0", ToNS: "earth", NewName: "d0"}, "SB", []string{"ip -n earth link set d0 netns SB"}},
		{&AddrAdd{NS: "earth", Link: "e0", CIDR: "10.0.0.1/24", Brd: "+"}, "", []string{"ip -n earth addr del 10.0.0.1/24 dev e0"}},
		{&RouteAdd{NS: "earth", Dst: "default", Via: "10.0.0.254"}, "", []string{"ip -n earth route del default via 10.0.0.254"}},
		{&SysctlSet{NS: "host", Key: "net.ipv4.ip_forward", Value: "1", Old: "0"}, "", []string{"sysctl -w net.ipv4.ip_forward=0"}},
		{&IptRule{NS: "earth", Table: "filter", Chain: "FORWARD", Args: []string{"-i", "br0", "-j", "ACCEPT"}, Insert: true}, "",
			[]string{"ip netns exec earth iptables -D FORWARD -i br0 -j ACCEPT"}},
	} {
		if got := c.op.Undo(c.host); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%T.Undo(%q) = %q, want %q", c.op, c.host, got, c.want)
		}
	}
}

// TestShellQuoteControl checks that a string with a newline is quoted on
// one line, as bash reads it back.
func TestShellQuoteControl(t *testing.T) {
	for in, want := range map[string]string{
		"blue\n":     `$'blue\n'`,
		"it's\tx\\y": `$'it\'s\tx\\y'`,
		"plain":      "plain",
	} {
		if got := shellQuote(in); got != want {
			t.Errorf("shellQuote(%q) = %s, want %s", in, got, want)
		}
	}
}
