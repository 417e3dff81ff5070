// Package tests holds nsh's integration tests: they build the nsh binary,
// run real labs against the real kernel as root, each under --sandbox with
// names that cannot collide, and prove that nsh down leaves nothing
// behind. tests/star holds the Starlark suite for the language surface.
// layers_test.go checks that every package imports only the layers below
// its own, as docs/architecture.md draws them.
//
// Running two suites on one machine at once: --sandbox keeps a lab's
// namespaces, but not /etc/netns/NAME, which `ip netns exec` finds by
// name in the machine's /etc. The tutorials' labs use fixed names
// (seed004-3-dummy writes /etc/netns/netns1/hosts), and TestOracle and
// TestExportBuildsTheSameLab compare /etc/netns; so each run needs a
// private /etc/netns as well as a private /run (a mount namespace with a
// tmpfs on each), or the runs see and remove each other's files.
//
// Layer: tests run the binary and import no nsh package; tests/bench is a
// tool that may import any of them.
package tests
