// Command nsh builds Linux network-namespace labs from Starlark scripts.
//
// Run `nsh help` for the commands. Each command is one file: run.go (nsh
// run), repl.go (nsh repl, the default), exec.go (nsh exec),
// session_cmds.go (undo, down, status), learn.go (nsh learn: lessons run
// in the REPL through its hooks, and their --check); main.go parses the
// command line.
//
// Layer: cmd, the top (docs/architecture.md). It may import the standard
// library, interp, interp/repl, builtins, builtins/session and stdlib
// (the embedded lessons), and nothing under them: nsh exec and nsh status go through the session
// (session.Exec, session.IptablesBackend), and the hidden re-exec children
// that nsh starts (the set-up of `ip netns exec`, the serve() server) run
// through builtins.Reexec, the one hook that main calls first thing.
package main
