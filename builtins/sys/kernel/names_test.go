package kernel

import (
	"strings"
	"testing"
)

func TestValidateIfName(t *testing.T) {
	for _, ok := range []string{"eth0", "earth-veth", "a", strings.Repeat("x", 15), "veth.1", "br_0"} {
		if err := ValidateIfName(ok); err != nil {
			t.Errorf("ValidateIfName(%q) = %v, want nil", ok, err)
		}
	}
	for bad, want := range map[string]string{
		"":                      "empty",
		strings.Repeat("x", 16): "16 bytes, longer than the kernel's limit of 15",
		"a/b":                   `contains '/'`,
		"a b":                   "white space",
		"a:1":                   `contains ':'`,
		"..":                    "not allowed",
		"tab\t":                 "white space",
	} {
		err := ValidateIfName(bad)
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("ValidateIfName(%q) = %v, want error containing %q", bad, err, want)
		}
	}
}

func TestValidateNetnsName(t *testing.T) {
	for _, ok := range []string{"earth", "a-very-long-namespace-name-is-fine", "ns.1"} {
		if err := ValidateNetnsName(ok); err != nil {
			t.Errorf("ValidateNetnsName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "host", "a/b", "a b", ".", ".."} {
		if err := ValidateNetnsName(bad); err == nil {
			t.Errorf("ValidateNetnsName(%q) = nil, want an error", bad)
		}
	}
}
