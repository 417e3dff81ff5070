package builtins

import "testing"

func TestNearest(t *testing.T) {
	names := []string{"veth", "bridge", "netns", "earth", "mars", "True", "ip_forward"}
	for x, want := range map[string]string{
		"veht":       "veth", // a swap is one edit
		"vet":        "veth",
		"earht":      "earth",
		"bridg":      "bridge",
		"true":       "True",
		"ip_froward": "ip_forward",
		"xyz":        "",
		"ns":         "",
		"veth":       "", // the name itself is no suggestion
	} {
		if got := Nearest(x, names); got != want {
			t.Errorf("Nearest(%q) = %q, want %q", x, got, want)
		}
	}
}
