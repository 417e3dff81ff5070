package ops

import (
	"errors"
	"fmt"

	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/nshlab/nsh/builtins/sys/userns"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// reason turns a kernel error into a short phrase a person can act on.
func reason(err error) string {
	var nf netlink.LinkNotFoundError
	switch {
	case errors.As(err, &nf):
		return "no such link"
	case errors.Is(err, kernel.ErrNoNamespace):
		return "no such namespace"
	case errors.Is(err, unix.EPERM), errors.Is(err, unix.EACCES):
		if userns.Dir() != "" {
			return "operation not permitted: only the machine's root may do this, and nsh runs without root (in a user namespace of yours); run nsh as root for it"
		}
		return "operation not permitted (nsh must run as root)"
	case errors.Is(err, unix.EEXIST):
		return "it already exists"
	case errors.Is(err, unix.ENODEV):
		return "no such link"
	case errors.Is(err, unix.ENETUNREACH):
		return "the gateway is not reachable (no address on its subnet, or the link is down)"
	case errors.Is(err, unix.ERANGE):
		return "value out of range"
	case errors.Is(err, unix.EADDRNOTAVAIL):
		return "address not available"
	case errors.Is(err, unix.ESRCH):
		return "no such route"
	case errors.Is(err, unix.EBUSY):
		return "device or resource busy"
	}
	return err.Error()
}

// failed builds the error "failed to VERB WHAT: REASON", keeping err in the
// chain for errors.Is.
func failed(what string, err error) error {
	return &opError{msg: fmt.Sprintf("failed to %s: %s", what, reason(err)), err: err}
}

type opError struct {
	msg string
	err error
}

func (e *opError) Error() string { return e.msg }
func (e *opError) Unwrap() error { return e.err }

// gone reports whether err means the object is already absent, which
// makes a revert a success.
func gone(err error) bool {
	var nf netlink.LinkNotFoundError
	return errors.As(err, &nf) ||
		errors.Is(err, kernel.ErrNoNamespace) ||
		errors.Is(err, unix.ENODEV) ||
		errors.Is(err, unix.ENOENT) ||
		errors.Is(err, unix.ESRCH) ||
		errors.Is(err, unix.EADDRNOTAVAIL)
}

func inNS(ns string) string {
	if isHost(ns) {
		return ""
	}
	return fmt.Sprintf(" in namespace %q", ns)
}
