// Package model is an in-memory kernel: a kernel.Kernel whose namespaces,
// links, addresses, routes, sysctls and iptables rules are Go values. It
// needs no root and makes no system calls, so that operations, the
// session's journal and its revert can run anywhere: in unit tests, and
// to plan a lab without building it.
//
// It is precise where nsh's operations can tell: link indexes are
// allocated per namespace as the kernel allocates them (a veth's peer
// first, a moved link keeps its index unless it is taken), a link that
// changes namespace goes down and loses its addresses, connected routes
// come and go with a link's state, a gateway must be on a connected
// subnet, unknown sysctls fail as their /proc/sys files do, and errors are
// the kernel's errnos (EEXIST, ENODEV, ENETUNREACH...), so that operations
// word their failures as they do against the kernel. It does not run
// processes or carry packets: Namespace.Do fails with kernel.ErrNotRun.
//
// It may import package kernel (whose interfaces it implements), ipt (for
// its error type) and the netlink value types; nothing above builtins/sys.
package model
