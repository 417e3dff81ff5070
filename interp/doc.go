// Package interp runs nsh's Starlark: it makes threads with the
// predeclared builtins, resolves load() of files relative to the loading
// script and of the embedded standard library ("@nsh//NAME.star"), caches
// modules and detects load cycles, and formats errors with the script
// position of the failing call.
//
// Layer: interp, above the Starlark values (docs/architecture.md). It may
// import the standard library, go.starlark.net, stdlib, docs, builtins
// and builtins/session; not builtins/ops or builtins/sys, which it reaches
// through the session. The REPL (package interp/repl) is the layer above.
package interp
