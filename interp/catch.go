package interp

import (
	"fmt"
	"regexp"
	"strings"

	"go.starlark.net/starlark"
)

// stdlibOnly are builtins that only modules of the standard library see:
// the primitives that @nsh//assert.star is built from.
var stdlibOnly = starlark.StringDict{
	"_catch":   starlark.NewBuiltin("_catch", catchBuiltin),
	"_matches": starlark.NewBuiltin("_matches", matchesBuiltin),
}

// predeclaredFor returns the names a module sees: the stdlib primitives
// are added for modules of the standard library.
func (in *Interp) predeclaredFor(key string) starlark.StringDict {
	if !strings.HasPrefix(key, StdlibPrefix) {
		return in.Predeclared
	}
	d := make(starlark.StringDict, len(in.Predeclared)+len(stdlibOnly))
	for k, v := range in.Predeclared {
		d[k] = v
	}
	for k, v := range stdlibOnly {
		d[k] = v
	}
	return d
}

// _catch(fn, *args, **kwargs) calls fn and returns None if it succeeds, or
// the error as nsh prints it ("FILE:LINE:COL: builtin: message") if it
// fails. A failing builtin has changed nothing, so carrying on is safe.
func catchBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if len(args) < 1 {
		return nil, fmt.Errorf("%s: missing function", b.Name())
	}
	if _, err := starlark.Call(thread, args[0], args[1:], kwargs); err != nil {
		msg := FormatError(err)
		if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
			msg = msg[i+1:] // the backtrace's frames come first
		}
		return starlark.String(msg), nil
	}
	return starlark.None, nil
}

// _matches(pattern, s) reports whether the regular expression pattern
// matches somewhere in s.
func matchesBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var pattern, s string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "pattern", &pattern, "s", &s); err != nil {
		return nil, err
	}
	re, err := regexp.Compile(pattern)
	if err != nil {
		return nil, fmt.Errorf("%s: bad pattern %q: %v", b.Name(), pattern, err)
	}
	return starlark.Bool(re.MatchString(s)), nil
}
