package builtins

import (
	"fmt"
	"os"
	"sort"
	"strings"

	"github.com/nshlab/nsh/docs"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
)

func init() {
	extra["help"] = starlark.NewBuiltin("help", helpBuiltin)
}

// A HelpFamily is a group of related entries that help() lists together.
type HelpFamily struct {
	Title string
	// Names are entries of package docs: builtins, value types
	// ("link"), and methods ("link.addr").
	Names []string
}

// HelpFamilies are the families help() lists, in order. Every builtin nsh
// predeclares is in one of them.
var HelpFamilies = []HelpFamily{
	{"Namespaces and links", []string{"netns", "veth", "bridge", "dummy", "macvlan", "vxlan", "vlan", "tap", "tun", "has_driver", "netns_of", "host", "link"}},
	{"Addresses, routes and sysctls", []string{"link.addr", "route", "sysctl", "ip_forward"}},
	{"Firewall", []string{"masquerade", "dnat", "iptables", "ip6tables", "rule"}},
	{"Processes", []string{"container", "exec_in", "spawn", "process", "result"}},
	{"Probes", []string{"ping", "pingall", "connect", "serve", "throughput"}},
	{"Session", []string{"step", "undo", "journal", "lookup", "help"}},
}

// ValueMethods maps each value type to the names of its methods, for
// help() and for the test that every method is documented.
var ValueMethods = map[string][]string{
	"netns":     sortedKeys(netnsMethods),
	"link":      sortedKeys(linkMethods),
	"process":   sortedKeys(processMethods),
	"container": sortedKeys(containerMethods),
}

func sortedKeys(m map[string]*starlark.Builtin) []string {
	out := make([]string, 0, len(m))
	for k := range m {
		out = append(out, k)
	}
	sort.Strings(out)
	return out
}

// structEntries names the entry of each kind of struct a builtin returns.
var structEntries = map[string]string{
	"result": "result", "ping": "ping", "connection": "connect", "step": "journal",
}

const starlarkSpec = "https://github.com/bazelbuild/starlark/blob/master/spec.md"

// help(x=None) prints the index of builtins, or the entry for x.
func helpBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var x starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "x?", &x); err != nil {
		return nil, err
	}
	text, err := HelpText(x)
	if err != nil {
		return nil, err
	}
	out := strings.TrimRight(text, "\n")
	if thread.Print != nil {
		thread.Print(thread, out)
	} else {
		fmt.Fprintln(os.Stdout, out)
	}
	return starlark.None, nil
}

// HelpText returns what help(x) prints.
func HelpText(x starlark.Value) (string, error) {
	switch x := x.(type) {
	case starlark.NoneType:
		return HelpIndex(), nil
	case starlark.String:
		return helpName(string(x))
	case *starlark.Builtin:
		if r := x.Receiver(); r != nil {
			name := r.Type() + "." + x.Name()
			if _, ok := docs.Entry(name); ok {
				return helpName(name)
			}
			return fmt.Sprintf("%s is a method of Starlark's %s type: see %s#%s·%s\n", name, r.Type(), starlarkSpec, r.Type(), x.Name()), nil
		}
		return helpName(x.Name())
	case *starlark.Function:
		var params []string
		for i := 0; i < x.NumParams(); i++ {
			p, _ := x.Param(i)
			params = append(params, p)
		}
		s := fmt.Sprintf("%s(%s): a function defined at %s\n", x.Name(), strings.Join(params, ", "), x.Position())
		if d := x.Doc(); d != "" {
			s += "\n" + d + "\n"
		}
		return s, nil
	case *starlarkstruct.Module:
		return helpName(x.Name)
	case *starlarkstruct.Struct:
		if c, ok := x.Constructor().(starlark.String); ok {
			if e, ok := structEntries[string(c)]; ok {
				return helpName(e)
			}
		}
		return fmt.Sprintf("a struct with the fields %s\n", strings.Join(x.AttrNames(), ", ")), nil
	}
	if _, ok := docs.Entry(x.Type()); ok {
		return helpName(x.Type())
	}
	return "", fmt.Errorf("no help for a value of type %s; help() lists what there is", x.Type())
}

// helpName returns the entry for a name such as "veth" or "link.addr".
func helpName(name string) (string, error) {
	if text, ok := docs.Entry(name); ok {
		return RenderEntry(text), nil
	}
	if typ, attr, ok := strings.Cut(name, "."); ok {
		if text, ok := docs.Entry(typ); ok && !strings.Contains(attr, ".") {
			return fmt.Sprintf("%s is an attribute of %s values:\n\n%s", name, typ, RenderEntry(text)), nil
		}
	}
	if _, ok := starlark.Universe[name]; ok {
		return fmt.Sprintf("%s is a Starlark built-in: see %s#%s\n", name, starlarkSpec, name), nil
	}
	switch name {
	case "json", "math", "time":
		return fmt.Sprintf("%s is a module of Starlark's library: see https://pkg.go.dev/go.starlark.net/lib/%s\n", name, name), nil
	case "struct":
		return "struct(**kwargs) makes a struct value: struct(a=1).a == 1. See https://pkg.go.dev/go.starlark.net/starlarkstruct\n", nil
	case "load":
		return "load(module, *names) loads names from a .star file, or from nsh's standard library as load(\"@nsh//topo.star\", \"lan\").\n", nil
	}
	return "", fmt.Errorf("no help for %q; help() lists what there is", name)
}

// RenderEntry turns an entry's Markdown into plain text for a terminal.
func RenderEntry(text string) string {
	text = strings.TrimPrefix(text, "# ")
	return strings.ReplaceAll(text, "`", "")
}

// HelpIndex returns what help() prints: the builtins by family.
func HelpIndex() string {
	var b strings.Builder
	b.WriteString("nsh builtins by family. help(NAME) shows an entry: help(veth), help(\"link.addr\").\n")
	for _, f := range HelpFamilies {
		var lines []string
		for _, n := range f.Names {
			sig := docs.Signature(n)
			if sig == "" {
				continue // not in this build
			}
			if !strings.Contains(sig, "(") {
				sig = fmt.Sprintf("%-10s %s", sig, shortSummary(n))
			}
			lines = append(lines, "  "+sig+"\n")
		}
		if len(lines) > 0 {
			fmt.Fprintf(&b, "\n%s:\n%s", f.Title, strings.Join(lines, ""))
		}
	}
	b.WriteString("\nMethods, e.g. help(\"netns.exec\"):\n")
	for _, t := range []string{"netns", "link", "process"} {
		fmt.Fprintf(&b, "  %-8s %s\n", t+":", strings.Join(ValueMethods[t], " "))
	}
	b.WriteString("\nStarlark's own built-ins (len, range, print, ...) and modules json, math, time\nand struct are described in the Starlark spec: " + starlarkSpec + "\n")
	return b.String()
}

// shortSummary returns the first sentence of an entry, shortened to fit a
// line.
func shortSummary(name string) string {
	s := docs.Summary(name)
	if len(s) > 66 {
		if i := strings.LastIndexByte(s[:66], ' '); i > 0 {
			s = s[:i] + " ..."
		}
	}
	return s
}
