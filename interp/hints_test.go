package interp

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"go.starlark.net/starlark"
)

// TestHints checks the hint that each beginner's mistake gets, and that
// the message still starts with the script position.
func TestHints(t *testing.T) {
	dir := t.TempDir()
	pre := starlark.StringDict{}
	for _, name := range knownNames() {
		pre[name] = starlark.None
	}
	for _, c := range []struct{ src, pos, want string }{
		{"x = veht\n", "lab.star:1:5: undefined: veht", "(did you mean veth?)"},
		{"x = ip_froward\n", "lab.star:1:5: undefined: ip_froward", "(did you mean ip_forward?)"},
		{"x = reachable\n", "lab.star:1:5: undefined: reachable", `load it first with load("@nsh//check.star", "reachable")`},
		{"x = reachabel\n", "lab.star:1:5: undefined: reachabel", `(did you mean reachable? load it first with load("@nsh//check.star", "reachable"))`},
		{"x = true\n", "lab.star:1:5: undefined: true", "(did you mean True?)"},
		{"try:\n  x = 1\nexcept:\n  pass\n", "lab.star:1:1:", "Starlark has no try/except: a failing builtin stops the script and nsh rolls it back"},
		{"x = 1\ny = f\"a{x}\"\n", "lab.star:2:", `f-strings are not Starlark: use "...%s" % x or "{}".format(x)`},
		{"import os\n", "lab.star:1:1:", "Starlark has no import: load("},
		{"from os import path\n", "lab.star:1:1:", "Starlark has no import"},
		{"class A:\n  pass\n", "lab.star:1:1:", "Starlark has no classes"},
		{"with x:\n  pass\n", "lab.star:1:1:", "Starlark has no with"},
		{"raise ValueError(1)\n", "lab.star:1:1:", `stop the script with fail("message")`},
		{"x = 1\nif x is None:\n  pass\n", "lab.star:2:", "Starlark has no is: compare with =="},
		{"x = 1\nx++\n", "lab.star:2:", "x += 1"},
		{"assert 1 == 1\n", "lab.star:1:", `load("@nsh//assert.star", "assert")`},
		{"x = 2 ** 3\n", "lab.star:1:", "math.pow"},
		{"x = 1\nif x:\n  pass\nelse if x:\n  pass\n", "lab.star:4:", "elif"},
		{"def f():\n  global x\n", "lab.star:2:", "Starlark has no global"},
	} {
		path := filepath.Join(dir, "lab.star")
		if err := os.WriteFile(path, []byte(c.src), 0o644); err != nil {
			t.Fatal(err)
		}
		wd, _ := os.Getwd()
		os.Chdir(dir)
		_, err := starlark.ExecFileOptions(FileOptions, &starlark.Thread{}, "lab.star", c.src, pre)
		var msg string
		if err != nil {
			msg = FormatError(err)
		}
		os.Chdir(wd)
		if err == nil {
			t.Errorf("%q: no error", c.src)
			continue
		}
		if !strings.HasPrefix(msg, c.pos) || !strings.Contains(msg, c.want) {
			t.Errorf("%q:\n got %s\nwant %s... %s", c.src, msg, c.pos, c.want)
		}
	}
}

// TestNoHint checks that errors without a likely cause get no hint.
func TestNoHint(t *testing.T) {
	for _, src := range []string{"x = zzzqqq\n", "x = (\n"} {
		_, err := starlark.ExecFileOptions(FileOptions, &starlark.Thread{}, "<stdin>", src, nil)
		if err == nil || hint(err) != "" {
			t.Errorf("%q: %v, hint %q", src, err, hint(err))
		}
	}
}
