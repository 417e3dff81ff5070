//go:build !cgo

package userns

// cgoJoin is false: built without cgo (CGO_ENABLED=0, or no C compiler),
// this nsh has no constructor to join a holder's namespaces with, so it
// cannot run without root.
const cgoJoin = false

// joinResult reports that nothing was joined.
func joinResult() (bool, error) { return false, nil }
