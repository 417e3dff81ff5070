//go:build !cgo

package join

// Available is false: built without cgo (CGO_ENABLED=0, or no C
// compiler), this nsh has no constructor to join namespaces with, so it
// cannot run without root nor enter a container's user namespace.
const Available = false

// holderResult and enterResult report that nothing was joined.
func holderResult() (bool, error) { return false, nil }
func enterResult() (bool, error)  { return false, nil }
