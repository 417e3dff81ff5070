// Package session owns an nsh session: its directory under /run/nsh (for
// nsh without root, in the user's runtime directory: rootless.go), the
// exclusive lock that keeps a second nsh out, the write-ahead journal of
// operations grouped into steps, and the sandbox that stands in for host.
//
// Every change goes through Session.Apply: the operation is appended to the
// journal before it touches the kernel, and marked done (or failed) after.
// A journal record is written, not fsynced: it survives nsh being killed,
// and a machine crash takes the kernel objects it describes along with it
// (journal.go says why). Session.Atomic makes a builtin's several
// operations, or one operation and a check, one change that is reverted
// through the journal if it fails. Undo, Rollback, RevertSince and Down
// read the journal, so they work from any nsh process, including one
// started after the builder was killed.
//
// It also answers the questions that the CLI and the REPL would otherwise
// ask the plumbing: Inspect, List and Default (nsh status), Exec (nsh
// exec), IptablesBackend, Namespaces and LinkNames (completion). Owners
// reads the journals of the other sessions (without their locks) to say
// which session made a namespace or a link, so that the builtins can
// refuse to change another session's objects; shared.go lets sessions
// without a sandbox share the machine's own state (a sysctl, a table).
//
// Layer: builtins/session (docs/architecture.md). It may import the
// standard library, package ops and the builtins/sys packages; never
// Starlark or anything above. cmd/nsh and interp/repl reach the plumbing
// only through it.
package session
