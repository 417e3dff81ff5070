// Package join holds the one piece of C in nsh: an ELF constructor that
// enters another process's namespaces, user namespace included, before
// the Go runtime starts its threads. setns(2) into a user namespace needs
// a single-threaded process, which a Go program never is once its init
// functions run, so only code that runs before them can do it.
//
// nsh re-executes itself with a variable in its environment that names
// the process and the inode of its user namespace, checked before
// anything is joined, so that a process that is not the one nsh looked at
// is never joined:
//
//   - EnvHolder ("PID:INODE"): the user, mount and network namespaces of
//     the holder of a normal user's labs (package userns, rootless nsh),
//     joined in that order from /proc/PID/ns;
//   - EnvEnter ("PID:INODE:FD"): the user namespace of a container's init
//     process, open as the inherited descriptor FD (package nsexec: a
//     command run in a container with a user namespace, whose other
//     namespaces the process was born in); the process then becomes root
//     there, as nsenter does.
//
// Holder and Entered say what the constructor did. Without cgo there is
// no constructor (Available is false) and a request to join is an error.
//
// Layer: builtins/sys, the Linux plumbing (docs/architecture.md). It
// imports no nsh package, so that userns and nsexec can both import it.
package join
