// Package userns lets nsh run without root: it puts a normal user's nsh
// in a user namespace that maps the user to root, with a mount namespace
// and a network namespace of its own, all kept alive by a holder process
// so that a lab outlives the nsh that built it.
//
// The holder is nsh itself in a hidden mode (`nsh __nsh-holder DIR`),
// started with clone flags CLONE_NEWUSER|CLONE_NEWNS|CLONE_NEWNET and a
// one-line uid and gid map (the user's own ids to 0, which needs no
// newuidmap). Its network namespace stands in for the machine's; its
// runtime directory ($XDG_RUNTIME_DIR/nsh, or /tmp/nsh-UID), mode 0700,
// holds the sessions (in place of /run/nsh) and the pins of named
// namespaces (in place of /run/netns), and its pid file. Every nsh the
// user starts finds the holder there (or starts one) and re-executes
// itself with $_NSH_USERNS_JOIN set, and a constructor written in C enters
// the holder's namespaces before the Go runtime starts its threads:
// setns(2) into a user namespace needs a single-threaded process. So nsh
// needs cgo to run without root (see package join, which holds the
// constructor).
//
// The holder ends when no session is left and no nsh is running (every
// nsh holds a shared lock on the runtime directory's clients.lock while
// it runs), so `nsh down` of the last session ends it. If it is killed,
// everything its namespaces held is gone; the next nsh forgets the
// sessions it left and says so.
//
// Layer: builtins/sys, the Linux plumbing (docs/architecture.md). It may
// import packages kernel (to move its pin directory), nsexec and join,
// and the standard library; nothing of Starlark, operations or the session. The session
// asks it for its directory (Dir).
package userns
