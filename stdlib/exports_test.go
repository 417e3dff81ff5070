package stdlib

import "testing"

func TestExports(t *testing.T) {
	ex := Exports()
	for name, file := range map[string]string{
		"reachable":      "check.star",
		"unreachable":    "check.star",
		"forward_accept": "firewall.star",
		"nat_gateway":    "firewall.star",
		"assert":         "assert.star",
		"lan":            "topo.star",
	} {
		if ex[name] != file {
			t.Errorf("Exports()[%q] = %q, want %q", name, ex[name], file)
		}
	}
	for name := range ex {
		if name[0] == '_' {
			t.Errorf("Exports() has private name %q", name)
		}
	}
}
