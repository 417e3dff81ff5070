// Package kerneltest gives the tests of packages built on package kernel
// a named network namespace of their own, removed when the test ends.
package kerneltest
