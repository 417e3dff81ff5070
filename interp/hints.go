package interp

import (
	"errors"
	"fmt"
	"io/fs"
	"os"
	"regexp"
	"slices"
	"strings"
	"sync"

	"github.com/nshlab/nsh/builtins"
	"github.com/nshlab/nsh/stdlib"
	"go.starlark.net/resolve"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// hint returns advice to append to the message of an error that a
// newcomer is likely to make, or "": a misspelt name, a name from the
// standard library that was not loaded, or Python that Starlark does not
// have. It begins with a space or a semicolon.
func hint(err error) string {
	var rl resolve.ErrorList
	if errors.As(err, &rl) && len(rl) > 0 {
		return undefinedHint(rl[0].Msg)
	}
	var se syntax.Error
	if errors.As(err, &se) {
		if h := syntaxHint(se.Msg, sourceLine(se.Pos)); h != "" {
			return "; " + h
		}
	}
	return ""
}

// pythonNames are names that Python has and Starlark spells otherwise.
var pythonNames = map[string]string{
	"true":       "did you mean True?",
	"false":      "did you mean False?",
	"null":       "did you mean None?",
	"nil":        "did you mean None?",
	"none":       "did you mean None?",
	"isinstance": `Starlark has no isinstance: compare type(x) == "string" (or "int", "list", "dict", "netns", "link")`,
	"open":       "Starlark cannot open files: read one in a namespace with exec_in(ns, \"cat FILE\").stdout",
	"Exception":  "Starlark has no exceptions: a failing builtin stops the script and nsh rolls it back; stop it yourself with fail(\"message\")",
}

// undefinedHint returns advice for a resolver error "undefined: NAME",
// unless the resolver already suggested a name.
func undefinedHint(msg string) string {
	name, ok := strings.CutPrefix(msg, "undefined: ")
	if !ok || strings.Contains(name, " ") {
		return ""
	}
	if file, ok := stdlib.Exports()[name]; ok {
		return fmt.Sprintf(" (%s is in nsh's standard library: load it first with load(%q, %q))", name, StdlibPrefix+file, name)
	}
	if h, ok := pythonNames[name]; ok {
		return " (" + h + ")"
	}
	exports := stdlib.Exports()
	names := knownNames()
	for n := range exports {
		names = append(names, n)
	}
	n := builtins.Nearest(name, names)
	if file, ok := exports[n]; ok && !slices.Contains(knownNames(), n) {
		return fmt.Sprintf(" (did you mean %s? load it first with load(%q, %q))", n, StdlibPrefix+file, n)
	}
	if n != "" {
		return fmt.Sprintf(" (did you mean %s?)", n)
	}
	return ""
}

var (
	knownOnce sync.Once
	known     []string
)

// knownNames returns the names every script sees: nsh's builtins, the
// modules that New adds, and Starlark's own (len, range, ...). The
// resolver suggests only the script's own names, so these are the ones
// left to suggest.
func knownNames() []string {
	knownOnce.Do(func() {
		for name := range builtins.Predeclared(&builtins.Env{}) {
			known = append(known, name)
		}
		known = append(known, "json", "time", "math", "struct")
		for name := range starlark.Universe {
			known = append(known, name)
		}
	})
	return known
}

// pythonKeywords are what to say when a Python keyword stops the parser
// ("got try, want primary expression").
var pythonKeywords = map[string]string{
	"try":      noTry,
	"except":   noTry,
	"finally":  noTry,
	"import":   `Starlark has no import: load("@nsh//check.star", "reachable") takes names from a module of nsh's standard library, load("lib.star", "name") from a file of yours`,
	"from":     `Starlark has no import: load("@nsh//check.star", "reachable") takes names from a module of nsh's standard library, load("lib.star", "name") from a file of yours`,
	"class":    `Starlark has no classes: keep data in a dict or a struct(name = "a", addr = "10.0.0.1/24"), and write functions with def`,
	"with":     "Starlark has no with: there is nothing to close, and nsh undoes a lab by itself (undo(), nsh down)",
	"raise":    `Starlark has no raise: stop the script with fail("message"), and nsh rolls back what it built`,
	"is":       "Starlark has no is: compare with == and != (x == None)",
	"yield":    "Starlark has no generators: build a list and return it",
	"global":   "Starlark has no global: a function cannot rebind a global; return the new value, or change a list or dict in place",
	"nonlocal": "Starlark has no nonlocal: a function cannot rebind an outer variable; return the new value, or change a list or dict in place",
	"del":      "Starlark has no del: remove from a dict with d.pop(key), from a list with l.pop(i) or l.remove(x)",
	"async":    "Starlark has no async: builtins wait for the kernel themselves, and spawn() runs a program in the background",
	"await":    "Starlark has no async: builtins wait for the kernel themselves, and spawn() runs a program in the background",
}

const noTry = "Starlark has no try/except: a failing builtin stops the script and nsh rolls it back; check values instead (e.g. if not ping(...).ok: ...)"

var (
	gotToken = regexp.MustCompile(`^got ([a-z]+), want`)
	fString  = regexp.MustCompile(`(^|[^A-Za-z0-9_])([fF][rR]?|[rR][fF])["']`)
	assertSt = regexp.MustCompile(`^\s*assert\s+[^.=\s]`)
)

// syntaxHint returns advice for a syntax error with message msg on the
// source line line ("" if it cannot be read), or "".
func syntaxHint(msg, line string) string {
	switch {
	case strings.HasPrefix(msg, "got string literal") && fString.MatchString(line):
		return `f-strings are not Starlark: use "...%s" % x or "{}".format(x)`
	case assertSt.MatchString(line):
		return `Starlark has no assert statement: use load("@nsh//assert.star", "assert") and assert.true(cond), or if not cond: fail("...")`
	case (strings.Contains(line, "++") || strings.Contains(line, "--")) && msg == "got newline, want primary expression":
		return "Starlark has no ++ or --: write x += 1"
	case msg == "got if, want ':'":
		return "Starlark writes else if as elif"
	case strings.HasPrefix(msg, "got '**'"):
		return "Starlark has no ** operator: use math.pow(x, y), or multiply"
	}
	if m := gotToken.FindStringSubmatch(msg); m != nil {
		return pythonKeywords[m[1]]
	}
	return ""
}

// sourceLine returns the text of the line at pos, if its file can be
// read: a script, or a module of the standard library (not the REPL's
// input).
func sourceLine(pos syntax.Position) string {
	name := pos.Filename()
	var src []byte
	var err error
	switch {
	case name == "" || strings.HasPrefix(name, "<"):
		return ""
	case strings.HasPrefix(name, StdlibPrefix):
		src, err = fs.ReadFile(stdlib.FS, strings.TrimPrefix(name, StdlibPrefix))
	default:
		src, err = os.ReadFile(name)
	}
	if err != nil || pos.Line < 1 {
		return ""
	}
	lines := strings.Split(string(src), "\n")
	if int(pos.Line) > len(lines) {
		return ""
	}
	return lines[pos.Line-1]
}
