// Package tests holds nsh's integration tests: they build the nsh binary,
// run real labs against the real kernel as root, each under --sandbox with
// names that cannot collide, and prove that nsh down leaves nothing
// behind. tests/star holds the Starlark suite for the language surface.
package tests
