package ops

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"reflect"
	"sort"
	"strings"
	"testing"

	"github.com/google/nftables"

	"github.com/nshlab/nsh/builtins/sys/ipt"
	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/nshlab/nsh/builtins/sys/kernel/kerneltest"
)

func TestIptRuleExplain(t *testing.T) {
	for _, c := range []struct {
		op   *IptRule
		want string
	}{
		{&IptRule{NS: "host", Table: "nat", Chain: "POSTROUTING", Args: []string{"-s", "10.0.0.0/16", "!", "-o", "planet-br", "-m", "comment", "--comment", "nsh:lab", "-j", "MASQUERADE"}},
			"iptables -t nat -A POSTROUTING -s 10.0.0.0/16 ! -o planet-br -m comment --comment nsh:lab -j MASQUERADE"},
		{&IptRule{NS: "earth", Table: "filter", Chain: "FORWARD", Insert: true, Bin: "/usr/sbin/iptables-legacy", Args: []string{"-i", "br0", "-j", "ACCEPT"}},
			"ip netns exec earth iptables-legacy -I FORWARD 1 -i br0 -j ACCEPT"},
		{&IptRule{NS: "host", Table: "filter", Chain: "INPUT", Args: []string{"-m", "comment", "--comment", "two words", "-j", "ACCEPT"}},
			"iptables -A INPUT -m comment --comment 'two words' -j ACCEPT"},
	} {
		if got := c.op.Explain(""); !reflect.DeepEqual(got, []string{c.want}) {
			t.Errorf("Explain = %q, want %q", got, c.want)
		}
	}
}

func TestIptRuleRoundTrip(t *testing.T) {
	op := &IptRule{NS: "earth", Table: "nat", Chain: "OUTPUT", Args: []string{"-p", "tcp", "-j", "DNAT", "--to-destination", "10.0.0.2:80"}, Insert: true, Bin: "/usr/sbin/iptables", NewTable: true, NewChain: true}
	b, err := Encode(op)
	if err != nil {
		t.Fatal(err)
	}
	got, err := Decode("ipt.rule", b)
	if err != nil {
		t.Fatal(err)
	}
	if !reflect.DeepEqual(got, op) {
		t.Errorf("round trip gave %#v, want %#v", got, op)
	}
	if ns := op.Namespaces(); !reflect.DeepEqual(ns, []string{"earth"}) {
		t.Errorf("Namespaces = %q", ns)
	}
}

// TestIptRuleKernel applies and reverts a rule in a new namespace: the
// rule appears with its comment, Revert deletes exactly it (a rule someone
// else added stays), a second Revert warns, and the nft table that the
// rule made goes with it.
func TestIptRuleKernel(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	h, err := ipt.Open("")
	if errors.Is(err, ipt.ErrNotInstalled) {
		t.Skip("iptables is not installed")
	} else if err != nil {
		t.Fatal(err)
	}
	k, ns := kerneltest.Namespace(t, false)
	name := ns.Name()
	save := func() string {
		out, err := exec.Command("ip", "netns", "exec", name, h.Path+"-save").Output()
		if err != nil {
			t.Fatal(err)
		}
		return string(out)
	}
	op := &IptRule{NS: name, Table: "nat", Chain: "POSTROUTING", Args: ipt.WithComment([]string{"-s", "10.9.0.0/16", "-j", "MASQUERADE"}, "unit")}
	if err := op.Apply(k); err != nil {
		t.Fatal(err)
	}
	if h.NFT() && !op.NewTable {
		t.Error("Apply did not learn that it made the nat table")
	}
	if !strings.Contains(save(), `-A POSTROUTING -s 10.9.0.0/16 -m comment --comment "nsh:unit" -j MASQUERADE`) {
		t.Errorf("rule missing:\n%s", save())
	}
	// A second, identical rule, as if someone else had added it: Revert
	// deletes one and leaves the other.
	if out, err := exec.Command("ip", append([]string{"netns", "exec", name, h.Path, "-t", "nat", "-A", "POSTROUTING"}, op.Args...)...).CombinedOutput(); err != nil {
		t.Fatalf("%v: %s", err, out)
	}
	if err := op.Revert(k); err != nil {
		t.Fatal(err)
	}
	if n := strings.Count(save(), "nsh:unit"); n != 1 {
		t.Errorf("%d rules after Revert, want 1", n)
	}
	if err := op.Revert(k); err != nil {
		t.Fatal(err)
	}
	var w *Warning
	if err := op.Revert(k); !errors.As(err, &w) || !strings.Contains(w.Msg, "already gone") {
		t.Errorf("Revert of a deleted rule: %v, want a warning", err)
	}
	if h.NFT() && strings.Contains(save(), "*nat") {
		t.Errorf("the nat table is left:\n%s", save())
	}
}

// nftRuleset lists the nf_tables ruleset of a namespace, as `nft list
// ruleset` would show it: tables, chains with their hooks, types and
// policies, and rules (by handle and number of expressions).
func nftRuleset(ns kernel.Namespace) ([]string, error) {
	var out []string
	err := ns.Do(func() error {
		c, err := nftables.New()
		if err != nil {
			return err
		}
		tables, err := c.ListTables()
		if err != nil {
			return err
		}
		for _, t := range tables {
			out = append(out, fmt.Sprintf("table %d %s", t.Family, t.Name))
		}
		chains, err := c.ListChains()
		if err != nil {
			return err
		}
		for _, ch := range chains {
			desc := fmt.Sprintf("chain %d %s %s", ch.Table.Family, ch.Table.Name, ch.Name)
			if ch.Hooknum != nil {
				desc += fmt.Sprintf(" type %s hook %d", ch.Type, *ch.Hooknum)
			}
			if ch.Priority != nil {
				desc += fmt.Sprintf(" priority %d", *ch.Priority)
			}
			if ch.Policy != nil {
				desc += fmt.Sprintf(" policy %d", *ch.Policy)
			}
			out = append(out, desc)
			rules, err := c.GetRules(ch.Table, ch)
			if err != nil {
				return err
			}
			for _, r := range rules {
				out = append(out, fmt.Sprintf("rule %s %s handle %d, %d expressions", ch.Table.Name, ch.Name, r.Handle, len(r.Exprs)))
			}
		}
		return nil
	})
	sort.Strings(out)
	return out, err
}

// TestIptRuleNewChain checks that Revert leaves the nf_tables ruleset as
// it was before Apply, base chains included (iptables-save does not show
// an empty base chain; nft list ruleset does): a rule in filter OUTPUT,
// when the filter table has only INPUT, with someone else's rule; and a
// rule in a new nat table, to which someone else adds a chain meanwhile.
func TestIptRuleNewChain(t *testing.T) {
	k, ns := kerneltest.Namespace(t, false)
	// iptables-nft, whatever the machine's iptables is.
	path, err := exec.LookPath("iptables-nft")
	if err != nil {
		path = "/usr/sbin/iptables-nft"
	}
	h, err := ipt.Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if !h.NFT() {
		t.Fatalf("%s drives %s, not nf_tables", h.Path, h.Mode)
	}
	foreign := func(table, chain string) {
		t.Helper()
		if err := ns.Do(func() error { return h.Append(table, chain, []string{"-s", "192.0.2.1", "-j", "ACCEPT"}) }); err != nil {
			t.Fatal(err)
		}
	}
	ruleset := func() []string {
		t.Helper()
		rs, err := nftRuleset(ns)
		if err != nil {
			t.Fatal(err)
		}
		return rs
	}

	foreign("filter", "INPUT")
	before := ruleset()
	op := &IptRule{NS: ns.Name(), Table: "filter", Chain: "OUTPUT", Bin: h.Path, Args: ipt.WithComment([]string{"-d", "10.9.0.1", "-j", "ACCEPT"}, "unit")}
	if err := op.Apply(k); err != nil {
		t.Fatal(err)
	}
	if op.NewTable || !op.NewChain {
		t.Errorf("Apply learned NewTable %v, NewChain %v; want false, true", op.NewTable, op.NewChain)
	}
	if err := op.Revert(k); err != nil {
		t.Fatal(err)
	}
	if after := ruleset(); !reflect.DeepEqual(after, before) {
		t.Errorf("after Revert, the ruleset is\n%s\nwant\n%s", strings.Join(after, "\n"), strings.Join(before, "\n"))
	}

	op = &IptRule{NS: ns.Name(), Table: "nat", Chain: "POSTROUTING", Bin: h.Path, Args: ipt.WithComment([]string{"-s", "10.9.0.0/16", "-j", "MASQUERADE"}, "unit")}
	if err := op.Apply(k); err != nil {
		t.Fatal(err)
	}
	if !op.NewTable || !op.NewChain {
		t.Errorf("Apply learned NewTable %v, NewChain %v; want true, true", op.NewTable, op.NewChain)
	}
	foreign("nat", "PREROUTING")
	want := ruleset()
	if err := op.Revert(k); err != nil {
		t.Fatal(err)
	}
	var left []string
	for _, l := range want {
		if !strings.Contains(l, " nat POSTROUTING") {
			left = append(left, l)
		}
	}
	if after := ruleset(); !reflect.DeepEqual(after, left) {
		t.Errorf("after Revert, the ruleset is\n%s\nwant\n%s", strings.Join(after, "\n"), strings.Join(left, "\n"))
	}
}
