package repl

import (
	"slices"
	"testing"

	"github.com/nshlab/nsh/builtins"
	"go.starlark.net/starlark"
)

func TestComplete(t *testing.T) {
	env := &builtins.Env{}
	r := &repl{globals: builtins.Predeclared(env)}
	r.globals["answer"] = starlark.MakeInt(42)
	r.globals["s"] = starlark.String("x")
	c := &completer{r: r}
	for _, tc := range []struct {
		text, word string
		want       []string
	}{
		{"vet", "vet", []string{"veth("}},
		{"x = ans", "ans", []string{"answer"}},
		{"host.li", "li", []string{"link(", "links("}},
		{"host.na", "na", []string{"name"}},
		{"s.up", "up", []string{"upper("}},
		{`veth("a", "b", peer_`, "peer_", []string{"peer_ns="}},
		{`veth("a", `, "", []string{"peer=", "ns=", "peer_ns="}},
		{`veth("a", ns="x", `, "", []string{"peer=", "peer_ns="}},
		{`host.exec("ls", ti`, "ti", []string{"timeout="}},
		{`print(len([1, 2]), ve`, "ve", []string{"veth("}},
		{"nosuch.x", "x", nil},
		{"", "", nil},
	} {
		word, got := c.complete(tc.text)
		if word != tc.word || !slices.Equal(got, tc.want) {
			t.Errorf("complete(%q) = %q, %q; want %q, %q", tc.text, word, got, tc.word, tc.want)
		}
	}
}

func TestOpenString(t *testing.T) {
	for _, tc := range []struct {
		text string
		at   int
		ok   bool
	}{
		{`lookup("ea`, 8, true},
		{`lookup("earth")`, 0, false},
		{`x = 'a\'b`, 5, true},
		{`x = 1 # "`, 0, false},
	} {
		_, at, ok := openString(tc.text)
		if ok != tc.ok || ok && at != tc.at {
			t.Errorf("openString(%q) = %d, %v; want %d, %v", tc.text, at, ok, tc.at, tc.ok)
		}
	}
	if k := kwargBefore(`veth("a", "b", peer_ns = `); k != "peer_ns" {
		t.Errorf("kwargBefore = %q", k)
	}
}

func TestStepName(t *testing.T) {
	if got := stepName("for i in x:\n    f(i)"); got != "for i in x: ..." {
		t.Errorf("stepName = %q", got)
	}
	if got := stepName(`  a.addr("10.0.0.1/24")  `); got != `a.addr("10.0.0.1/24")` {
		t.Errorf("stepName = %q", got)
	}
}
