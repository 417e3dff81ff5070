package userns

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestNeedsLab(t *testing.T) {
	for args, want := range map[string]bool{
		"":                         true,
		"help":                     false,
		"version":                  false,
		"run --help":               false,
		"run lab.star":             true,
		"exec ns -- cmd --help":    true,
		"status --session x -h":    false,
		"repl --session x":         true,
		"exec host -- sh -c -help": true,
	} {
		if got := needsLab(strings.Fields(args)); got != want {
			t.Errorf("needsLab(%q) = %v, want %v", args, got, want)
		}
	}
}

func TestNetMode(t *testing.T) {
	for args, want := range map[string]string{
		"run lab.star --net=pasta":     "pasta",
		"run --net pasta lab.star":     "pasta",
		"run lab.star":                 "",
		"exec ns -- cmd --net=pasta":   "",
		"repl -net=none --session lab": "none",
	} {
		if got := netMode(strings.Fields(args)); got != want {
			t.Errorf("netMode(%q) = %q, want %q", args, got, want)
		}
	}
}

// TestRuntimeDir checks that the runtime directory is made closed to
// others, and that one that is not a directory, or belongs to someone
// else, is refused.
func TestRuntimeDir(t *testing.T) {
	base := t.TempDir()
	d := filepath.Join(base, "nsh")
	if err := makeRuntimeDir(d); err != nil {
		t.Fatal(err)
	}
	st, err := os.Stat(d)
	if err != nil || st.Mode().Perm() != 0o700 {
		t.Fatalf("runtime directory: %v %v", st.Mode(), err)
	}
	for _, sub := range []string{SessionsDir, PinsDir} {
		if _, err := os.Stat(filepath.Join(d, sub)); err != nil {
			t.Errorf("no %s: %v", sub, err)
		}
	}
	os.Chmod(d, 0o755)
	if err := makeRuntimeDir(d); err != nil {
		t.Fatal(err)
	}
	if st, _ := os.Stat(d); st.Mode().Perm() != 0o700 {
		t.Errorf("a runtime directory open to others stays %v", st.Mode())
	}

	link := filepath.Join(base, "link")
	os.Symlink(d, link)
	if err := makeRuntimeDir(link); err == nil || !strings.Contains(err.Error(), "not a directory") {
		t.Errorf("a symlink as runtime directory: %v", err)
	}

	if os.Geteuid() == 0 {
		other := filepath.Join(base, "other")
		os.Mkdir(other, 0o700)
		os.Chown(other, 12345, 12345)
		if err := makeRuntimeDir(other); err == nil || !strings.Contains(err.Error(), "belongs to user 12345") {
			t.Errorf("someone else's runtime directory: %v", err)
		}
	}
}

func TestRuntimeDirPath(t *testing.T) {
	t.Setenv("XDG_RUNTIME_DIR", "/run/user/1000")
	if got := RuntimeDir(); got != "/run/user/1000/nsh" {
		t.Errorf("RuntimeDir() = %q", got)
	}
	t.Setenv("XDG_RUNTIME_DIR", "")
	if got := RuntimeDir(); !strings.HasPrefix(got, os.TempDir()+"/nsh-") {
		t.Errorf("RuntimeDir() = %q", got)
	}
}
