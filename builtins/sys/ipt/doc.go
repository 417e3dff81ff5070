// Package ipt owns nsh's use of iptables: finding the iptables binary and
// its backend (nf_tables or legacy), running it through
// github.com/coreos/go-iptables with a wait timeout on the xtables lock,
// validating the parts of a rule that nsh builds itself (tables, builtin
// chains, ports, protocols, addresses), and, with the nf_tables backend,
// reading and removing through netlink (github.com/google/nftables) the
// tables and base chains that iptables-nft made for nsh's rules and that
// are empty again. It runs no program but iptables.
//
// Everything here works in the network namespace of the calling thread:
// kernel.Namespace.Iptables wraps each call in a switch into its
// namespace, whose thread the iptables child inherits and on which the
// netlink sockets are made.
//
// Layer: builtins/sys, the Linux plumbing (docs/architecture.md). It may
// import the standard library, go-iptables, google/nftables and the other
// builtins/sys packages; nothing of Starlark, operations or the session.
package ipt
