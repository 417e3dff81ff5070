package tests

import (
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

// coreScripts are the labs of scripts/ that belong to the core (issue 2):
// seed 000, 001 (without NAT), 002 sections 1 to 3, 003 without NAT, and
// 004. tests/nat_test.go runs the others; tests/oracle_test.go runs them
// all against the tutorials' own commands.
var coreScripts = regexp.MustCompile(`^(seed000-.*|seed001-[123]-.*|seed002-[123]-.*|seed003-[12]-.*|seed004-.*)\.star$`)

// TestScripts runs each core lab of scripts/ under --sandbox, one after
// the other (they use the tutorials' fixed names), checks that it ends
// well (each ends with probes that fail() when the lab does not work) and
// that it opens with a comment saying what it builds, then tears it down
// with nsh down and checks that nothing is left.
func TestScripts(t *testing.T) {
	requireRoot(t)
	dir := filepath.Join(repoRoot, "scripts")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	n := 0
	for _, e := range ents {
		if !coreScripts.MatchString(e.Name()) {
			continue
		}
		n++
		t.Run(strings.TrimSuffix(e.Name(), ".star"), func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join(dir, e.Name()))
			if err != nil {
				t.Fatal(err)
			}
			if !strings.HasPrefix(string(src), "# Seed ") {
				t.Errorf("%s does not open with a comment naming its seed and what it builds", e.Name())
			}
			session := uniq("t")
			downAtEnd(t, session)
			r := nshIn(t, dir, "run", e.Name(), "--sandbox", "--session", session)
			if r.code != 0 {
				t.Fatalf("%s failed:\n%s", e.Name(), r)
			}
			mustNsh(t, "down", "--session", session)
		})
	}
	if n < 10 {
		t.Errorf("found %d core scripts in %s, want at least 10", n, dir)
	}
}

// labScript is a script of scripts/ as the tests that take every script
// see it.
type labScript struct {
	file, name, path string // "lab.star", "lab", and its path
	// need is the machine a test makes that the script needs ("# needs: "
	// in its source, as vxlan-site.star needs machine-a or machine-b), or
	// "": such a script fails at its line anywhere else.
	need string
}

// labScripts returns the scripts of scripts/, in order.
func labScripts(t *testing.T) []labScript {
	t.Helper()
	dir := filepath.Join(repoRoot, "scripts")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	var out []labScript
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".star") {
			continue
		}
		s := labScript{file: e.Name(), name: strings.TrimSuffix(e.Name(), ".star"), path: filepath.Join(dir, e.Name())}
		src, err := os.ReadFile(s.path)
		if err != nil {
			t.Fatal(err)
		}
		if _, need, ok := strings.Cut(string(src), "\n# needs: "); ok {
			s.need, _, _ = strings.Cut(need, "\n")
		}
		out = append(out, s)
	}
	return out
}
