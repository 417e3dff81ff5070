// Package interp runs nsh's Starlark: it makes threads with the
// predeclared builtins, resolves load() of files relative to the loading
// script and of the embedded standard library ("@nsh//NAME.star"), caches
// modules and detects load cycles, and formats errors with the script
// position of the failing call.
//
// The session (package interp/session) and the REPL (package interp/repl)
// live beside it.
package interp
