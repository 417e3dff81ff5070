// Package kernel is the bottom of nsh's Linux plumbing: named network
// namespaces created and deleted the way iproute2 does it (pinned under
// /run/netns), spare namespaces made ahead of time so that creating one
// is cheap, one netlink handle per namespace, running a function on a
// thread switched into a namespace (Namespace.Do), the sandbox that stands
// in for "host", and the validation of interface and namespace names.
//
// It knows nothing of Starlark, operations or the journal, and its errors
// are plain: turning errnos into sentences that name the object is the
// work of the operations (builtins/ops, errors_linux.go).
//
// Layer: builtins/sys, the lowest (docs/architecture.md). It may import
// the standard library and the netlink, netns and x/sys modules, no nsh
// package; its test support is package kerneltest.
package kernel
