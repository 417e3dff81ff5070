package repl

import (
	"sort"
	"strings"

	"github.com/nshlab/nsh/builtins"
	"github.com/nshlab/nsh/docs"
	"go.starlark.net/starlark"
)

// completer completes what is typed at the REPL's prompt: names of
// builtins and variables; attributes and methods after "x."; keyword
// arguments inside a call; and, inside a string, the names of the
// namespaces and links that exist in the session.
type completer struct {
	r *repl
}

// keywords are the Starlark keywords worth completing.
var keywords = []string{"and", "break", "continue", "def", "elif", "else", "for", "if", "in", "lambda", "load", "not", "or", "pass", "return", "while", "True", "False", "None"}

// Do implements readline.AutoCompleter: it returns the candidates' missing
// parts and the length of the word they complete.
func (c *completer) Do(line []rune, pos int) ([][]rune, int) {
	word, cands := c.complete(string(line[:pos]))
	out := make([][]rune, 0, len(cands))
	for _, cand := range cands {
		out = append(out, []rune(strings.TrimPrefix(cand, word)))
	}
	return out, len([]rune(word))
}

// complete returns the word before the cursor and the sorted candidates
// that extend it.
func (c *completer) complete(text string) (string, []string) {
	if quote, at, ok := openString(text); ok {
		word := text[at:]
		names := c.objectNames(kwargBefore(text[:at-1]))
		return word, withPrefix(names, word, string(quote))
	}
	i := len(text)
	for i > 0 && isIdentByte(text[i-1]) || i > 0 && text[i-1] == '.' {
		i--
	}
	expr := text[i:]
	if dot := strings.LastIndexByte(expr, '.'); dot >= 0 {
		word := expr[dot+1:]
		v := c.value(expr[:dot])
		if v == nil {
			return word, nil
		}
		return word, withPrefix(attrCandidates(v), word, "")
	}
	word := expr
	var names []string
	if callee, positional, given, ok := openCall(text[:i]); ok {
		params := c.params(callee)
		for _, p := range params[min(positional, len(params)):] {
			if !given[p] {
				names = append(names, p+"=")
			}
		}
		if word == "" {
			// Keyword arguments in the order of the signature.
			return word, names
		}
	} else if word == "" {
		return word, nil
	}
	for name, v := range c.r.globals {
		if _, ok := v.(starlark.Callable); ok {
			name += "("
		}
		names = append(names, name)
	}
	for _, name := range starlark.Universe.Keys() {
		if _, ok := c.r.globals[name]; !ok {
			if _, ok := starlark.Universe[name].(starlark.Callable); ok {
				name += "("
			}
			names = append(names, name)
		}
	}
	names = append(names, keywords...)
	return word, withPrefix(names, word, "")
}

// withPrefix returns the sorted, distinct names that start with prefix,
// each followed by suffix.
func withPrefix(names []string, prefix, suffix string) []string {
	seen := map[string]bool{}
	var out []string
	for _, n := range names {
		if !strings.HasPrefix(n, prefix) || seen[n] {
			continue
		}
		if strings.HasPrefix(n, "_") && !strings.HasPrefix(prefix, "_") {
			continue
		}
		seen[n] = true
		out = append(out, n+suffix)
	}
	sort.Strings(out)
	return out
}

func isIdentByte(b byte) bool {
	return b == '_' || 'a' <= b && b <= 'z' || 'A' <= b && b <= 'Z' || '0' <= b && b <= '9'
}

// openString reports whether text ends inside a string literal, and if so
// its quote and where its contents begin. A comment ends the code.
func openString(text string) (quote byte, at int, ok bool) {
	quote, at = scanCode(text, func(_ int, b byte) bool { return b != '#' })
	return quote, at, quote != 0
}

// kwargBefore returns the keyword a string argument is given for, as in
// `veth("a", "b", ns="`, or "".
func kwargBefore(text string) string {
	text = strings.TrimRight(text, " ")
	if !strings.HasSuffix(text, "=") {
		return ""
	}
	text = strings.TrimRight(text[:len(text)-1], " ")
	i := len(text)
	for i > 0 && isIdentByte(text[i-1]) {
		i--
	}
	return text[i:]
}

// openCall finds the innermost call that text leaves open, and returns
// its callee expression, how many positional arguments it has been given,
// and the keyword arguments already given.
func openCall(text string) (callee string, positional int, given map[string]bool, ok bool) {
	// Find the innermost unclosed parenthesis.
	var stack []int
	scanCode(text, func(i int, b byte) bool {
		switch b {
		case '(', '[', '{':
			stack = append(stack, i)
		case ')', ']', '}':
			if len(stack) > 0 {
				stack = stack[:len(stack)-1]
			}
		}
		return true
	})
	if len(stack) == 0 {
		return "", 0, nil, false
	}
	open := stack[len(stack)-1]
	if text[open] != '(' {
		return "", 0, nil, false
	}
	j := open
	for j > 0 && (isIdentByte(text[j-1]) || text[j-1] == '.') {
		j--
	}
	callee = text[j:open]
	if callee == "" {
		return "", 0, nil, false
	}
	given = map[string]bool{}
	parts := splitArgs(text[open+1:])
	for _, part := range parts[:len(parts)-1] {
		if k, _, ok := strings.Cut(part, "="); ok && isIdent(strings.TrimSpace(k)) {
			given[strings.TrimSpace(k)] = true
		} else {
			positional++
		}
	}
	return callee, positional, given, true
}

// splitArgs splits the text of a call's arguments at the commas that are
// not inside brackets or strings.
func splitArgs(args string) []string {
	var out []string
	depth, from := 0, 0
	scanCode(args, func(i int, b byte) bool {
		switch b {
		case '(', '[', '{':
			depth++
		case ')', ']', '}':
			depth--
		case ',':
			if depth == 0 {
				out = append(out, args[from:i])
				from = i + 1
			}
		}
		return true
	})
	return append(out, args[from:])
}

// scanCode calls f for each byte of text that is outside a string
// literal, until f returns false. If text ends inside a string literal
// (and f never returned false), it returns the literal's quote and where
// its contents begin.
func scanCode(text string, f func(i int, b byte) bool) (quote byte, at int) {
	for i := 0; i < len(text); i++ {
		b := text[i]
		switch {
		case quote != 0 && b == '\\':
			i++
		case quote != 0 && b == quote:
			quote = 0
		case quote != 0:
		case b == '"' || b == '\'':
			quote, at = b, i+1
		case !f(i, b):
			return 0, 0
		}
	}
	return quote, at
}

func isIdent(s string) bool {
	if s == "" || '0' <= s[0] && s[0] <= '9' {
		return false
	}
	for i := 0; i < len(s); i++ {
		if !isIdentByte(s[i]) {
			return false
		}
	}
	return true
}

// value evaluates a chain of names such as "a" or "a.peer.ns" without
// calling anything, or returns nil.
func (c *completer) value(chain string) starlark.Value {
	parts := strings.Split(chain, ".")
	v, ok := c.r.globals[parts[0]]
	if !ok {
		v, ok = starlark.Universe[parts[0]]
	}
	if !ok {
		return nil
	}
	for _, p := range parts[1:] {
		ha, ok := v.(starlark.HasAttrs)
		if !ok {
			return nil
		}
		x, err := ha.Attr(p)
		if err != nil || x == nil {
			return nil
		}
		v = x
	}
	return v
}

// attrCandidates lists a value's attributes, methods followed by "(".
func attrCandidates(v starlark.Value) []string {
	ha, ok := v.(starlark.HasAttrs)
	if !ok {
		return nil
	}
	methods, known := builtins.ValueMethods[v.Type()]
	// A struct, or a record built on one (the result of exec_in, ping,
	// journal, ...), has fields, not methods.
	_, isStruct := v.(interface{ ToStringDict(starlark.StringDict) })
	var out []string
	for _, name := range ha.AttrNames() {
		switch {
		case known:
			for _, m := range methods {
				if m == name {
					name += "("
					break
				}
			}
		case isStruct:
		default:
			// The attributes of Starlark's own types are methods.
			name += "("
		}
		out = append(out, name)
	}
	return out
}

// params returns the parameter names of the callee of a call, from its
// docs entry or from its definition.
func (c *completer) params(callee string) []string {
	v := c.value(callee)
	switch v := v.(type) {
	case *starlark.Builtin:
		if r := v.Receiver(); r != nil {
			return docs.Params(r.Type() + "." + v.Name())
		}
		return docs.Params(v.Name())
	case *starlark.Function:
		var out []string
		for i := 0; i < v.NumParams(); i++ {
			p, _ := v.Param(i)
			out = append(out, p)
		}
		return out
	}
	return nil
}

// objectNames lists the names of the session's namespaces (with host)
// and, unless the string is for a namespace parameter, the names of the
// links in them.
func (c *completer) objectNames(kwarg string) []string {
	s := c.r.s
	nss := s.Namespaces()
	out := append([]string(nil), nss...)
	if kwarg == "ns" || kwarg == "peer_ns" {
		return out
	}
	for _, name := range nss {
		out = append(out, s.LinkNames(name)...)
	}
	return out
}
