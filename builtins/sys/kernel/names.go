package kernel

import (
	"fmt"
	"strings"
	"unicode"
)

// IfNameMax is the longest interface name the kernel accepts, in bytes
// (IFNAMSIZ is 16 including the terminating NUL).
const IfNameMax = 15

// NetnsNameMax is the longest namespace name nsh accepts. The kernel itself
// has no limit (the name is a file in /run/netns), but NAME_MAX bounds it.
const NetnsNameMax = 255

// ValidateIfName reports whether name can be the name of a network
// interface: 1 to 15 bytes, no '/', ':' or white space, and not "." or "..".
func ValidateIfName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("interface name is empty")
	case len(name) > IfNameMax:
		return fmt.Errorf("interface name %q is %d bytes, longer than the kernel's limit of %d (IFNAMSIZ)", name, len(name), IfNameMax)
	case name == "." || name == "..":
		return fmt.Errorf("interface name %q is not allowed", name)
	}
	if err := badChars(name, "/:"); err != nil {
		return fmt.Errorf("interface name %q %v", name, err)
	}
	return nil
}

// ValidateNetnsName reports whether name can be the name of a namespace in
// /run/netns: not empty, not "host", no '/' or white space, not "." or "..".
func ValidateNetnsName(name string) error {
	switch {
	case name == "":
		return fmt.Errorf("namespace name is empty")
	case name == "." || name == "..":
		return fmt.Errorf("namespace name %q is not allowed", name)
	case name == "host":
		return fmt.Errorf("namespace name %q is reserved for the session's host namespace", name)
	case len(name) > NetnsNameMax:
		return fmt.Errorf("namespace name is %d bytes, longer than %d", len(name), NetnsNameMax)
	}
	if err := badChars(name, "/"); err != nil {
		return fmt.Errorf("namespace name %q %v", name, err)
	}
	return nil
}

func badChars(name, forbidden string) error {
	for _, r := range name {
		if unicode.IsSpace(r) || !unicode.IsPrint(r) {
			return fmt.Errorf("contains white space or a control character")
		}
		if strings.ContainsRune(forbidden, r) {
			return fmt.Errorf("contains %q", r)
		}
	}
	return nil
}
