// Package kernel is nsh's Linux plumbing: named network namespaces created
// the way iproute2 creates them, one netlink handle per namespace, running a
// function on a thread switched into a namespace, and turning kernel errnos
// into sentences that name the object.
//
// Nothing in this package knows about Starlark or the journal: it is the
// layer that the operations in package ops call to change the kernel.
package kernel
