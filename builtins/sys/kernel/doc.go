// Package kernel is the layer through which nsh changes the kernel: the
// Kernel, Namespace, Netlink and Iptables interfaces that operations (package
// ops) and builtins use, and Linux, the machine's kernel, which implements
// them: named network namespaces created the way iproute2 creates them,
// one netlink handle per namespace, sysctls and iptables run on a thread
// switched into a namespace. Package model implements the same interfaces
// in memory.
//
// Nothing above this package reaches the kernel another way (no netlink
// handle of its own, no /proc/sys file, no iptables binary): what only a
// real namespace can do (run processes, open sockets) goes through
// Namespace.Do, which the model refuses. Nothing in this package knows
// about Starlark or the journal. It may import ipt (to run iptables) and
// the netlink libraries.
//
// Layer: builtins/sys, the lowest (docs/architecture.md). Spare namespaces
// made ahead of time keep creating one cheap (spare_linux.go); its test
// support is package kerneltest.
package kernel
