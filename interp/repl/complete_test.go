package repl

import (
	"slices"
	"testing"

	"github.com/nshlab/nsh/builtins"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
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
		// docs/repl.md's example of Tab.
		{`veth("a", pe`, "pe", []string{"peer=", "peer_ns="}},
		{`veth("a", "b", pe`, "pe", []string{"peer_ns="}},
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

// record stands for the values of builtins such as exec_in and ping: a
// struct whose type() is its own name rather than "struct".
type record struct {
	*starlarkstruct.Struct
	typ string
}

func (r record) Type() string { return r.typ }

func newRecord(typ string, fields starlark.StringDict) record {
	return record{starlarkstruct.FromStringDict(starlark.String(typ), fields), typ}
}

// TestCompleteRecordFields checks that the fields of a struct, and of a
// record built on one, complete without "(": they are not methods.
func TestCompleteRecordFields(t *testing.T) {
	fields := starlark.StringDict{"code": starlark.MakeInt(0), "ok": starlark.True}
	r := &repl{globals: starlark.StringDict{
		"r": newRecord("result", fields),
		"s": starlarkstruct.FromStringDict(starlarkstruct.Default, fields),
	}}
	c := &completer{r: r}
	for _, text := range []string{"r.co", "s.co"} {
		if _, got := c.complete(text); !slices.Equal(got, []string{"code"}) {
			t.Errorf("complete(%q) = %q, want [\"code\"]", text, got)
		}
	}
}

// TestFormatJournal checks that the list journal() returns, of records
// whose type() is "step", prints as the numbered list of docs/repl.md.
func TestFormatJournal(t *testing.T) {
	step := func(name, pos string, ops ...string) starlark.Value {
		var l []starlark.Value
		for _, o := range ops {
			l = append(l, starlark.String(o))
		}
		return newRecord("step", starlark.StringDict{"name": starlark.String(name), "pos": starlark.String(pos), "ops": starlark.NewList(l)})
	}
	v := starlark.NewList([]starlark.Value{
		step("sandbox", "", "ip netns add sb", "ip -n sb link set lo up"),
		step(`e = netns("earth")`, "<stdin>:1", "ip netns add earth"),
	})
	want := `1  sandbox
     ip netns add sb
     ip -n sb link set lo up
2  e = netns("earth")    [<stdin>:1]
     ip netns add earth`
	if got := format(v); got != want {
		t.Errorf("format(journal) =\n%s\nwant\n%s", got, want)
	}
	if got := format(starlark.NewList([]starlark.Value{newRecord("result", nil)})); got != "[result()]" {
		t.Errorf("format of a list of other records = %s", got)
	}
}
