// Package nsexec runs commands inside a network namespace with the
// semantics of iproute2's `ip netns exec`: the command runs in the
// namespace, in a private mount namespace whose /sys is a fresh sysfs that
// describes the namespace's links, and with the files of /etc/netns/NAME
// bind-mounted over their counterparts in /etc.
//
// Go cannot run code between fork and exec, so the namespace set-up happens
// in a hidden re-execution of the current binary, forked from a thread
// switched into the network namespace, with a new mount namespace. For
// Run and Start that process is the namespace's warm helper (helper,
// helperMain): started on the first command of a namespace, it prepares
// the mounts once and then forks every command, each in a copy of its
// mount namespace, on requests that carry the command and its
// descriptors over a socket that only nsh holds; when nsh exits or dies
// the helper reads EOF, kills the process groups of the commands it runs
// and exits. A helper records itself in HelperDir, and StopHelpers, which
// the deletion of a namespace calls first, stops the helpers of that
// namespace, in this process or another: a process keeps its namespace
// alive. Interactive (nsh exec, one command per nsh process, with the
// terminal's job control) and the commands of containers use a child of
// their own, which prepares the mounts and execs the command. Every
// binary that uses this package must therefore call Init first thing in
// main (and in TestMain of its tests); nsh does it through
// builtins.Reexec, the one hook of the CLI into the plumbing.
//
// Run runs a command to completion and captures its output; Interactive
// runs one with the terminal attached (nsh exec). Start starts a
// detached, long-running process that outlives nsh and records it in a
// pidfile, written before Start returns, so that Stop, Running and Wait,
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
