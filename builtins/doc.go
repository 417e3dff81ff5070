// Package builtins defines nsh's Starlark values (netns, link, rule,
// process, result) and the predeclared builtins that scripts call, with
// help() from the entries of package docs.
//
// Builtins are thin: they unpack and validate their arguments, build
// operations (package ops), and hand them to the session (package
// builtins/session), which journals and applies them; a builtin that is
// several operations, or an operation and a check, runs them in
// Session.Atomic so that it completes or changes nothing. Reading state
// (a link's MTU, a namespace's routes) goes straight to netlink, and the
// probes and exec_in to packages probe and nsexec, which change nothing
// that the journal tracks.
//
// Reexec is the hook that runs nsh's hidden re-exec children (the set-up
// of `ip netns exec`, the serve() server); every binary that runs
// builtins calls it first thing in main.
//
// Layer: builtins, the Starlark values (docs/architecture.md). It may
// import the standard library, go.starlark.net, netlink, docs, and every
// layer below: builtins/session, builtins/ops and builtins/sys. Never
// interp or anything above.
package builtins
