// Package builtins defines nsh's Starlark values (netns, link, rule,
// process, result) and the predeclared builtins that scripts call.
//
// Builtins are thin: they unpack and validate their arguments, build
// operations (package ops), and hand them to the session (package
// builtins/session), which journals and applies them. Reading state (a link's
// MTU, a namespace's routes) goes straight to netlink.
package builtins
