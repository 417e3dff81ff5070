package builtins

import (
	"os"
	"os/exec"
	"slices"
	"testing"
)

// kernelCanAdd reports whether `ip link add` of a link of kind (with args
// it needs) succeeds, in a network namespace of its own that dies with
// it: what the kernel says, asked without HasDriver.
func kernelCanAdd(t *testing.T, kind string, args ...string) bool {
	t.Helper()
	cmd := exec.Command("unshare", append([]string{"--net", "ip", "link", "add", "nshcheck0", "type", kind}, args...)...)
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("unshare ip link add type %s: %v", kind, err)
	}
	t.Logf("ip link add type %s %v: %v %s", kind, args, err, out)
	return err == nil
}

func TestHasDriver(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to make a namespace to probe in")
	}
	for kind, want := range map[string]bool{"veth": true, "bridge": true, "nosuchkind": false} {
		got, err := HasDriver(kind)
		if err != nil || got != want {
			t.Errorf("HasDriver(%q) = %v, %v; want %v", kind, got, err, want)
		}
	}
	// vxlan refuses a link without its parameters: HasDriver must not
	// take that refusal for a missing driver. Whether the kernel has it
	// is asked of ip, with the parameters it needs.
	before, _ := os.ReadDir("/run/netns")
	got, err := HasDriver("vxlan")
	if err != nil {
		t.Fatalf("HasDriver(\"vxlan\"): %v", err)
	}
	if want := kernelCanAdd(t, "vxlan", "id", "42", "dstport", "4789"); got != want {
		t.Errorf("HasDriver(\"vxlan\") = %v, but ip link add of a vxlan says %v", got, want)
	}
	if again, err := HasDriver("vxlan"); again != got || err != nil {
		t.Errorf("HasDriver(\"vxlan\") asked again = %v, %v; want %v as before", again, err, got)
	}
	after, _ := os.ReadDir("/run/netns")
	if !slices.EqualFunc(before, after, func(a, b os.DirEntry) bool { return a.Name() == b.Name() }) {
		t.Errorf("the probe changed /run/netns: %v, then %v", before, after)
	}
}
