// Package repl is nsh's read-eval-print loop: it reads Starlark statements
// from a terminal (with line editing, completion and a history file on
// chzyer/readline) or from a pipe, and runs each one as a step of the
// session, so that undo() takes back the last statement.
//
// A statement that fails, or that is interrupted with Ctrl-C, is reverted
// by itself and the loop goes on; reading from a pipe, the loop stops at
// the first failure instead, so that a heredoc in a test fails as a
// script would.
//
// The loop is modeled on go.starlark.net/repl: a statement is read with
// syntax.ParseCompoundStmt, an expression is evaluated and its value
// printed (and kept in _), anything else is run with
// starlark.ExecREPLChunk against globals that persist. Unlike that REPL,
// lines read beyond the end of a block are kept for the next statement,
// and positions count lines from the start of the input.
//
// A program can run a REPL of its own on top (nsh learn runs a lesson in
// it) through the hooks of Options: Globals to predeclare names of its
// own, AfterStatement to act after each statement, Prompt and LeftUp; the
// builtins every script sees stay as they are.
//
// Layer: interp/repl, above interp (docs/architecture.md). It may import
// the standard library, go.starlark.net, readline, docs, interp, builtins
// and builtins/session; completion asks the session for namespace and link
// names instead of the plumbing (builtins/ops and builtins/sys are out of
// its reach).
package repl
