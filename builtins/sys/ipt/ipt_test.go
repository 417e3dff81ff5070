package ipt

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParseVersion(t *testing.T) {
	for _, c := range []struct{ out, version, mode string }{
		{"iptables v1.8.9 (nf_tables)\n", "1.8.9", "nf_tables"},
		{"iptables v1.8.9 (legacy)\n", "1.8.9", "legacy"},
		{"iptables v1.6.1\n", "1.6.1", "legacy"},
	} {
		v, m, err := ParseVersion(c.out)
		if err != nil || v != c.version || m != c.mode {
			t.Errorf("ParseVersion(%q) = %q, %q, %v; want %q, %q", c.out, v, m, err, c.version, c.mode)
		}
	}
	if _, _, err := ParseVersion("nothing"); err == nil {
		t.Error("ParseVersion of garbage succeeded")
	}
}

func TestWithComment(t *testing.T) {
	for _, c := range []struct{ in, want []string }{
		{[]string{"-s", "10.0.0.0/16", "-j", "MASQUERADE"}, []string{"-s", "10.0.0.0/16", "-m", "comment", "--comment", "nsh:lab", "-j", "MASQUERADE"}},
		{[]string{"-p", "tcp", "-j", "DNAT", "--to-destination", "10.0.0.2:80"}, []string{"-p", "tcp", "-m", "comment", "--comment", "nsh:lab", "-j", "DNAT", "--to-destination", "10.0.0.2:80"}},
		{[]string{"-i", "br0"}, []string{"-i", "br0", "-m", "comment", "--comment", "nsh:lab"}},
		{[]string{"-m", "comment", "--comment", "-j", "-g", "X"}, []string{"-m", "comment", "--comment", "-j", "-m", "comment", "--comment", "nsh:lab", "-g", "X"}},
	} {
		if got := WithComment(c.in, "lab"); !reflect.DeepEqual(got, c.want) {
			t.Errorf("WithComment(%q) = %q, want %q", c.in, got, c.want)
		}
	}
}

func TestCheckArgs(t *testing.T) {
	for _, ok := range [][]string{
		{"-i", "br0", "-j", "ACCEPT"},
		{"-m", "comment", "--comment", "-A", "-j", "ACCEPT"},
	} {
		if err := CheckArgs(ok); err != nil {
			t.Errorf("CheckArgs(%q): %v", ok, err)
		}
	}
	for _, bad := range [][]string{{"-A", "FORWARD"}, {"-t", "nat"}, {"--wait"}, {"-D", "X"}, {"--insert", "X"}} {
		if err := CheckArgs(bad); err == nil {
			t.Errorf("CheckArgs(%q) succeeded", bad)
		}
	}
}

func TestValidation(t *testing.T) {
	for _, c := range []struct {
		err  error
		want string // "" for no error
	}{
		{CheckTable("nat"), ""},
		{CheckTable("NAT"), `unknown table "NAT": want filter, nat, mangle or raw (did you mean "nat"?)`},
		{UnknownChain("nat", "postrouting"), `unknown chain "postrouting" in table nat: want PREROUTING, INPUT, OUTPUT or POSTROUTING, or a chain made with iptables -N (did you mean "POSTROUTING"?)`},
		{CheckPort(1), ""},
		{CheckPort(65535), ""},
		{CheckPort(65536), "bad port 65536: want 1 to 65535"},
		{CheckPort(0), "bad port 0: want 1 to 65535"},
		{CheckProto("udp"), ""},
		{CheckProto("icmp"), `bad protocol "icmp": want tcp or udp`},
		{CheckNet("10.0.0.0/16", "src"), ""},
		{CheckNet("10.0.0.1", "src"), ""},
		{CheckNet("10.0.0.1/16", "src"), `bad src "10.0.0.1/16": host bits are set (did you mean 10.0.0.0/16?)`},
		{CheckNet("10.0.0.0/33", "src"), `bad src "10.0.0.0/33": want an IPv4 address or a CIDR`},
		{CheckNet("fd00::/64", "src"), `not IPv6 ones`},
		{CheckIfName("eth+", "out"), ""},
		{CheckIfName("a-very-long-name0", "out"), `bad out "a-very-long-name0": 17 bytes`},
		{CheckIfName("a b", "out"), `no white space`},
	} {
		switch {
		case c.want == "" && c.err != nil:
			t.Errorf("unexpected error: %v", c.err)
		case c.want != "" && (c.err == nil || !strings.Contains(c.err.Error(), c.want)):
			t.Errorf("error %v, want %q", c.err, c.want)
		}
	}
}

func TestParseHostPort(t *testing.T) {
	if h, p, err := ParseHostPort("10.0.0.2:8000", "to"); err != nil || h != "10.0.0.2" || p != 8000 {
		t.Errorf("ParseHostPort = %q, %d, %v", h, p, err)
	}
	for _, bad := range []string{"10.0.0.2", "10.0.0.2:0", "10.0.0.2:70000", "host:80", "[::1]:80", "10.0.0.2:http"} {
		if _, _, err := ParseHostPort(bad, "to"); err == nil || !strings.HasPrefix(err.Error(), `bad to "`+bad+`"`) {
			t.Errorf("ParseHostPort(%q): %v", bad, err)
		}
	}
}

func TestFirstLine(t *testing.T) {
	msg := "iptables v1.8.9 (nf_tables): Chain 'X' does not exist\nTry `iptables -h' or 'iptables --help' for more information.\n"
	if got := firstLine(msg, errors.New("x")); got != "Chain 'X' does not exist" {
		t.Errorf("firstLine = %q", got)
	}
	if got := firstLine("iptables: Bad rule (does a matching rule exist in that chain?).\n", errors.New("x")); got != "Bad rule (does a matching rule exist in that chain?)" {
		t.Errorf("firstLine = %q", got)
	}
}
