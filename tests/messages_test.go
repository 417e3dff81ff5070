package tests

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// hintCase is a script with a beginner's mistake and the error line it
// must get: a regular expression that starts with the script position.
type hintCase struct {
	name string
	// src is the script; {N} is replaced by a unique name.
	src string
	// want matches the whole error line, after {N} is replaced.
	want string
}

var hintCases = []hintCase{
	{"misspelt builtin", "x = 1\nveht(\"{N}a\", \"{N}b\")\n",
		`^bad\.star:2:1: undefined: veht \(did you mean veth\?\)$`},
	{"stdlib name not loaded", "reachable(host, \"127.0.0.1\")\n",
		`^bad\.star:1:1: undefined: reachable \(reachable is in nsh's standard library: load it first with load\("@nsh//check\.star", "reachable"\)\)$`},
	{"Python true", "x = true\n",
		`^bad\.star:1:5: undefined: true \(did you mean True\?\)$`},
	{"try/except", "x = 1\ntry:\n    x = 2\nexcept:\n    pass\n",
		`^bad\.star:2:1: got try, want primary expression; Starlark has no try/except: a failing builtin stops the script and nsh rolls it back; check values instead \(e\.g\. if not ping\(\.\.\.\)\.ok: \.\.\.\)$`},
	{"f-string", "x = 1\nprint(f\"x={x}\")\n",
		`^bad\.star:2:\d+: got string literal, want .*; f-strings are not Starlark: use "\.\.\.%s" % x or "\{\}"\.format\(x\)$`},
	{"import", "x = 1\nimport os\n",
		`^bad\.star:2:1: got import, want primary expression; Starlark has no import: load\("@nsh//check\.star", "reachable"\) takes names from a module of nsh's standard library, load\("lib\.star", "name"\) from a file of yours$`},
	{"class", "class Router:\n    pass\n",
		`^bad\.star:1:1: got class, want primary expression; Starlark has no classes: .*struct\(`},
	{"raise", "raise Exception(\"no\")\n",
		`^bad\.star:1:1: got raise, want primary expression; Starlark has no raise: stop the script with fail\("message"\)`},
	{"is None", "x = None\nif x is None:\n    pass\n",
		`^bad\.star:2:\d+: got is, want ':'; Starlark has no is: compare with == and != \(x == None\)$`},
	{"with", "with x:\n    pass\n",
		`^bad\.star:1:1: got with, want primary expression; Starlark has no with`},
	{"misspelt namespace", "earth = netns(\"{N}earth\")\nexec_in(\"{N}eatrh\", \"true\")\n",
		`^bad\.star:2:8: exec_in: unknown namespace "{N}eatrh" \(did you mean "{N}earth"\?\)$`},
	{"link in another namespace", "earth = netns(\"{N}earth\")\nveth(\"{N}ev\", \"{N}ep\", ns = earth)\nhost.link(\"{N}ev\")\n",
		`^bad\.star:3:10: link: unknown link "{N}ev" in host; it is in namespace "{N}earth": use {N}earth\.link\("{N}ev"\)$`},
	{"misspelt link", "earth = netns(\"{N}earth\")\nveth(\"{N}ev\", \"{N}ep\", ns = earth)\nearth.link(\"{N}evv\")\n",
		`^bad\.star:3:11: link: unknown link "{N}evv" in namespace "{N}earth" \(did you mean "{N}ev"\?\)$`},
}

// TestHints runs each beginner's mistake as a script and checks that its
// error line carries the script position and the hint.
func TestHints(t *testing.T) {
	requireRoot(t)
	for _, c := range hintCases {
		t.Run(strings.ReplaceAll(c.name, " ", "_"), func(t *testing.T) {
			before := snapshot(t)
			n := uniq("hi")
			dir := t.TempDir()
			src := strings.ReplaceAll(c.src, "{N}", n)
			if err := os.WriteFile(filepath.Join(dir, "bad.star"), []byte(src), 0o644); err != nil {
				t.Fatal(err)
			}
			r := nshWith(t, runOpts{dir: dir}, "run", "bad.star", "--sandbox", "--session", uniq("t"))
			if r.code == 0 {
				t.Fatalf("exit 0: %s", r)
			}
			want := regexp.MustCompile(strings.ReplaceAll(c.want, "{N}", n))
			first, _, _ := strings.Cut(r.stderr, "\n")
			if !want.MatchString(first) {
				t.Errorf("error line\n  %s\ndoes not match\n  %s", first, want)
			}
			assertClean(t, before)
		})
	}
}

// TestNATWithoutForwarding checks that masquerade() and dnat() in a
// namespace that does not forward warn, with the script position and the
// fix, and that they do not once forwarding is on.
func TestNATWithoutForwarding(t *testing.T) {
	requireRoot(t)
	before := snapshot(t)
	n := uniq("nf")
	dir := t.TempDir()
	src := "r = netns(\"" + n + "\")\nsysctl(r, \"net.ipv4.ip_forward\", 0)\nmasquerade(\"10.9.0.0/24\", ns = r)\n" +
		"d = netns(\"" + n + "d\")\ndnat(8080, \"10.9.0.2:80\", ns = d)\n" +
		"f = netns(\"" + n + "f\")\nip_forward(f)\nmasquerade(\"10.9.0.0/24\", ns = f)\n"
	if err := os.WriteFile(filepath.Join(dir, "nat.star"), []byte(src), 0o644); err != nil {
		t.Fatal(err)
	}
	r := nshWith(t, runOpts{dir: dir}, "run", "nat.star", "--sandbox", "--rm", "--session", uniq("t"))
	if r.code != 0 {
		t.Fatalf("%s", r)
	}
	for _, want := range []string{
		`nsh: warning: nat.star:3:11: masquerade in namespace "` + n + `": net.ipv4.ip_forward is 0 there, so namespace "` + n + `" does not forward the packets this rule is for, and connections through it just time out; turn forwarding on with ip_forward("` + n + `")`,
		`nsh: warning: nat.star:5:5: dnat in namespace "` + n + `d": net.ipv4.ip_forward is 0 there`,
	} {
		if !strings.Contains(r.stderr, want) {
			t.Errorf("no warning %q in:\n%s", want, r.stderr)
		}
	}
	if strings.Contains(r.stderr, `in namespace "`+n+`f": net.ipv4.ip_forward is 0`) {
		t.Errorf("warning for a namespace that forwards:\n%s", r.stderr)
	}
	assertClean(t, before)
}
