package builtins

import (
	"slices"
	"strings"
	"testing"

	"github.com/nshlab/nsh/docs"
	"go.starlark.net/starlark"
)

// TestEveryBuiltinHasHelp checks that every predeclared builtin, value
// type and method has an entry in docs/builtins and is in a family of
// help(), and that every entry has the parts help() shows.
func TestEveryBuiltinHasHelp(t *testing.T) {
	var want []string
	for name := range Predeclared(&Env{}) {
		want = append(want, name)
	}
	for typ, methods := range ValueMethods {
		want = append(want, typ)
		for _, m := range methods {
			want = append(want, typ+"."+m)
		}
	}
	want = append(want, "result", "rule")
	slices.Sort(want)
	var missing []string
	for _, name := range want {
		if _, ok := docs.Entry(name); !ok {
			missing = append(missing, "docs/builtins/"+name+".md")
		}
	}
	if len(missing) > 0 {
		t.Errorf("missing help entries:\n\t%s", strings.Join(missing, "\n\t"))
	}

	listed := map[string]bool{}
	for _, f := range HelpFamilies {
		for _, n := range f.Names {
			listed[n] = true
		}
	}
	for name := range Predeclared(&Env{}) {
		if !listed[name] {
			t.Errorf("builtin %s is in no family of HelpFamilies", name)
		}
	}

	for _, name := range docs.Names() {
		text, _ := docs.Entry(name)
		if !strings.HasPrefix(text, "# ") {
			t.Errorf("%s.md: the first line is not a heading", name)
		}
		if !strings.Contains(text, "\niproute2: ") {
			t.Errorf("%s.md: no \"iproute2: \" line", name)
		}
		if !strings.Contains(text, "\nExample:\n\n    ") {
			t.Errorf("%s.md: no indented example after \"Example:\"", name)
		}
		if strings.Contains(docs.Signature(name), "(") {
			if _, ok := Predeclared(&Env{})[strings.SplitN(name, ".", 2)[0]]; !ok && !strings.Contains(name, ".") {
				t.Errorf("%s.md documents a builtin that is not predeclared", name)
			}
		}
	}
}

func TestDocsParams(t *testing.T) {
	if got := docs.Params("veth"); !slices.Equal(got, []string{"name", "peer", "ns", "peer_ns"}) {
		t.Errorf("Params(veth) = %v", got)
	}
	if got := docs.Params("link.addr"); !slices.Equal(got, []string{"cidr", "brd", "nodad"}) {
		t.Errorf("Params(link.addr) = %v", got)
	}
}

func TestHelpText(t *testing.T) {
	env := &Env{}
	pre := Predeclared(env)
	for _, c := range []struct {
		x    starlark.Value
		want string
	}{
		{starlark.None, "Namespaces and links:"},
		{pre["veth"], "veth(name, peer, ns=host, peer_ns=host) -> (link, link)"},
		{starlark.String("link.addr"), "ip [-n NS] addr add CIDR [brd BRD] dev NAME [nodad]"},
		{starlark.String("link.mtu"), "mtu is an attribute of link values"},
		{(&Link{env: env, name: "a"}).mustAttr("addr"), "link.addr(cidr, brd=None, nodad=False) -> link"},
		{pre["host"], "# netns(name"[2:]},
		{starlark.String("len"), "Starlark built-in"},
	} {
		got, err := HelpText(c.x)
		if err != nil {
			t.Errorf("help(%s): %v", c.x, err)
			continue
		}
		if !strings.Contains(got, c.want) {
			t.Errorf("help(%s) = %q, want it to contain %q", c.x, got, c.want)
		}
	}
	if _, err := HelpText(starlark.String("nosuch")); err == nil {
		t.Errorf("help(\"nosuch\") did not fail")
	}
}

func (l *Link) mustAttr(name string) starlark.Value {
	v, _ := l.Attr(name)
	return v
}
