package session

import (
	"fmt"
	"os"
	"testing"

	"github.com/nshlab/nsh/builtins/ops"
)

// journalOps journals ops in a new step of s as if it had been applied (or,
// with undone, applied and reverted), without touching the kernel.
func journalOps(t *testing.T, s *Session, undone bool, list ...ops.Op) {
	t.Helper()
	s.mu.Lock()
	defer s.mu.Unlock()
	st, err := s.j.newStep("test", "")
	if err != nil {
		t.Fatal(err)
	}
	for _, op := range list {
		e, err := s.j.newOp(st, op)
		if err != nil {
			t.Fatal(err)
		}
		state := Done
		if undone {
			state = Undone
		}
		if err := s.j.mark(e, state); err != nil {
			t.Fatal(err)
		}
	}
}

// TestOwners checks who owns what, and that a session whose names are its
// own never reads another journal, and reads one again only when it
// changed.
func TestOwners(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: Open takes the kernel's handles")
	}
	old := RunDir
	RunDir = t.TempDir()
	defer func() { RunDir = old }()
	a, err := Open(Options{Name: "a"})
	if err != nil {
		t.Fatal(err)
	}
	defer a.Close()
	b, err := Open(Options{Name: "b"})
	if err != nil {
		t.Fatal(err)
	}
	defer b.Close()

	journalOps(t, a, false,
		&ops.NetnsAdd{Name: "earth"},
		&ops.LinkAdd{NS: "host", Name: "abr", Type: &ops.Bridge{}},
		&ops.LinkAdd{NS: "earth", Name: "x", Type: &ops.Veth{Peer: "y", PeerNS: "host"}})
	journalOps(t, a, true, &ops.NetnsAdd{Name: "gone"})
	var mine []ops.Op
	for i := range 1000 {
		mine = append(mine, &ops.NetnsAdd{Name: fmt.Sprintf("b%d", i)})
	}
	journalOps(t, b, false, mine...)

	o := NewOwners(b)
	for i := range 1000 {
		if who := o.Namespace(fmt.Sprintf("b%d", i)); who != "b" {
			t.Fatalf("Namespace(b%d) = %q, want b", i, who)
		}
	}
	if o.reads != 0 {
		t.Errorf("asking about its own namespaces read %d journals, want none", o.reads)
	}
	for _, c := range []struct {
		ns   bool
		name string
		want string
	}{
		{true, "earth", "a"},
		{true, "gone", ""},
		{true, "mars", ""},
		{false, "abr", "a"},
		{false, "y", "a"},
		{false, "x", ""}, // in earth, not in host
	} {
		var who string
		if c.ns {
			who = o.Namespace(c.name)
		} else {
			who = o.HostLink(c.name)
		}
		if who != c.want {
			t.Errorf("owner of %q = %q, want %q", c.name, who, c.want)
		}
	}
	if o.reads != 1 {
		t.Errorf("read other journals %d times, want once", o.reads)
	}
	journalOps(t, a, false, &ops.NetnsAdd{Name: "mars"})
	if who := o.Namespace("mars"); who != "a" || o.reads != 2 {
		t.Errorf("after a made mars: owner %q (want a), %d reads (want 2)", who, o.reads)
	}
	if step := o.OwnStep("b1"); step != "test" {
		t.Errorf("OwnStep(b1) = %q, want test", step)
	}
	if step := o.OwnStep("earth"); step != "" {
		t.Errorf("OwnStep(earth) = %q, want none: a made it", step)
	}
	journalOps(t, b, false, &ops.NetnsAdd{Name: "b1000"})
	if who := o.Namespace("b1000"); who != "b" || o.reads != 2 {
		t.Errorf("b's new namespace: owner %q (want b), %d reads (want 2)", who, o.reads)
	}
}
