// Package nsexec runs commands inside a network namespace with the
// semantics of iproute2's `ip netns exec`: the command runs in the
// namespace, in a private mount namespace whose /sys is a fresh sysfs that
// describes the namespace's links, and with the files of /etc/netns/NAME
// bind-mounted over their counterparts in /etc.
//
// Go cannot run code between fork and exec, so the namespace set-up happens
// in a hidden re-execution of the current binary: the parent forks
// /proc/self/exe from a thread switched into the network namespace, with a
// new mount namespace, and the child prepares the mounts and then execs the
// command. Every binary that uses this package must therefore call Init
// first thing in main (and in TestMain of its tests); nsh does it through
// builtins.Reexec, the one hook of the CLI into the plumbing.
//
// Run runs a command to completion and captures its output; Interactive
// runs one with the terminal attached (nsh exec). Start starts a
// detached, long-running process that outlives nsh and records it in a
// pidfile written by the process itself, so that Stop, Running and Wait,
// called later from any process, can find it again.
//
// StartContainer starts a container's init process (the same binary in
// another hidden mode: PID 1 of new PID, UTS, IPC and mount namespaces,
// optionally a user namespace, a root file system and a cgroup v2), and
// RunIn, StartIn and InteractiveIn run commands in all the namespaces of
// such a container (a Target), as `nsenter --target PID --all` does, from
// a disposable thread that joined them.
//
// Layer: builtins/sys, the Linux plumbing (docs/architecture.md). It may
// import the standard library, x/sys and package kernel; nothing of
// Starlark, operations or the session.
package nsexec
