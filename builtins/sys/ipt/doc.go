// Package ipt owns nsh's use of iptables: finding the iptables binary and
// its backend (nf_tables or legacy), running it through
// github.com/coreos/go-iptables with a wait timeout on the xtables lock,
// and validating the parts of a rule that nsh builds itself (tables,
// builtin chains, ports, protocols, addresses).
//
// Everything here runs iptables in the network namespace of the calling
// thread: kernel.Namespace.Iptables wraps each call in a switch into its
// namespace, whose thread the iptables child inherits.
package ipt
