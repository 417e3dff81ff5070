// Package session owns an nsh session: its directory under /run/nsh, the
// exclusive lock that keeps a second nsh out, and the write-ahead journal of
// operations grouped into steps.
//
// Every change goes through Session.Apply: the operation is appended to the
// journal and synced before it touches the kernel, and marked done (or
// failed) after. Undo and Down read the journal, so they work from any nsh
// process, including one started after the builder was killed.
//
// Owners reads the journals of the other sessions (without their locks) to
// say which session made a namespace or a link, so that the builtins can
// refuse to change another session's objects.
package session
