package session

import (
	"path/filepath"

	"github.com/nshlab/nsh/builtins/sys/userns"
)

// In an nsh run by a normal user, inside the user namespace of the user's
// labs (package userns), sessions live in the user's runtime directory
// instead of /run/nsh, which only root may write.
func init() {
	if d := userns.Dir(); d != "" {
		RunDir = filepath.Join(d, userns.SessionsDir)
	}
}

// Rootless reports whether nsh runs without root, in the user namespace
// of the user's labs, and returns the runtime directory that holds them.
func Rootless() (string, bool) {
	d := userns.Dir()
	return d, d != ""
}
