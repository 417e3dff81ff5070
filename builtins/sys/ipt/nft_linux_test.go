package ipt

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"runtime"
	"testing"

	"github.com/google/nftables"
	"github.com/mdlayher/netlink"
	"golang.org/x/sys/unix"
)

// nftHandle returns a handle for iptables-nft, whatever the machine's
// iptables is: these tests are about iptables-nft's leftovers.
func nftHandle(t *testing.T) *Handle {
	t.Helper()
	needRoot(t)
	path, err := exec.LookPath("iptables-nft")
	if err != nil {
		path = "/usr/sbin/iptables-nft"
	}
	h, err := Open(path)
	if err != nil {
		t.Fatal(err)
	}
	if !h.NFT() {
		t.Fatalf("%s drives %s, not nf_tables", h.Path, h.Mode)
	}
	return h
}

// TestDropTableAndChain removes, in a new namespace, what iptables-nft
// made for rules once they are gone, and leaves what is still in use: a
// chain with a rule, a chain with a DROP policy, and a table with either.
func TestDropTableAndChain(t *testing.T) {
	h := nftHandle(t)
	ns := newNetns(t)
	rule := []string{"-d", "10.1.1.1", "-j", "ACCEPT"}
	// No t.Fatal inside Do: it would end Do's goroutine, and Do would
	// wait for it forever. A failure that ends the test is returned.
	var lookErr error
	exists := func(table, chain string) bool {
		var ok bool
		var err error
		if chain == "" {
			ok, err = h.TableExists(table)
		} else {
			ok, err = h.ChainMade(table, chain)
		}
		if err != nil && lookErr == nil {
			lookErr = err
		}
		return ok
	}
	err := ns.Do(func() error {
		if exists("filter", "") || exists("filter", "OUTPUT") {
			return errors.New("a new namespace has a filter table")
		}
		if err := h.Append("filter", "OUTPUT", rule); err != nil {
			return err
		}
		if err := h.Append("filter", "INPUT", rule); err != nil {
			return err
		}
		if !exists("filter", "") || !exists("filter", "OUTPUT") || exists("filter", "FORWARD") {
			return errors.New("TableExists or ChainMade do not see what iptables-nft made")
		}
		if empty, err := h.TableEmpty("filter"); err != nil || empty {
			return fmt.Errorf("TableEmpty of a table with rules = %v, %v", empty, err)
		}
		for _, chain := range []string{"", "OUTPUT"} {
			if ok, err := h.drop("filter", chain); err != nil || ok {
				t.Errorf("drop(filter, %q) with rules = %v, %v; want false", chain, ok, err)
			}
		}
		if _, err := h.Delete("filter", "OUTPUT", rule); err != nil {
			return err
		}
		if ok, err := h.DropTable("filter"); err != nil || ok {
			t.Errorf("DropTable with a rule in INPUT = %v, %v; want false", ok, err)
		}
		if ok, err := h.DropChain("filter", "INPUT"); err != nil || ok {
			t.Errorf("DropChain of INPUT, which has a rule = %v, %v; want false", ok, err)
		}
		if ok, err := h.DropChain("filter", "OUTPUT"); err != nil || !ok {
			t.Errorf("DropChain of the empty OUTPUT = %v, %v; want true", ok, err)
		}
		if exists("filter", "OUTPUT") || !exists("filter", "INPUT") {
			t.Error("DropChain removed the wrong chain")
		}
		if ok, err := h.DropChain("filter", "OUTPUT"); err != nil || ok {
			t.Errorf("DropChain of a chain that is gone = %v, %v; want false", ok, err)
		}
		// A DROP policy is not what iptables-nft makes: it stays.
		if _, err := h.Delete("filter", "INPUT", rule); err != nil {
			return err
		}
		if err := h.ipt.ChangePolicy("filter", "INPUT", "DROP"); err != nil {
			return err
		}
		if ok, err := h.DropTable("filter"); err != nil || ok {
			t.Errorf("DropTable with a DROP policy = %v, %v; want false", ok, err)
		}
		if err := h.ipt.ChangePolicy("filter", "INPUT", "ACCEPT"); err != nil {
			return err
		}
		if empty, err := h.TableEmpty("filter"); err != nil || !empty {
			return fmt.Errorf("TableEmpty of an empty table = %v, %v", empty, err)
		}
		if ok, err := h.DropTable("filter"); err != nil || !ok {
			t.Errorf("DropTable of an empty table = %v, %v; want true", ok, err)
		}
		if exists("filter", "") {
			t.Error("DropTable left the table")
		}
		if ok, err := h.DropTable("filter"); err != nil || ok {
			t.Errorf("DropTable of a table that is gone = %v, %v; want false", ok, err)
		}
		return lookErr
	})
	if err != nil {
		t.Fatal(err)
	}
}

// TestDeleteNonRecRefuses checks, against the kernel, the two guards of
// drop's deletion: a chain that got a rule after drop looked is refused
// with EBUSY (where a plain, recursive delete would take the rule with
// it), and a batch made for a ruleset that changed since is refused with
// ERESTART. Either way nothing is deleted.
func TestDeleteNonRecRefuses(t *testing.T) {
	h := nftHandle(t)
	ns := newNetns(t)
	rule := []string{"-d", "10.1.1.1", "-j", "ACCEPT"}
	err := ns.Do(func() error {
		raw, err := netlink.Dial(unix.NETLINK_NETFILTER, nil)
		if err != nil {
			return err
		}
		defer raw.Close()
		if err := h.Append("filter", "OUTPUT", rule); err != nil {
			return err
		}
		rules := func() (int, error) {
			var n int
			err := withNFT(func(c *nftables.Conn) error {
				st, err := h.lookNFT(c, "filter")
				if err == nil {
					n = st.rules["OUTPUT"]
				}
				return err
			})
			return n, err
		}
		gen, err := genID(raw)
		if err != nil {
			return err
		}
		err = deleteNonRec(raw, gen, h.family(), "filter", []string{"OUTPUT"}, true)
		if !errors.Is(err, unix.EBUSY) {
			t.Errorf("deleting a chain with a rule: %v, want EBUSY", err)
		}
		if n, err := rules(); err != nil || n != 1 {
			return fmt.Errorf("after the refused batch, OUTPUT has %d rules (%v), want 1", n, err)
		}
		// The ruleset changes after gen: the batch is refused as a whole.
		if _, err := h.Delete("filter", "OUTPUT", rule); err != nil {
			return err
		}
		if err := h.Append("filter", "OUTPUT", rule); err != nil {
			return err
		}
		if _, err := h.Delete("filter", "OUTPUT", rule); err != nil {
			return err
		}
		err = deleteNonRec(raw, gen, h.family(), "filter", []string{"OUTPUT"}, true)
		if !errors.Is(err, unix.ERESTART) {
			t.Errorf("deleting with a stale generation: %v, want ERESTART", err)
		}
		if ok, err := h.ChainMade("filter", "OUTPUT"); err != nil || !ok {
			return fmt.Errorf("the refused batch deleted the chain (%v)", err)
		}
		gen, err = genID(raw)
		if err != nil {
			return err
		}
		if err := deleteNonRec(raw, gen, h.family(), "filter", []string{"OUTPUT"}, true); err != nil {
			t.Errorf("deleting the empty chain and table: %v", err)
		}
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
}

// needRoot skips a test that must create namespaces unless it runs as
// root.
func needRoot(t *testing.T) {
	t.Helper()
	if os.Geteuid() != 0 {
		t.Skip("needs root to create network namespaces")
	}
}

// testNetns is an anonymous network namespace held by one locked OS
// thread, which runs the functions given to Do in it. (The kernel package's
// kerneltest cannot be used here: package kernel imports ipt.)
type testNetns struct{ do chan func() }

// newNetns makes a namespace that goes when the test ends, with its thread:
// the thread is never unlocked, so the runtime ends it with its goroutine.
func newNetns(t *testing.T) *testNetns {
	t.Helper()
	needRoot(t)
	n := &testNetns{do: make(chan func())}
	ready := make(chan error)
	go func() {
		runtime.LockOSThread()
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			ready <- err
			return
		}
		ready <- nil
		for fn := range n.do {
			fn()
		}
	}()
	if err := <-ready; err != nil {
		t.Fatalf("failed to make a network namespace: %v", err)
	}
	t.Cleanup(func() { close(n.do) })
	return n
}

// Do runs fn in the namespace and returns its error.
func (n *testNetns) Do(fn func() error) error {
	errc := make(chan error, 1)
	n.do <- func() { errc <- fn() }
	return <-errc
}
