package ops

import (
	"fmt"
	"path/filepath"
	"strings"

	"github.com/nshlab/nsh/builtins/sys/ipt"
	"github.com/nshlab/nsh/builtins/sys/kernel"
)

// IptRule adds one iptables rule in a namespace, as
// `ip netns exec NS iptables -t TABLE -A CHAIN ARGS...`. Args is the whole
// rule specification, including the "-m comment --comment nsh:SESSION"
// match that marks the rule as nsh's; Revert deletes exactly that rule
// (iptables -D with the same specification), so that rules others added
// to the chain meanwhile are left alone.
type IptRule struct {
	NS    string   `json:"ns"`
	Table string   `json:"table"`
	Chain string   `json:"chain"`
	Args  []string `json:"args"`
	// Insert puts the rule first in its chain (iptables -I CHAIN 1), so
	// that it takes effect before the rules already there; otherwise it is
	// appended (-A), as the tutorials do.
	Insert bool `json:"insert,omitempty"`
	// Bin is the iptables binary that added the rule, so that the rule is
	// deleted through the same backend (nf_tables or legacy).
	Bin string `json:"bin,omitempty"`
	// NewTable records that the table did not exist before the rule was
	// added: iptables-nft created it, and Revert removes it again if
	// nothing else is left in it, so that iptables-save is as before.
	NewTable bool `json:"new_table,omitempty"`
	// NewChain records that the chain, a builtin one, was not in the
	// table before the rule was added: iptables-nft made it as a base
	// chain, and Revert removes it again if it has no rules and an ACCEPT
	// policy, so that the nf_tables ruleset (`nft list ruleset`, which
	// shows empty base chains that iptables-save hides) is as before.
	NewChain bool `json:"new_chain,omitempty"`
	// Family is "ipv6" for a rule of ip6tables, "" for one of iptables.
	Family string `json:"family,omitempty"`
}

// tool is the command that adds the rule: iptables or ip6tables.
func (o *IptRule) tool() string {
	if o.Family == ipt.IPv6 {
		return "ip6tables"
	}
	return "iptables"
}

// iptables returns the rule's iptables (or ip6tables) in ns.
func (o *IptRule) iptables(ns kernel.Namespace) (kernel.Iptables, error) {
	if o.Family == ipt.IPv6 {
		return ns.Ip6tables(o.Bin)
	}
	return ns.Iptables(o.Bin)
}

func init() { Register("ipt.rule", func() Op { return new(IptRule) }) }

// Kind implements Op.
func (o *IptRule) Kind() string { return "ipt.rule" }

// Learns implements Learner: Apply learns NewTable and NewChain.
func (o *IptRule) Learns() {}

// Namespaces implements Scoped: a rule dies with its namespace.
func (o *IptRule) Namespaces() []string { return scope(o.NS) }

func (o *IptRule) what() string {
	return fmt.Sprintf("%s rule %s in %s %s%s", o.tool(), ShellJoinRule(o.Args), o.Table, o.Chain, inNS(o.NS))
}

// Apply implements Op.
func (o *IptRule) Apply(k kernel.Kernel) error {
	ns, err := k.Namespace(o.NS)
	if err != nil {
		return failed("add "+o.what(), err)
	}
	h, err := o.iptables(ns)
	if err != nil {
		return fmt.Errorf("failed to add %s: %w", o.what(), err)
	}
	o.Bin = h.Path()
	return func() error {
		if h.NFT() {
			exists, err := h.TableExists(o.Table)
			if err != nil {
				return fmt.Errorf("failed to add %s: %w", o.what(), err)
			}
			o.NewTable = o.NewTable || !exists
			made, err := h.ChainMade(o.Table, o.Chain)
			if err != nil {
				return fmt.Errorf("failed to add %s: %w", o.what(), err)
			}
			o.NewChain = o.NewChain || !made
		}
		if o.Insert {
			err = h.Insert(o.Table, o.Chain, 1, o.Args)
		} else {
			err = h.Append(o.Table, o.Chain, o.Args)
		}
		if err != nil {
			o.tidy(h)
			return fmt.Errorf("failed to add %s: %w", o.what(), err)
		}
		return nil
	}()
}

// Revert implements Op. A rule that is already gone, or whose namespace
// is gone, counts as reverted; a rule that someone else deleted is
// reported as a Warning.
func (o *IptRule) Revert(k kernel.Kernel) error {
	ns, err := k.Namespace(o.NS)
	if err != nil {
		if gone(err) {
			return nil
		}
		return err
	}
	h, err := o.iptables(ns)
	if err != nil {
		return fmt.Errorf("failed to delete %s: %w", o.what(), err)
	}
	var warn string
	err = func() error {
		found, err := h.Delete(o.Table, o.Chain, o.Args)
		if err != nil {
			return fmt.Errorf("failed to delete %s: %w", o.what(), err)
		}
		if !found {
			warn = fmt.Sprintf("%s was already gone: someone else deleted it", o.what())
		}
		if err := o.tidy(h); err != nil {
			warn = strings.TrimPrefix(warn+"; ", "; ") + err.Error()
		}
		return nil
	}()
	if err != nil {
		if gone(err) {
			return nil
		}
		return err
	}
	if warn != "" {
		return &Warning{Msg: warn}
	}
	return nil
}

// tidy removes the chain and the table that iptables-nft made for the
// rule, if nothing else is in them: first the chain (which may be left
// alone in a table that someone else put other chains in meanwhile), then
// the table. It runs in the rule's namespace.
func (o *IptRule) tidy(h kernel.Iptables) error {
	var err error
	if o.NewChain {
		_, err = h.DropChain(o.Table, o.Chain)
	}
	if o.NewTable {
		if _, terr := h.DropTable(o.Table); terr != nil && err != nil {
			err = fmt.Errorf("%w; %w", err, terr)
		} else if terr != nil {
			err = terr
		}
	}
	return err
}

// Explain implements Op.
func (o *IptRule) Explain(host string) []string {
	if o.Insert {
		return []string{o.command(host, "-I", o.Chain, "1")}
	}
	return []string{o.command(host, "-A", o.Chain)}
}

// Undo implements Undoer: iptables (or ip6tables) -D with the same rule. (An empty table
// or chain that iptables-nft made for the rule stays: iptables cannot
// remove one.)
func (o *IptRule) Undo(host string) []string {
	return []string{o.command(host, "-D", o.Chain)}
}

// command returns the iptables command line that applies cmd (-A CHAIN,
// -D CHAIN...) to the rule, in its namespace.
func (o *IptRule) command(host string, cmd ...string) string {
	bin := o.tool()
	if o.Bin != "" {
		bin = filepath.Base(o.Bin)
	}
	argv := []string{bin}
	if o.Table != "filter" {
		argv = append(argv, "-t", o.Table)
	}
	argv = append(argv, cmd...)
	return nsExec(o.NS, host) + ShellJoinRule(append(argv, o.Args...))
}

// ShellJoinRule quotes and joins iptables arguments for a shell, leaving
// the negation "!" bare as people write it.
func ShellJoinRule(argv []string) string {
	q := make([]string, len(argv))
	for i, a := range argv {
		if a == "!" {
			q[i] = a
		} else {
			q[i] = shellQuote(a)
		}
	}
	return strings.Join(q, " ")
}
