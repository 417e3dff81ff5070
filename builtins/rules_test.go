package builtins

import (
	"reflect"
	"strings"
	"testing"

	"go.starlark.net/starlark"
)

func TestMasqueradeSpec(t *testing.T) {
	none := starlark.Value(starlark.None)
	for _, c := range []struct {
		src         string
		out, notOut starlark.Value
		want        []string
		err         string
	}{
		{"10.10.0.0/16", none, starlark.String("planet-br"), []string{"-s", "10.10.0.0/16", "!", "-o", "planet-br", "-j", "MASQUERADE"}, ""},
		{"10.0.0.0/16", starlark.String("eth0"), none, []string{"-s", "10.0.0.0/16", "-o", "eth0", "-j", "MASQUERADE"}, ""},
		{"10.0.0.0/16", none, none, []string{"-s", "10.0.0.0/16", "-j", "MASQUERADE"}, ""},
		{"10.0.0.0/16", starlark.String("a"), starlark.String("b"), nil, "out and not_out exclude each other"},
		{"10.0.0.0/16", starlark.MakeInt(3), none, nil, "for parameter out: got int, want link or string"},
		{"10.0.0/16", none, none, nil, `bad src "10.0.0/16"`},
	} {
		sp, err := masqueradeSpec(c.src, c.out, c.notOut)
		if c.err != "" {
			if err == nil || !strings.Contains(err.Error(), c.err) {
				t.Errorf("masquerade(%q): %v, want %q", c.src, err, c.err)
			}
			continue
		}
		if err != nil || sp.table != "nat" || sp.chain != "POSTROUTING" || !reflect.DeepEqual(sp.args, c.want) {
			t.Errorf("masquerade(%q) = %+v, %v; want %q", c.src, sp, err, c.want)
		}
	}
}

func TestDnatSpecs(t *testing.T) {
	specs, err := dnatSpecs(starlark.MakeInt(3000), "10.10.0.10:8000", starlark.String("192.168.0.108"), "tcp", true)
	if err != nil {
		t.Fatal(err)
	}
	rest := []string{"-p", "tcp", "-m", "tcp", "--dport", "3000", "-j", "DNAT", "--to-destination", "10.10.0.10:8000"}
	want := []ruleSpec{
		{table: "nat", chain: "PREROUTING", args: append([]string{"-d", "192.168.0.108"}, rest...)},
		{table: "nat", chain: "OUTPUT", args: append([]string{"-d", "192.168.0.108"}, rest...)},
	}
	if !reflect.DeepEqual(specs, want) {
		t.Errorf("dnat = %+v, want %+v", specs, want)
	}
	specs, err = dnatSpecs(starlark.MakeInt(53), "10.0.0.2:53", starlark.None, "udp", true)
	if err != nil || len(specs) != 2 || !strings.Contains(strings.Join(specs[1].args, " "), "-m addrtype --dst-type LOCAL -p udp") {
		t.Errorf("dnat without dst: %+v, %v", specs, err)
	}
	if specs, _ := dnatSpecs(starlark.MakeInt(53), "10.0.0.2:53", starlark.None, "udp", false); len(specs) != 1 {
		t.Errorf("dnat local=False: %d rules, want 1", len(specs))
	}
	for _, c := range []struct {
		port  starlark.Value
		to    string
		dst   starlark.Value
		proto string
		err   string
	}{
		{starlark.MakeInt(70000), "10.0.0.2:80", starlark.None, "tcp", "bad port 70000: want 1 to 65535"},
		{starlark.MakeInt(-1), "10.0.0.2:80", starlark.None, "tcp", "bad port -1"},
		{starlark.String("80"), "10.0.0.2:80", starlark.None, "tcp", "for parameter port: got string, want int"},
		{starlark.MakeInt(80), "10.0.0.2:80", starlark.None, "sctp", `bad protocol "sctp"`},
		{starlark.MakeInt(80), "10.0.0.2", starlark.None, "tcp", `bad to "10.0.0.2": want IP:PORT`},
		{starlark.MakeInt(80), "10.0.0.2:80", starlark.String("nope"), "tcp", `bad dst "nope"`},
	} {
		if _, err := dnatSpecs(c.port, c.to, c.dst, c.proto, true); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("dnat(%v, %q): %v, want %q", c.port, c.to, err, c.err)
		}
	}
}

func TestIptablesSpec(t *testing.T) {
	sp, err := iptablesSpec("filter", "FORWARD", starlark.NewList([]starlark.Value{starlark.String("-i"), starlark.String("br0"), starlark.String("-j"), starlark.String("ACCEPT")}), true)
	if err != nil || !sp.insert || !reflect.DeepEqual(sp.args, []string{"-i", "br0", "-j", "ACCEPT"}) {
		t.Errorf("iptables spec = %+v, %v", sp, err)
	}
	if sp, err := iptablesSpec("nat", "POSTROUTING", starlark.String("-o eth0 -j MASQUERADE"), false); err != nil || len(sp.args) != 4 {
		t.Errorf("iptables with a string: %+v, %v", sp, err)
	}
	for _, c := range []struct {
		table, chain string
		args         starlark.Value
		err          string
	}{
		{"natt", "POSTROUTING", starlark.String("-j ACCEPT"), `unknown table "natt"`},
		{"filter", "", starlark.String("-j ACCEPT"), `bad chain ""`},
		{"filter", "FORWARD", starlark.String(""), "args is empty"},
		{"filter", "FORWARD", starlark.String("-A FORWARD -j ACCEPT"), `args must not contain "-A"`},
		{"filter", "FORWARD", starlark.String("-i a-very-long-name0 -j ACCEPT"), "longer than the kernel's limit"},
		{"filter", "FORWARD", starlark.MakeInt(1), "want list of strings"},
	} {
		if _, err := iptablesSpec(c.table, c.chain, c.args, false); err == nil || !strings.Contains(err.Error(), c.err) {
			t.Errorf("iptables(%q, %q, %v): %v, want %q", c.table, c.chain, c.args, err, c.err)
		}
	}
}
