package tests

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// TestStar runs each tests/star/*.star file with `nsh run --sandbox --rm`.
// The files check the language surface with @nsh//assert.star: values
// (types, str(), attributes, equality), errors and their positions, steps.
// A file passes when nsh exits 0; it is run from tests/star so that the
// positions in its errors read "FILE.star:LINE:COL".
func TestStar(t *testing.T) {
	requireRoot(t)
	dir := filepath.Join(repoRoot, "tests", "star")
	files, err := filepath.Glob(filepath.Join(dir, "*.star"))
	if err != nil || len(files) == 0 {
		t.Fatalf("no .star files in %s", dir)
	}
	for _, f := range files {
		name := strings.TrimSuffix(filepath.Base(f), ".star")
		t.Run(name, func(t *testing.T) {
			before := snapshot(t)
			session := uniq("t")
			r := nshIn(t, dir, "run", filepath.Base(f), "--sandbox", "--rm", "--session", session)
			if r.code != 0 {
				t.Errorf("%s failed:\n%s", filepath.Base(f), r)
				if _, err := os.Stat(filepath.Join("/run/nsh", session)); err == nil {
					nsh(t, "down", "--session", session)
				}
			}
			assertClean(t, before)
		})
	}
}
