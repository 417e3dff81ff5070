// Package interp runs nsh's Starlark: it makes threads with the
// predeclared builtins, resolves load() of files relative to the loading
// script and of the embedded standard library ("@nsh//NAME.star"), caches
// modules and detects load cycles, and formats errors with the script
// position of the failing call.
//
// The REPL (package interp/repl) lives beside it; the session it runs
// scripts in is package builtins/session, one layer below.
package interp
