// Package probe holds nsh's native network probes, which work in a
// namespace that has no ping, nc or curl binary: Ping sends ICMP echo
// requests from a raw socket, Connect opens a TCP connection and reads the
// reply, and a tiny TCP server answers every connection with the peer's
// address or a fixed reply. PingAll checks many pairs of namespaces at
// once (pingall_linux.go), paced under the machine's neighbour table
// (pace_linux.go), after settling the whole lab once (settleall_linux.go).
//
// Before its first packet, Ping and Connect settle the path to the
// destination (path_linux.go): a link that has just come up drops what it
// sends until the kernel's linkwatch work has run for it, so they read
// each link on the way, across veth peers and bridges, which runs that
// work at once on Linux 6.8 and later, and wait for what is still coming
// up. docs/probes.md tells the whole story.
//
// Sockets are created on a thread switched into the namespace, and belong
// to it from then on; only the creation needs the namespace. The server
// instead runs in the namespace of its process: a process started with
// package nsexec on the command line that ServeArgv returns, which the
// hidden entry point ServeInit runs (nsh calls it through
// builtins.Reexec).
//
// Layer: builtins/sys, the Linux plumbing (docs/architecture.md). It may
// import the standard library, x/net and the other builtins/sys packages;
// nothing of Starlark, operations or the session.
package probe
