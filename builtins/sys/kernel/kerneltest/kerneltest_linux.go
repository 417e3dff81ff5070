package kerneltest

import (
	"crypto/rand"
	"encoding/hex"
	"os"
	"testing"

	"github.com/nshlab/nsh/builtins/sys/kernel"
)

// NeedRoot skips the test unless it runs as root.
func NeedRoot(t testing.TB) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
}

// Namespace creates a namespace named "nshtest-" and 8 random hex digits,
// with lo up if asked, in a Kernel of its own. Both are deleted and
// closed when the test ends, and a failure to delete fails the test. It
// skips the test unless it runs as root.
func Namespace(t testing.TB, lo bool) (*kernel.Linux, kernel.Namespace) {
	t.Helper()
	NeedRoot(t)
	k, err := kernel.New()
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 4)
	rand.Read(b)
	name := "nshtest-" + hex.EncodeToString(b)
	ns, err := k.AddNamed(name, lo)
	if err != nil {
		k.Close()
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := k.DeleteNamed(name, 0); err != nil {
			t.Errorf("DeleteNamed: %v", err)
		}
		k.Close()
	})
	return k, ns
}
