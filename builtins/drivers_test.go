package builtins

import (
	"os"
	"testing"
)

func TestHasDriver(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a namespace to probe in")
	}
	for kind, want := range map[string]bool{"veth": true, "bridge": true, "nosuchkind": false} {
		got, err := HasDriver(kind)
		if err != nil || got != want {
			t.Errorf("HasDriver(%q) = %v, %v; want %v", kind, got, err, want)
		}
	}
	before, _ := os.ReadDir("/run/netns")
	HasDriver("vxlan")
	after, _ := os.ReadDir("/run/netns")
	if len(after) > len(before) {
		t.Errorf("the probe left a named namespace")
	}
}
