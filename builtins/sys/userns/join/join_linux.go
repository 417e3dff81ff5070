package join

import (
	"errors"
	"fmt"
	"os"
)

// The variables the constructor reads (see the package comment).
const (
	EnvHolder = "_NSH_USERNS_JOIN"
	EnvEnter  = "_NSH_NS_ENTER"
)

// enterAsked is whether this process was started with EnvEnter set.
var enterAsked bool

func init() {
	enterAsked = os.Getenv(EnvEnter) != ""
	// No command this process runs is to see it. EnvHolder is package
	// userns's to remove, with the variables that go with it.
	os.Unsetenv(EnvEnter)
}

// Holder reports whether the constructor joined the holder named by
// EnvHolder, or why it could not.
func Holder() (bool, error) { return holderResult() }

// Entered reports whether this process was asked (by EnvEnter) to enter a
// process's namespaces, and an error if it was but could not.
func Entered() (bool, error) {
	if !enterAsked {
		return false, nil
	}
	if !Available {
		return true, errors.New("this nsh was built without cgo (CGO_ENABLED=0, or no C compiler), so it cannot enter a user namespace")
	}
	ok, err := enterResult()
	if err == nil && !ok {
		err = fmt.Errorf("%s was set but not acted on", EnvEnter)
	}
	return true, err
}

// EnterValue returns the value of EnvEnter that makes a process enter
// the user namespace of process pid, of inode ino, open as the descriptor
// fd that the process inherits.
func EnterValue(pid int, ino uint64, fd int) string {
	return fmt.Sprintf("%d:%d:%d", pid, ino, fd)
}
