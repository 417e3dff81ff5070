package builtins

import (
	"fmt"
	"net"
	"strings"

	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"
)

func compareNames(op syntax.Token, x, y string) (bool, error) {
	switch op {
	case syntax.EQL:
		return x == y, nil
	case syntax.NEQ:
		return x != y, nil
	}
	return false, fmt.Errorf("%s not supported", op)
}

// checkCIDR checks an interface address such as "10.0.0.1/24".
func checkCIDR(s string) error {
	if _, _, err := net.ParseCIDR(s); err != nil {
		if net.ParseIP(s) != nil {
			return fmt.Errorf("bad CIDR %q: add a prefix length, e.g. %s/24", s, s)
		}
		return fmt.Errorf("bad CIDR %q: want an address with a prefix length, e.g. 10.0.0.1/24", s)
	}
	return nil
}

// checkIP checks a bare IP address.
func checkIP(s, what string) error {
	if net.ParseIP(s) == nil {
		return fmt.Errorf("bad %s %q: want an IP address", what, s)
	}
	return nil
}

// stringList unpacks a command: a list of strings, or one string that is
// run by /bin/sh -c.
func stringList(v starlark.Value, param string) ([]string, error) {
	switch v := v.(type) {
	case starlark.String:
		if strings.ContainsRune(string(v), 0) {
			return nil, fmt.Errorf("for parameter %s: the command contains a NUL byte, which no program can be given", param)
		}
		return []string{"/bin/sh", "-c", string(v)}, nil
	case *starlark.List, starlark.Tuple:
		it := starlark.Iterate(v)
		defer it.Done()
		var out []string
		var x starlark.Value
		for it.Next(&x) {
			s, ok := starlark.AsString(x)
			if !ok {
				return nil, fmt.Errorf("for parameter %s: got %s in list, want string", param, x.Type())
			}
			if strings.ContainsRune(s, 0) {
				return nil, fmt.Errorf("for parameter %s: argv[%d] (%q) contains a NUL byte, which no program can be given", param, len(out), s)
			}
			out = append(out, s)
		}
		if len(out) == 0 {
			return nil, fmt.Errorf("for parameter %s: empty command", param)
		}
		return out, nil
	}
	return nil, fmt.Errorf("for parameter %s: got %s, want list of strings or string", param, v.Type())
}

// stringDict unpacks an env dict of strings into "K=V" pairs.
func stringDict(v starlark.Value, param string) ([]string, error) {
	if v == nil || v == starlark.None {
		return nil, nil
	}
	d, ok := v.(*starlark.Dict)
	if !ok {
		return nil, fmt.Errorf("for parameter %s: got %s, want dict", param, v.Type())
	}
	var out []string
	for _, kv := range d.Items() {
		k, ok1 := starlark.AsString(kv[0])
		val, ok2 := starlark.AsString(kv[1])
		if !ok1 || !ok2 {
			return nil, fmt.Errorf("for parameter %s: keys and values must be strings", param)
		}
		if k == "" || strings.ContainsAny(k, "=\x00") {
			return nil, fmt.Errorf("for parameter %s: bad variable name %q", param, k)
		}
		if strings.ContainsRune(val, 0) {
			return nil, fmt.Errorf("for parameter %s: the value of %s contains a NUL byte, which no program can be given", param, k)
		}
		out = append(out, k+"="+val)
	}
	return out, nil
}

// record is a struct whose type is its name: type() of an exec_in result
// is "result", of a ping "ping", as the language reference says, rather
// than starlarkstruct's "struct".
type record struct {
	*starlarkstruct.Struct
	typ string
}

func newRecord(typ string, fields starlark.StringDict) *record {
	return &record{starlarkstruct.FromStringDict(starlark.String(typ), fields), typ}
}

// Type implements starlark.Value.
func (r *record) Type() string { return r.typ }

// CompareSameType implements starlark.Comparable: records of one type
// compare as their structs do.
func (r *record) CompareSameType(op syntax.Token, y starlark.Value, depth int) (bool, error) {
	return r.Struct.CompareSameType(op, y.(*record).Struct, depth)
}
