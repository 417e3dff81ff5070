// Package kerneltest gives the tests of packages built on package kernel
// a named network namespace of their own, removed when the test ends.
//
// It is test support: only _test.go files may import it (tests/layers_test.go
// checks that). It imports package kernel and the testing package.
package kerneltest
