package docs

import (
	"embed"
	"io/fs"
	"sort"
	"strings"
)

// FS holds the reference: language.md, repl.md and builtins/*.md.
//
//go:embed *.md builtins/*.md
var FS embed.FS

// Entry returns the text of the entry NAME ("veth", "link", "link.addr"),
// and whether there is one.
func Entry(name string) (string, bool) {
	if name == "" || strings.ContainsAny(name, "/\\") {
		return "", false
	}
	b, err := fs.ReadFile(FS, "builtins/"+name+".md")
	if err != nil {
		return "", false
	}
	return string(b), true
}

// Names returns the names of all entries, sorted.
func Names() []string {
	ents, _ := fs.ReadDir(FS, "builtins")
	var names []string
	for _, e := range ents {
		if n, ok := strings.CutSuffix(e.Name(), ".md"); ok {
			names = append(names, n)
		}
	}
	sort.Strings(names)
	return names
}

// Signature returns the entry's heading without its "# ": for a builtin
// or method, its signature, e.g. "veth(name, peer, ns=host, peer_ns=host)
// -> (link, link)".
func Signature(name string) string {
	text, ok := Entry(name)
	if !ok {
		return ""
	}
	line, _, _ := strings.Cut(text, "\n")
	return strings.TrimSpace(strings.TrimPrefix(line, "#"))
}

// Params returns the parameter names of a builtin or method from its
// signature, e.g. [name peer ns peer_ns] for veth, or nil.
func Params(name string) []string {
	sig := Signature(name)
	open := strings.IndexByte(sig, '(')
	end := strings.IndexByte(sig, ')')
	if open < 0 || end < open {
		return nil
	}
	var out []string
	for _, p := range strings.Split(sig[open+1:end], ",") {
		p, _, _ = strings.Cut(p, "=")
		p = strings.TrimLeft(strings.TrimSpace(p), "*")
		if p != "" {
			out = append(out, p)
		}
	}
	return out
}

// Summary returns the first sentence of the entry's first paragraph, with
// Markdown code quotes removed.
func Summary(name string) string {
	text, ok := Entry(name)
	if !ok {
		return ""
	}
	_, body, _ := strings.Cut(text, "\n")
	body = strings.TrimLeft(body, "\n")
	para, _, _ := strings.Cut(body, "\n\n")
	para = strings.Join(strings.Fields(para), " ")
	para = strings.ReplaceAll(para, "`", "")
	for i := 0; i+1 < len(para); i++ {
		if para[i] == '.' && para[i+1] == ' ' && !strings.HasSuffix(para[:i], "e.g") && !strings.HasSuffix(para[:i], "i.e") {
			return para[:i+1]
		}
	}
	return para
}
