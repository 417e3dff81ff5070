package builtins

import (
	"errors"
	"fmt"
	"strings"
	"sync"

	"github.com/nshlab/nsh/builtins/ops"
	"github.com/nshlab/nsh/builtins/session"
	"github.com/nshlab/nsh/builtins/sys/ipt"
	"github.com/nshlab/nsh/builtins/sys/kernel"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

func init() {
	for _, b := range []*starlark.Builtin{
		starlark.NewBuiltin("masquerade", masqueradeBuiltin),
		starlark.NewBuiltin("dnat", dnatBuiltin),
		starlark.NewBuiltin("iptables", iptablesBuiltin),
		starlark.NewBuiltin("ip6tables", iptablesBuiltin),
	} {
		extra[b.Name()] = b
	}
}

// Rule is an iptables rule that the session added.
type Rule struct {
	env   *Env
	op    *ops.IptRule
	ns    string
	table string
	chain string
	args  []string
	// family is "ipv6" for a rule of ip6tables, "" for one of iptables.
	family string
}

var (
	_ starlark.HasAttrs   = (*Rule)(nil)
	_ starlark.Comparable = (*Rule)(nil)
)

func (r *Rule) String() string {
	return fmt.Sprintf("rule(%q)", r.op.Explain(r.env.Session.Meta().Sandbox)[0])
}
func (r *Rule) Type() string          { return "rule" }
func (r *Rule) Freeze()               {}
func (r *Rule) Truth() starlark.Bool  { return true }
func (r *Rule) Hash() (uint32, error) { return starlark.String(r.key()).Hash() }

func (r *Rule) key() string {
	return r.family + "\x00" + r.ns + "\x00" + r.table + "\x00" + r.chain + "\x00" + strings.Join(r.args, "\x00")
}

// CompareSameType implements starlark.Comparable: rules with the same
// namespace, table, chain and arguments are equal.
func (r *Rule) CompareSameType(op syntax.Token, y starlark.Value, depth int) (bool, error) {
	return compareNames(op, r.key(), y.(*Rule).key())
}

// Attr implements starlark.HasAttrs.
func (r *Rule) Attr(name string) (starlark.Value, error) {
	switch name {
	case "table":
		return starlark.String(r.table), nil
	case "chain":
		return starlark.String(r.chain), nil
	case "args":
		l := make([]starlark.Value, len(r.args))
		for i, a := range r.args {
			l[i] = starlark.String(a)
		}
		return starlark.NewList(l), nil
	case "ns":
		return r.env.netns(r.ns), nil
	case "family":
		if r.family == "" {
			return starlark.String("ipv4"), nil
		}
		return starlark.String(r.family), nil
	}
	return nil, nil
}

// AttrNames implements starlark.HasAttrs.
func (r *Rule) AttrNames() []string { return []string{"args", "chain", "family", "ns", "table"} }

// ruleSpec is a rule that a builtin has built but not yet added.
type ruleSpec struct {
	table, chain string
	args         []string // without the session's comment
	insert       bool
	family       string // ipt.IPv6 for ip6tables, "" for iptables
}

// masquerade(src, ns=host, out=None, not_out=None) -> rule
func masqueradeBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var src string
	var ns, out, notOut starlark.Value = starlark.None, starlark.None, starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "src", &src, "ns?", &ns, "out?", &out, "not_out?", &notOut); err != nil {
		return nil, err
	}
	spec, err := masqueradeSpec(src, out, notOut)
	if err != nil {
		return nil, err
	}
	rules, nsName, err := addRules(thread, ns, []ruleSpec{spec})
	if err != nil {
		return nil, err
	}
	checkForwarding(thread, nsName, spec.family)
	checkForwardingOn(thread, nsName, "masquerade", spec.family)
	return rules[0], nil
}

func masqueradeSpec(src string, out, notOut starlark.Value) (ruleSpec, error) {
	family := ipt.FamilyOf(src)
	if err := checkNet(src, "src", family); err != nil {
		return ruleSpec{}, err
	}
	args := []string{"-s", src}
	o, err := ifName(out, "out")
	if err != nil {
		return ruleSpec{}, err
	}
	no, err := ifName(notOut, "not_out")
	if err != nil {
		return ruleSpec{}, err
	}
	switch {
	case o != "" && no != "":
		return ruleSpec{}, errors.New("out and not_out exclude each other: give one of them")
	case o != "":
		args = append(args, "-o", o)
	case no != "":
		args = append(args, "!", "-o", no)
	}
	args = append(args, "-j", "MASQUERADE")
	return ruleSpec{table: "nat", chain: "POSTROUTING", args: args, family: family}, nil
}

// checkNet checks an address or network of a rule of the family.
func checkNet(s, what, family string) error {
	if family == ipt.IPv6 {
		return ipt.CheckNet6(s, what)
	}
	return ipt.CheckNet(s, what)
}

// ifName unpacks an interface argument: a link, a name, or None.
func ifName(v starlark.Value, param string) (string, error) {
	var name string
	switch v := v.(type) {
	case starlark.NoneType:
		return "", nil
	case *Link:
		name = v.name
	case starlark.String:
		name = string(v)
	default:
		return "", fmt.Errorf("for parameter %s: got %s, want link or string", param, v.Type())
	}
	if err := ipt.CheckIfName(name, param); err != nil {
		return "", err
	}
	return name, nil
}

// dnat(port, to, ns=host, dst=None, proto="tcp", local=True) -> list of rule
func dnatBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var port starlark.Value
	var to string
	var ns, dst starlark.Value = starlark.None, starlark.None
	proto := "tcp"
	local := true
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "port", &port, "to", &to, "ns?", &ns, "dst?", &dst, "proto?", &proto, "local?", &local); err != nil {
		return nil, err
	}
	specs, err := dnatSpecs(port, to, dst, proto, local)
	if err != nil {
		return nil, err
	}
	rules, nsName, err := addRules(thread, ns, specs)
	if err != nil {
		return nil, err
	}
	checkForwarding(thread, nsName, specs[0].family)
	checkForwardingOn(thread, nsName, "dnat", specs[0].family)
	l := make([]starlark.Value, len(rules))
	for i, r := range rules {
		l[i] = r
	}
	return starlark.NewList(l), nil
}

func dnatSpecs(port starlark.Value, to string, dst starlark.Value, proto string, local bool) ([]ruleSpec, error) {
	p, ok := port.(starlark.Int)
	if !ok {
		return nil, fmt.Errorf("for parameter port: got %s, want int", port.Type())
	}
	n, ok := p.Int64()
	if !ok || ipt.CheckPort(int(n)) != nil {
		return nil, fmt.Errorf("bad port %s: want 1 to 65535", p)
	}
	if err := ipt.CheckProto(proto); err != nil {
		return nil, err
	}
	family := ipt.FamilyOf(to)
	if family == ipt.IPv6 {
		if _, _, err := ipt.ParseHostPort6(to, "to"); err != nil {
			return nil, err
		}
	} else if _, _, err := ipt.ParseHostPort(to, "to"); err != nil {
		return nil, err
	}
	var match []string
	if d, err := optString(dst, "dst"); err != nil {
		return nil, err
	} else if d != nil {
		if ipt.FamilyOf(*d) != family {
			return nil, fmt.Errorf("bad dst %q: to %q is of the other IP version (a rule is of iptables or of ip6tables)", *d, to)
		}
		if err := checkNet(*d, "dst", family); err != nil {
			return nil, err
		}
		match = []string{"-d", *d}
	}
	rest := []string{"-p", proto, "-m", proto, "--dport", fmt.Sprint(n), "-j", "DNAT", "--to-destination", to}
	specs := []ruleSpec{{table: "nat", chain: "PREROUTING", args: append(append([]string{}, match...), rest...), family: family}}
	if local {
		out := append([]string{}, match...)
		if dst == starlark.None {
			// Without a destination, only connections to the namespace's
			// own addresses: the rule must not capture the port on every
			// machine that NS connects to.
			out = append(out, "-m", "addrtype", "--dst-type", "LOCAL")
		}
		specs = append(specs, ruleSpec{table: "nat", chain: "OUTPUT", args: append(out, rest...), family: family})
	}
	return specs, nil
}

// iptables(table, chain, args, ns=host, insert=False) -> rule, and
// ip6tables(...) the same for IPv6.
func iptablesBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var table, chain string
	var argv starlark.Value
	var ns starlark.Value = starlark.None
	insert := false
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "table", &table, "chain", &chain, "args", &argv, "ns?", &ns, "insert?", &insert); err != nil {
		return nil, err
	}
	spec, err := iptablesSpec(table, chain, argv, insert)
	if err != nil {
		return nil, err
	}
	if b.Name() == "ip6tables" {
		spec.family = ipt.IPv6
	}
	rules, _, err := addRules(thread, ns, []ruleSpec{spec})
	if err != nil {
		return nil, err
	}
	return rules[0], nil
}

func iptablesSpec(table, chain string, argv starlark.Value, insert bool) (ruleSpec, error) {
	if err := ipt.CheckTable(table); err != nil {
		return ruleSpec{}, err
	}
	if chain == "" || strings.ContainsAny(chain, " \t\n") || strings.HasPrefix(chain, "-") {
		return ruleSpec{}, fmt.Errorf("bad chain %q", chain)
	}
	var args []string
	switch v := argv.(type) {
	case starlark.String:
		args = strings.Fields(string(v))
	case *starlark.List, starlark.Tuple:
		it := starlark.Iterate(v)
		defer it.Done()
		var x starlark.Value
		for it.Next(&x) {
			s, ok := starlark.AsString(x)
			if !ok {
				return ruleSpec{}, fmt.Errorf("for parameter args: got %s in list, want string", x.Type())
			}
			args = append(args, s)
		}
	default:
		return ruleSpec{}, fmt.Errorf("for parameter args: got %s, want list of strings", argv.Type())
	}
	if len(args) == 0 {
		return ruleSpec{}, errors.New("args is empty: give the rule's matches and target, e.g. [\"-i\", \"br0\", \"-j\", \"ACCEPT\"]")
	}
	if err := ipt.CheckArgs(args); err != nil {
		return ruleSpec{}, err
	}
	for i, a := range args {
		if (a == "-i" || a == "-o" || a == "--in-interface" || a == "--out-interface") && i+1 < len(args) {
			if err := ipt.CheckIfName(args[i+1], a); err != nil {
				return ruleSpec{}, err
			}
		}
	}
	return ruleSpec{table: table, chain: chain, args: args, insert: insert}, nil
}

// addRules checks every rule against iptables in the namespace, then adds
// them one by one. If one fails, those added before it are removed again,
// so that the builtin either adds all its rules or changes nothing.
func addRules(thread *starlark.Thread, nsv starlark.Value, specs []ruleSpec) ([]*Rule, string, error) {
	env, err := envOf(thread)
	if err != nil {
		return nil, "", err
	}
	nsName, err := env.nsName(nsv, "ns")
	if err != nil {
		return nil, "", err
	}
	kns, err := env.kern().Namespace(nsName)
	if err != nil {
		return nil, "", err
	}
	built := make([]*ops.IptRule, len(specs))
	for i, sp := range specs {
		h, err := iptablesOf(kns, sp.family)
		if err != nil {
			return nil, "", err
		}
		op := &ops.IptRule{NS: nsName, Table: sp.table, Chain: sp.chain, Insert: sp.insert, Bin: h.Path(),
			Args: ipt.WithComment(sp.args, env.Session.Name), Family: sp.family}
		if err := checkRule(h, op, sp.args); err != nil {
			return nil, "", err
		}
		built[i] = op
	}
	var rules []*Rule
	err = env.Session.Atomic(func() error {
		for _, op := range built {
			if err := env.apply(op); err != nil {
				return err
			}
			rules = append(rules, &Rule{env: env, op: op, ns: nsName, table: op.Table, chain: op.Chain, args: op.Args, family: op.Family})
		}
		return nil
	})
	if err != nil {
		return nil, "", err
	}
	return rules, nsName, nil
}

// iptablesOf returns the iptables of a namespace, or its ip6tables.
func iptablesOf(kns kernel.Namespace, family string) (kernel.Iptables, error) {
	if family == ipt.IPv6 {
		return kns.Ip6tables("")
	}
	return kns.Iptables("")
}

// checkRule asks iptables, without changing anything, whether the rule's
// chain exists and whether iptables accepts the rule.
func checkRule(h kernel.Iptables, op *ops.IptRule, args []string) error {
	if !ipt.IsBuiltinChain(op.Table, op.Chain) {
		ok, err := h.ChainExists(op.Table, op.Chain)
		if err != nil {
			return fmt.Errorf("failed to look for chain %s in table %s: %w", op.Chain, op.Table, err)
		}
		if !ok {
			return ipt.UnknownChain(op.Table, op.Chain)
		}
	}
	if _, err := h.Check(op.Table, op.Chain, op.Args); err != nil {
		return fmt.Errorf("bad rule %s: %w", ops.ShellJoinRule(args), err)
	}
	return nil
}

// forwardChecked records, per session and namespace, that the forwarding
// check has run, so that a lab is warned once.
var forwardChecked sync.Map

type forwardKey struct {
	s      *session.Session
	ns     string
	family string
}

// checkForwarding warns when the namespace that a lab makes forward
// packets drops them: a FORWARD policy of DROP (Docker sets one) without
// an ACCEPT rule of this session, made worse by br_netfilter's
// bridge-nf-call-iptables=1, which sends even traffic between the ports of
// one bridge through FORWARD. It changes nothing: the fix is the
// session's to apply (forward_accept in @nsh//firewall.star).
func checkForwarding(thread *starlark.Thread, nsName, family string) {
	env, err := envOf(thread)
	if err != nil {
		return
	}
	if _, done := forwardChecked.LoadOrStore(forwardKey{env.Session, nsName, family}, true); done {
		return
	}
	if msg := forwardingProblem(env, nsName, family); msg != "" {
		env.Session.Warn(msg)
	}
}

func forwardingProblem(env *Env, nsName, family string) string {
	kns, err := env.observe(nsName)
	if err != nil {
		return ""
	}
	h, err := iptablesOf(kns, family)
	if err != nil {
		return ""
	}
	policy, err := h.Policy("filter", "FORWARD")
	if err != nil || policy == "ACCEPT" {
		return ""
	}
	rules, err := h.List("filter", "FORWARD")
	if err != nil {
		return ""
	}
	mark := ipt.Comment(env.Session.Name)
	for _, r := range rules {
		if strings.Contains(r, mark) && strings.HasSuffix(r, "-j ACCEPT") {
			return "" // the lab already let its traffic through
		}
	}
	dev := "BRIDGE"
	if nl, err := kns.Netlink(); err == nil {
		if links, err := nl.LinkList(); err == nil {
			var brs []string
			for _, l := range links {
				if l.Type() == "bridge" {
					brs = append(brs, l.Attrs().Name)
				}
			}
			if len(brs) > 0 {
				dev = strings.Join(brs, " / ")
			}
		}
	}
	where := nsLabel(nsName)
	if family == ipt.IPv6 {
		where += " (ip6tables)"
	}
	msg := fmt.Sprintf("the FORWARD chain of %s has policy %s (Docker sets this), so the packets this lab forwards are silently dropped; "+
		"let them through with load(\"@nsh//firewall.star\", \"forward_accept\") and forward_accept(%q%s) "+
		"(= iptables -I FORWARD 1 -i DEV -j ACCEPT and -o DEV; nsh down removes them)",
		where, policy, strings.Split(dev, " / ")[0], nsArg(nsName))
	if v, err := ops.ReadSysctl(kns, "net.bridge.bridge-nf-call-iptables"); err == nil && v == "1" {
		msg += "; note that net.bridge.bridge-nf-call-iptables=1 (br_netfilter) sends even the traffic between namespaces on one bridge through FORWARD" +
			" (or turn that off for the lab with sysctl(" + nsArgValue(nsName) + ", \"net.bridge.bridge-nf-call-iptables\", 0))"
	}
	return msg
}

// forwardOnChecked records, per session and namespace, that
// checkForwardingOn has run.
var forwardOnChecked sync.Map

// checkForwardingOn warns when a NAT rule (masquerade or dnat, named by
// what) is added in a namespace that does not forward IPv4: the rule is
// for packets the namespace routes on, and without forwarding the kernel
// drops them, so connections time out with nothing to say why. It changes
// nothing, and warns once per session and namespace.
func checkForwardingOn(thread *starlark.Thread, nsName, what, family string) {
	env, err := envOf(thread)
	if err != nil {
		return
	}
	if _, done := forwardOnChecked.LoadOrStore(forwardKey{env.Session, nsName, family}, true); done {
		return
	}
	if msg := forwardingOff(env, nsName, what, family); msg != "" {
		if thread.CallStackDepth() > 1 {
			msg = thread.CallFrame(1).Pos.String() + ": " + msg
		}
		env.Session.Warn(msg)
	}
}

func forwardingOff(env *Env, nsName, what, family string) string {
	kns, err := env.kern().Namespace(nsName)
	if err != nil {
		return ""
	}
	key, fam, famArg := "net.ipv4.ip_forward", "", ""
	if family == ipt.IPv6 {
		key, fam, famArg = forwardKeys["ipv6"], "IPv6 ", `family = "ipv6"`
	}
	if v, err := ops.ReadSysctl(kns, key); err != nil || v != "0" {
		return ""
	}
	var args []string
	if nsName != kernel.HostName {
		args = append(args, fmt.Sprintf("%q", nsName))
	}
	if famArg != "" {
		args = append(args, famArg)
	}
	call := "ip_forward(" + strings.Join(args, ", ") + ")"
	return fmt.Sprintf("%s in %s: %s is 0 there, so %s does not forward the %spackets this rule is for, and connections through it just time out; "+
		"turn forwarding on with %s (= sysctl -w %s=1; nsh down restores it)", what, nsLabel(nsName), key, nsLabel(nsName), fam, call, key)
}

func nsArg(ns string) string {
	if ns == kernel.HostName {
		return ""
	}
	return fmt.Sprintf(", ns = %q", ns)
}

func nsArgValue(ns string) string {
	if ns == kernel.HostName {
		return "host"
	}
	return fmt.Sprintf("%q", ns)
}
