package docs

import (
	"strings"
	"testing"
)

// TestLanguageLinksEveryEntry checks that language.md, the index of the
// reference, links every entry of builtins/.
func TestLanguageLinksEveryEntry(t *testing.T) {
	b, err := FS.ReadFile("language.md")
	if err != nil {
		t.Fatal(err)
	}
	for _, name := range Names() {
		if !strings.Contains(string(b), "(builtins/"+name+".md)") {
			t.Errorf("language.md does not link builtins/%s.md", name)
		}
	}
}

func TestSummary(t *testing.T) {
	if got := Summary("veth"); !strings.HasPrefix(got, "Creates a veth pair") || !strings.HasSuffix(got, ".") {
		t.Errorf("Summary(veth) = %q", got)
	}
}
