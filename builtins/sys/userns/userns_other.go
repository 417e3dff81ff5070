//go:build !linux

package userns

// Init does nothing where there are no user namespaces.
func Init() {}

// Dir returns "": nsh runs as root or not at all.
func Dir() string { return "" }
