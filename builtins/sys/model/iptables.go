package model

import (
	"fmt"
	"path/filepath"
	"slices"
	"strings"

	"github.com/nshlab/nsh/builtins/sys/ipt"
	"github.com/nshlab/nsh/builtins/sys/kernel"
)

// iptTable is one iptables table of a namespace: its chains' rules, each
// rule the arguments it was added with.
type iptTable struct {
	chains map[string][][]string
	// made holds the builtin chains that are in nf_tables: iptables-nft
	// makes one when the first rule is added to it (and lists the others
	// as if they were there).
	made map[string]bool
}

// iptables is a kernel.Iptables of the model. Rules are kept as given:
// the model checks tables and chains, not matches and targets.
type iptables struct {
	v    *view
	path string
	// fam prefixes the names of the tables in netns.ipt: "" for
	// iptables, "ip6 " for ip6tables, whose tables are apart.
	fam string
}

// Ip6tables implements kernel.Namespace: ip6tables beside the
// iptables binary (iptables-legacy gives ip6tables-legacy).
func (v *view) Ip6tables(bin string) (kernel.Iptables, error) {
	path := v.k.opts.Iptables
	if path == "" {
		path = "/usr/sbin/iptables"
	}
	dir, base := filepath.Split(path)
	path = dir + "ip6" + strings.TrimPrefix(base, "ip")
	if bin != "" {
		path = bin
	}
	return &iptables{v: v, path: path, fam: "ip6 "}, nil
}

// Iptables implements kernel.Namespace.
func (v *view) Iptables(bin string) (kernel.Iptables, error) {
	path := v.k.opts.Iptables
	if path == "" {
		path = "/usr/sbin/iptables"
	}
	if bin != "" {
		path = bin
	}
	return &iptables{v: v, path: path}, nil
}

func (t *iptables) Path() string { return t.path }
func (t *iptables) NFT() bool    { return !t.v.k.opts.Legacy }

// lock takes the Kernel's lock and returns the namespace.
func (t *iptables) lock() (*netns, error) {
	t.v.k.mu.Lock()
	return t.v.live()
}

func (t *iptables) unlock() { t.v.k.mu.Unlock() }

// existing locks the model and returns the table of this family as
// iptables sees it, without making it: nil if it does not exist. The
// caller unlocks, whatever it returns.
func (t *iptables) existing(table string) (*iptTable, error) {
	n, err := t.lock()
	if err != nil {
		return nil, err
	}
	return n.table(t.fam+table, false, !t.NFT())
}

// table returns a table, made as iptables-nft makes it (with its builtin
// chains) if create is set; nil if it does not exist. Legacy tables
// always exist.
func (n *netns) table(name string, create, legacy bool) (*iptTable, error) {
	bare := strings.TrimPrefix(name, "ip6 ")
	if ipt.CheckTable(bare) != nil {
		return nil, &ipt.Error{Msg: fmt.Sprintf("can't initialize iptables table `%s': Table does not exist (do you need to insmod?)", bare), Status: 3}
	}
	if n.ipt == nil {
		n.ipt = map[string]*iptTable{}
	}
	if t := n.ipt[name]; t != nil {
		return t, nil
	}
	if !create && !legacy {
		return nil, nil
	}
	t := &iptTable{chains: map[string][][]string{}}
	for _, c := range ipt.BuiltinChains(bare) {
		t.chains[c] = nil
	}
	n.ipt[name] = t
	return t, nil
}

func noChain(chain string) error {
	return &ipt.Error{Msg: fmt.Sprintf("Chain '%s' does not exist", chain), Status: 1}
}

func (t *iptables) add(table, chain string, pos int, args []string) error {
	n, err := t.lock()
	defer t.unlock()
	if err != nil {
		return err
	}
	if !ipt.IsBuiltinChain(table, chain) {
		if tb, _ := n.table(t.fam+table, false, !t.NFT()); tb == nil || !hasChain(tb, chain) {
			return noChain(chain)
		}
	}
	tb, err := n.table(t.fam+table, true, !t.NFT())
	if err != nil {
		return err
	}
	rules := tb.chains[chain]
	if pos < 0 || pos > len(rules) {
		return &ipt.Error{Msg: "Index of insertion too big", Status: 1}
	}
	tb.chains[chain] = slices.Insert(rules, pos, slices.Clone(args))
	if tb.made == nil {
		tb.made = map[string]bool{}
	}
	tb.made[chain] = true
	return nil
}

func hasChain(tb *iptTable, chain string) bool {
	_, ok := tb.chains[chain]
	return ok
}

// Append implements kernel.Iptables.
func (t *iptables) Append(table, chain string, args []string) error {
	end := 0
	if tb, _ := t.existing(table); tb != nil {
		end = len(tb.chains[chain])
	}
	t.unlock()
	return t.add(table, chain, end, args)
}

// Insert implements kernel.Iptables.
func (t *iptables) Insert(table, chain string, pos int, args []string) error {
	return t.add(table, chain, pos-1, args)
}

// Delete implements kernel.Iptables.
func (t *iptables) Delete(table, chain string, args []string) (bool, error) {
	tb, err := t.existing(table)
	defer t.unlock()
	if err != nil || tb == nil {
		return false, err
	}
	for i, r := range tb.chains[chain] {
		if slices.Equal(r, args) {
			tb.chains[chain] = slices.Delete(tb.chains[chain], i, i+1)
			return true, nil
		}
	}
	return false, nil
}

// Check implements kernel.Iptables: whether the rule is there. It makes
// no table, as iptables-nft -C makes none.
func (t *iptables) Check(table, chain string, args []string) (bool, error) {
	tb, err := t.existing(table)
	defer t.unlock()
	if err != nil || tb == nil {
		return false, err
	}
	for _, r := range tb.chains[chain] {
		if slices.Equal(r, args) {
			return true, nil
		}
	}
	return false, nil
}

// ChainExists implements kernel.Iptables.
func (t *iptables) ChainExists(table, chain string) (bool, error) {
	if ipt.IsBuiltinChain(table, chain) {
		return true, nil
	}
	tb, err := t.existing(table)
	defer t.unlock()
	return err == nil && tb != nil && hasChain(tb, chain), err
}

// List implements kernel.Iptables, as iptables -S prints a chain: its
// policy, then its rules.
func (t *iptables) List(table, chain string) ([]string, error) {
	tb, err := t.existing(table)
	defer t.unlock()
	if err != nil {
		return nil, err
	}
	if tb == nil || !hasChain(tb, chain) {
		if !ipt.IsBuiltinChain(table, chain) {
			return nil, noChain(chain)
		}
		return []string{"-P " + chain + " ACCEPT"}, nil
	}
	out := []string{"-P " + chain + " ACCEPT"}
	for _, r := range tb.chains[chain] {
		out = append(out, "-A "+chain+" "+strings.Join(r, " "))
	}
	return out, nil
}

// Policy implements kernel.Iptables: the model's chains accept.
func (t *iptables) Policy(table, chain string) (string, error) {
	if _, err := t.List(table, chain); err != nil {
		return "", err
	}
	return "ACCEPT", nil
}

// TableExists implements kernel.Iptables.
func (t *iptables) TableExists(table string) (bool, error) {
	tb, err := t.existing(table)
	defer t.unlock()
	return tb != nil, err
}

// DropTable implements kernel.Iptables: an nf_tables table without rules
// goes.
func (t *iptables) DropTable(table string) (bool, error) {
	if !t.NFT() {
		return false, nil
	}
	n, err := t.lock()
	defer t.unlock()
	if err != nil {
		return false, err
	}
	tb, err := n.table(t.fam+table, false, false)
	if err != nil || tb == nil {
		return false, err
	}
	for c, rules := range tb.chains {
		if len(rules) > 0 || !ipt.IsBuiltinChain(table, c) {
			return false, nil
		}
	}
	delete(n.ipt, t.fam+table)
	return true, nil
}

// ChainMade implements kernel.Iptables: with nf_tables, a builtin chain is
// there once a rule was added to it; with legacy, always.
func (t *iptables) ChainMade(table, chain string) (bool, error) {
	if !t.NFT() {
		return true, nil
	}
	n, err := t.lock()
	defer t.unlock()
	if err != nil {
		return false, err
	}
	tb, err := n.table(t.fam+table, false, false)
	return err == nil && tb != nil && tb.made[chain], err
}

// DropChain implements kernel.Iptables: an nf_tables builtin chain that
// iptables-nft made and that has no rules goes.
func (t *iptables) DropChain(table, chain string) (bool, error) {
	if !t.NFT() {
		return false, nil
	}
	n, err := t.lock()
	defer t.unlock()
	if err != nil {
		return false, err
	}
	tb, err := n.table(t.fam+table, false, false)
	if err != nil || tb == nil || !tb.made[chain] || len(tb.chains[chain]) > 0 {
		return false, err
	}
	delete(tb.made, chain)
	return true, nil
}
