package kernel

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// testKernel returns a Kernel closed at the end of the test, which it
// skips unless run as root.
func testKernel(t *testing.T) *Linux {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root")
	}
	k, err := New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	return k
}

// loState returns whether lo is up in ns, read through a fresh netlink
// socket rather than the one AddNamed handed over.
func loState(t *testing.T, ns Namespace) bool {
	t.Helper()
	h, err := netlink.NewHandleAt(netns.NsHandle(ns.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	defer h.Close()
	lo, err := h.LinkByIndex(1)
	if err != nil {
		t.Fatal(err)
	}
	return lo.Attrs().RawFlags&1 != 0 // IFF_UP
}

// TestAddNamedSpares creates namespaces in a row, as a script does, so
// that from the second on they come from spares made ahead of time: each
// must be a new namespace, pinned, with lo as asked even when the spare
// was made for another answer, and nothing may be left after Close and
// DeleteNamed.
func TestAddNamedSpares(t *testing.T) {
	k := testKernel(t)
	prefix := fmt.Sprintf("nshk%d-", os.Getpid())
	wantLo := []bool{true, true, true, false, false, true}
	seen := map[uint64]string{}
	var names []string
	defer func() {
		for _, n := range names {
			k.DeleteNamed(n, 0)
		}
		k.Close()
		for _, n := range names {
			if _, err := os.Lstat(filepath.Join(NetnsRunDir, n)); err == nil {
				t.Errorf("%s left behind", n)
			}
		}
	}()
	for i, lo := range wantLo {
		name := fmt.Sprintf("%s%d", prefix, i)
		ns, err := k.AddNamed(name, lo)
		if err != nil {
			t.Fatalf("AddNamed(%s, %v): %v", name, lo, err)
		}
		names = append(names, name)
		ino := ino(t, ns)
		if other, dup := seen[ino]; dup {
			t.Fatalf("%s is the same namespace as %s", name, other)
		}
		seen[ino] = name
		if got := loState(t, ns); got != lo {
			t.Errorf("%s: lo up = %v, want %v", name, got, lo)
		}
		// The pin is visible to ip, and is that namespace.
		out, err := exec.Command("ip", "-n", name, "-o", "link", "show", "lo").CombinedOutput()
		if err != nil {
			t.Errorf("ip -n %s: %v\n%s", name, err, out)
		}
		st := mustStat(t, filepath.Join(NetnsRunDir, name))
		if st != ino {
			t.Errorf("pin of %s holds inode %d, want %d", name, st, ino)
		}
	}
	// A name that is taken fails with ErrExist, and the spare survives
	// for the next namespace.
	if _, err := k.AddNamed(names[0], true); !errors.Is(err, os.ErrExist) {
		t.Errorf("AddNamed of a taken name: %v, want ErrExist", err)
	}
	name := prefix + "after"
	ns, err := k.AddNamed(name, true)
	if err != nil {
		t.Fatal(err)
	}
	names = append(names, name)
	if !loState(t, ns) {
		t.Errorf("%s: lo down after a failed AddNamed", name)
	}
	k.DropSpare()
}

// TestDeleteNamedReplaced deletes, by its pin's ID, a namespace that
// someone deleted and made again under the same name: the new one is left
// alone, even though the kernel gives it the inode number of the old one
// (nsh's references are closed first, so that the number is free).
func TestDeleteNamedReplaced(t *testing.T) {
	k := testKernel(t)
	name := fmt.Sprintf("nshk%d-re", os.Getpid())
	ns, err := k.AddNamed(name, false)
	if err != nil {
		t.Fatal(err)
	}
	pin := ns.PinID()
	if pin == 0 {
		t.Skip("this kernel has no unique mount IDs (STATX_MNT_ID_UNIQUE, Linux 6.8)")
	}
	k.Forget(name)
	defer exec.Command("ip", "netns", "del", name).Run()
	ipCmds(t, []string{"netns", "del", name}, []string{"netns", "add", name})
	if err := k.DeleteNamed(name, pin); !errors.Is(err, ErrReplaced) {
		t.Fatalf("DeleteNamed of a replaced namespace: %v, want ErrReplaced", err)
	}
	if _, err := os.Lstat(filepath.Join(NetnsRunDir, name)); err != nil {
		t.Fatalf("the replacement was deleted: %v", err)
	}
	// By its own pin, it goes.
	if err := k.DeleteNamed(name, pinID(filepath.Join(NetnsRunDir, name))); err != nil {
		t.Fatal(err)
	}
	if _, err := os.Lstat(filepath.Join(NetnsRunDir, name)); err == nil {
		t.Fatal("still there after DeleteNamed by its own pin")
	}
	// Deleting what is gone is not an error.
	if err := k.DeleteNamed(name, pin); err != nil {
		t.Fatalf("DeleteNamed of a gone namespace: %v", err)
	}
}

// ino returns the inode number of a namespace nsh holds open.
func ino(t *testing.T, ns Namespace) uint64 {
	t.Helper()
	var st unix.Stat_t
	if err := unix.Fstat(ns.Fd(), &st); err != nil {
		t.Fatal(err)
	}
	return st.Ino
}

func mustStat(t *testing.T, path string) uint64 {
	t.Helper()
	st, err := os.Stat(path)
	if err != nil {
		t.Fatal(err)
	}
	return st.Sys().(*syscall.Stat_t).Ino
}

// TestPinFileReuse makes pins after the one whose inode later pins share
// is deleted, and after every pin is: each time AddNamed must still pin a
// namespace, and a taken name must still fail with ErrExist.
func TestPinFileReuse(t *testing.T) {
	k := testKernel(t)
	prefix := fmt.Sprintf("nshk%d-p", os.Getpid())
	var live []string
	defer func() {
		for _, n := range live {
			k.DeleteNamed(n, 0)
		}
	}()
	add := func(name string) {
		t.Helper()
		ns, err := k.AddNamed(name, false)
		if err != nil {
			t.Fatalf("AddNamed(%s): %v", name, err)
		}
		live = append(live, name)
		ino := ino(t, ns)
		if got := mustStat(t, filepath.Join(NetnsRunDir, name)); got != ino {
			t.Fatalf("pin of %s holds inode %d, want %d", name, got, ino)
		}
	}
	del := func(name string) {
		t.Helper()
		if err := k.DeleteNamed(name, 0); err != nil {
			t.Fatal(err)
		}
		for i, n := range live {
			if n == name {
				live = append(live[:i], live[i+1:]...)
				break
			}
		}
	}
	add(prefix + "1")
	add(prefix + "2") // shares 1's file
	if _, err := k.AddNamed(prefix+"2", false); !errors.Is(err, os.ErrExist) {
		t.Errorf("AddNamed of a taken name: %v, want ErrExist", err)
	}
	del(prefix + "1")
	add(prefix + "3") // 1's name is gone, 2's is left
	del(prefix + "2")
	del(prefix + "3")
	add(prefix + "4") // no name left at all: a new file
	del(prefix + "4")
}

// TestDeleteNamedAll deletes several namespaces together, one of them
// replaced by someone else meanwhile and one already gone: the replaced
// one is left with ErrReplaced, the gone one is not an error, and the
// others are deleted.
func TestDeleteNamedAll(t *testing.T) {
	k := testKernel(t)
	prefix := fmt.Sprintf("nshk%d-all", os.Getpid())
	var names []string
	var pins []uint64
	for i := 0; i < 12; i++ {
		name := fmt.Sprintf("%s%d", prefix, i)
		ns, err := k.AddNamed(name, true)
		if err != nil {
			t.Fatal(err)
		}
		names, pins = append(names, name), append(pins, ns.PinID())
	}
	defer func() {
		for _, n := range names {
			exec.Command("ip", "netns", "del", n).Run()
		}
	}()
	if pins[0] == 0 {
		t.Skip("this kernel has no unique mount IDs (STATX_MNT_ID_UNIQUE, Linux 6.8)")
	}
	k.Forget(names[3])
	ipCmds(t, []string{"netns", "del", names[3]}, []string{"netns", "add", names[3]}, []string{"netns", "del", names[7]})
	errs := k.DeleteNamedAll(names, pins)
	for i, name := range names {
		_, statErr := os.Lstat(filepath.Join(NetnsRunDir, name))
		switch {
		case i == 3:
			if !errors.Is(errs[i], ErrReplaced) {
				t.Errorf("%s (replaced): %v, want ErrReplaced", name, errs[i])
			}
			if statErr != nil {
				t.Errorf("%s (replaced) was deleted", name)
			}
		default:
			if errs[i] != nil {
				t.Errorf("%s: %v", name, errs[i])
			}
			if statErr == nil {
				t.Errorf("%s is still there", name)
			}
		}
	}
}

// ipCmds runs ip commands, as another program changing the kernel
// between nsh's operations.
func ipCmds(t *testing.T, cmds ...[]string) {
	t.Helper()
	for _, args := range cmds {
		if out, err := exec.Command("ip", args...).CombinedOutput(); err != nil {
			t.Fatalf("ip %v: %v\n%s", args, err, out)
		}
	}
}
