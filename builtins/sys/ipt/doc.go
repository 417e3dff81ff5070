// Package ipt owns nsh's use of iptables: finding the iptables binary and
// its backend (nf_tables or legacy), running it through
// github.com/coreos/go-iptables with a wait timeout on the xtables lock,
// and validating the parts of a rule that nsh builds itself (tables,
// builtin chains, ports, protocols, addresses), and the comment that marks
// a rule as a session's.
//
// Everything here runs iptables in the network namespace of the calling
// thread: kernel.Namespace.Iptables wraps each call in a switch into its
// namespace, whose thread the iptables child inherits.
//
// Layer: builtins/sys, the Linux plumbing (docs/architecture.md). It may
// import the standard library, go-iptables and the other builtins/sys
// packages; nothing of Starlark, operations or the session.
package ipt
