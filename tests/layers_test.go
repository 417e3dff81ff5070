package tests

import (
	"bytes"
	"encoding/json"
	"fmt"
	"go/parser"
	"go/token"
	"io"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// module is the import path of nsh's module.
const module = "github.com/nshlab/nsh"

// A layer is a rank of nsh's packages (docs/architecture.md). A package
// may import the packages of lower layers down to its floor; within its
// own layer, only the siblings of a layer that says so.
type layer struct {
	// name is a package path relative to the module, or a folder ending
	// in "/" whose packages all belong to the layer.
	name string
	rank int
	// floor is the lowest rank the layer may import: the CLI and the
	// interpreter talk to the session, never to the plumbing under it.
	floor int
	// siblings lets the layer's packages import each other.
	siblings bool
	// leaf forbids the layer's packages to import any nsh package.
	leaf bool
	// testOnly lets only _test.go files import the layer.
	testOnly bool
}

// The ranks, bottom up.
const (
	rankSys      = 10 // builtins/sys/*: Linux plumbing, no Starlark
	rankOps      = 20 // builtins/ops: one file per kind of change
	rankSession  = 30 // builtins/session: lock, journal, apply/undo/down
	rankLeaf     = 35 // docs, stdlib: embedded files
	rankBuiltins = 40 // builtins: Starlark values and builtins
	rankInterp   = 50 // interp: threads, load, errors
	rankREPL     = 60 // interp/repl
	rankCmd      = 70 // cmd/*: the CLI
	rankTool     = 100
)

// layers is the rank table. A package that is in no layer fails
// TestLayers, so that a new package gets its place on purpose.
var layers = []layer{
	{name: "builtins/sys/", rank: rankSys, floor: rankSys, siblings: true},
	{name: "builtins/sys/kernel/kerneltest", rank: rankSys, floor: rankSys, siblings: true, testOnly: true},
	{name: "builtins/ops", rank: rankOps, floor: rankSys},
	{name: "builtins/session", rank: rankSession, floor: rankSys},
	{name: "docs", rank: rankLeaf, leaf: true},
	{name: "stdlib", rank: rankLeaf, leaf: true},
	{name: "builtins", rank: rankBuiltins, floor: rankSys},
	{name: "interp", rank: rankInterp, floor: rankSession},
	{name: "interp/repl", rank: rankREPL, floor: rankSession},
	{name: "cmd/", rank: rankCmd, floor: rankSession},
	// Integration tests run the binary; the benchmark is a tool that
	// may import anything.
	{name: "tests", rank: rankTool, floor: 0},
	{name: "tests/bench", rank: rankTool, floor: 0},
}

// layerOf returns the layer of a package path relative to the module: an
// exact name first, else the longest folder that holds it.
func layerOf(rel string) (layer, bool) {
	var best layer
	found := false
	for _, l := range layers {
		if l.name == rel {
			return l, true
		}
		if strings.HasSuffix(l.name, "/") && strings.HasPrefix(rel, l.name) && (!found || len(l.name) > len(best.name)) {
			best, found = l, true
		}
	}
	return best, found
}

// layerName names a layer for a message.
func layerName(l layer) string {
	if strings.HasSuffix(l.name, "/") {
		return l.name + "*"
	}
	return l.name
}

// allowed says why a package of layer from may not import a package of
// layer to, or "" if it may. test is true for an import in a _test.go file.
func allowed(from, to layer, test bool) string {
	switch {
	case to.testOnly && !test:
		return fmt.Sprintf("%s is test support: only _test.go files may import it", layerName(to))
	case from.leaf:
		return fmt.Sprintf("%s is a leaf: it may import no nsh package", layerName(from))
	case to.rank < from.floor:
		return fmt.Sprintf("%s may not reach down to %s (rank %d), below its floor (rank %d): go through the layer that owns it", layerName(from), layerName(to), to.rank, from.floor)
	case to.rank < from.rank:
		return ""
	case to.rank == from.rank && from.siblings && to.siblings:
		return ""
	case to.rank == from.rank:
		return fmt.Sprintf("%s may not import its neighbour %s of the same rank", layerName(from), layerName(to))
	}
	return fmt.Sprintf("%s (rank %d) may not import %s (rank %d), a layer above it", layerName(from), from.rank, layerName(to), to.rank)
}

// listedPackage is the part of `go list -json` that TestLayers reads.
type listedPackage struct {
	ImportPath                         string
	Dir                                string
	GoFiles, TestGoFiles, XTestGoFiles []string
	Imports, TestImports, XTestImports []string
	Error                              *struct{ Err string }
}

// TestLayers checks that every nsh package imports only packages of the
// layers below its own (the rank table above, drawn in
// docs/architecture.md), in its code and in its tests, and names the file
// and line of each import that breaks the rule.
func TestLayers(t *testing.T) {
	cmd := exec.Command("go", "list", "-json", "./...")
	cmd.Dir = repoRoot
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("go list: %v\n%s", err, stderr.String())
	}
	dec := json.NewDecoder(bytes.NewReader(out))
	n := 0
	for {
		var p listedPackage
		if err := dec.Decode(&p); err == io.EOF {
			break
		} else if err != nil {
			t.Fatalf("go list output: %v", err)
		}
		if p.Error != nil {
			t.Errorf("go list %s: %s", p.ImportPath, p.Error.Err)
			continue
		}
		n++
		checkLayers(t, p)
	}
	if n < 10 {
		t.Fatalf("go list found %d packages: is %s the repository?", n, repoRoot)
	}
}

// checkLayers checks the imports of one package against the rank table.
func checkLayers(t *testing.T, p listedPackage) {
	t.Helper()
	rel, ok := strings.CutPrefix(p.ImportPath, module+"/")
	if !ok {
		if p.ImportPath == module {
			t.Errorf("package %s at the root of the module has no layer: put it in a folder of tests/layers_test.go's table", module)
		}
		return
	}
	from, ok := layerOf(rel)
	if !ok {
		t.Errorf("package %s has no layer: add it to the rank table in tests/layers_test.go and to docs/architecture.md", rel)
		return
	}
	check := func(imports []string, test bool, files []string) {
		for _, imp := range imports {
			irel, ok := strings.CutPrefix(imp, module+"/")
			if !ok || irel == rel {
				continue // the standard library, another module, or itself (an external test package)
			}
			to, ok := layerOf(irel)
			if !ok {
				t.Errorf("%s imports %s, which has no layer in tests/layers_test.go", rel, irel)
				continue
			}
			if why := allowed(from, to, test); why != "" {
				t.Errorf("%s: %s imports %s: %s (see docs/architecture.md)", where(p.Dir, files, imp), rel, irel, why)
			}
		}
	}
	check(p.Imports, false, p.GoFiles)
	check(p.TestImports, true, p.TestGoFiles)
	check(p.XTestImports, true, p.XTestGoFiles)
}

// where returns the FILE:LINE of the first of files that imports imp,
// relative to the repository, or the package's folder if none does.
func where(dir string, files []string, imp string) string {
	fset := token.NewFileSet()
	for _, name := range files {
		path := filepath.Join(dir, name)
		f, err := parser.ParseFile(fset, path, nil, parser.ImportsOnly)
		if err != nil {
			continue
		}
		for _, s := range f.Imports {
			if v, _ := strconv.Unquote(s.Path.Value); v == imp {
				pos := fset.Position(s.Pos())
				if r, err := filepath.Rel(repoRoot, pos.Filename); err == nil {
					return fmt.Sprintf("%s:%d", r, pos.Line)
				}
				return fmt.Sprintf("%s:%d", pos.Filename, pos.Line)
			}
		}
	}
	if r, err := filepath.Rel(repoRoot, dir); err == nil {
		return r
	}
	return dir
}

// TestLayersRules checks the rule itself, so that a table that allows
// everything cannot pass unnoticed.
func TestLayersRules(t *testing.T) {
	get := func(rel string) layer {
		l, ok := layerOf(rel)
		if !ok {
			t.Fatalf("%s has no layer", rel)
		}
		return l
	}
	for _, c := range []struct {
		from, to string
		test, ok bool
	}{
		{"cmd/nsh", "builtins/session", false, true},
		{"cmd/nsh", "builtins/sys/kernel", false, false},
		{"interp/repl", "builtins/sys/kernel", false, false},
		{"builtins/session", "builtins", false, false},
		{"builtins/ops", "builtins/session", false, false},
		{"builtins/sys/probe", "builtins/sys/kernel", false, true},
		{"builtins/sys/probe", "builtins/sys/nsexec", true, true},
		{"builtins/sys/kernel", "builtins/ops", false, false},
		{"builtins/ops", "builtins/sys/kernel/kerneltest", true, true},
		{"builtins/ops", "builtins/sys/kernel/kerneltest", false, false},
		{"builtins/session", "docs", false, false},
		{"builtins", "docs", false, true},
		{"docs", "stdlib", false, false},
		{"interp", "stdlib", false, true},
		{"tests/bench", "builtins/sys/kernel", false, true},
	} {
		why := allowed(get(c.from), get(c.to), c.test)
		if (why == "") != c.ok {
			t.Errorf("%s importing %s (test %v): allowed = %v (%q), want %v", c.from, c.to, c.test, why == "", why, c.ok)
		}
	}
}
