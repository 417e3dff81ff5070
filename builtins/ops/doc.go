// Package ops defines nsh's operations: small values that each make one
// change to the kernel, know how to revert it, and know the iproute2,
// iptables or sysctl command that a person would type to do the same.
// There is one file per kind of change (netns, link, addr, route, sysctl,
// ipt, proc, delete, etc); errors_linux.go turns the kernel's errnos into the sentences
// that name the object ("failed to add veth \"x\": it already exists").
// LinkAdd creates links of every kind; each kind of link (veth, bridge,
// dummy, macvlan) is a LinkKind in a file of its own, link_KIND_linux.go.
//
// Operations are data. Each kind is registered under a name (Register,
// Kinds) and encodes to JSON, so that the journal can record an operation
// before it is applied and a different nsh process (nsh down after a
// crash) can decode and revert it. Apply either succeeds or leaves the
// kernel as it was; Revert is idempotent: an object that is already gone
// counts as reverted. Optional interfaces (Scoped, Creator, Learner,
// Independent) tell the session how reverts may be skipped or batched;
// a Replayer (a deletion) is reverted by applying again the operations
// whose work it deleted.
//
// Layer: builtins/ops, above the plumbing (docs/architecture.md). It may
// import the standard library, netlink and the builtins/sys packages;
// never the session, Starlark or anything above.
package ops
