// Package tests holds nsh's integration tests: they build the nsh binary,
// run real labs against the real kernel as root, each under --sandbox with
// names that cannot collide, and prove that nsh down leaves nothing
// behind. tests/star holds the Starlark suite for the language surface.
// layers_test.go checks that every package imports only the layers below
// its own, as docs/architecture.md draws them.
//
// Layer: tests run the binary and import no nsh package; tests/bench is a
// tool that may import any of them.
package tests
