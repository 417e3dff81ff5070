package session

import (
	"slices"
	"testing"

	"github.com/nshlab/nsh/builtins/ops"
	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/nshlab/nsh/builtins/sys/model"
)

// deletionLab applies a namespace with a veth whose other end is in host,
// with an address and a state, then deletes the namespace as
// ns.delete() does: a NetnsDel that lists those operations.
func deletionLab(t *testing.T, s *Session, built func()) {
	t.Helper()
	s.StartStep("lab", "")
	add := &ops.NetnsAdd{Name: "n1", Lo: true}
	mustApply(t, s, add,
		&ops.LinkAdd{NS: "n1", Name: "eth0", Type: &ops.Veth{Peer: "v1", PeerNS: "host"}},
		&ops.AddrAdd{NS: "n1", Link: "eth0", CIDR: "10.0.0.2/24"},
		&ops.LinkSet{NS: "n1", Name: "eth0", Attr: "up", Value: "true"},
		&ops.AddrAdd{NS: "host", Link: "v1", CIDR: "10.0.0.1/24"})
	var ids []int
	for _, st := range s.Steps() {
		for _, e := range st.Entries {
			if st.Name == "lab" {
				ids = append(ids, e.ID)
			}
		}
	}
	built()
	s.StartStep("delete", "")
	mustApply(t, s, &ops.NetnsDel{Name: "n1", Pin: add.Pin, Destroys: ids})
}

// TestUndoDeletion checks that undoing a deletion makes again exactly
// what it deleted, records what the replay learned, so that another
// process's down removes it all, and that the deleted namespace is not
// the session's while the deletion is live.
func TestUndoDeletion(t *testing.T) {
	k := model.New(model.Options{})
	s := openModel(t, k, "replay", false)
	empty := k.Dump()
	var built string
	deletionLab(t, s, func() { built = k.Dump() })
	if k.Dump() == built {
		t.Fatalf("the deletion changed nothing:\n%s", built)
	}
	if slices.Contains(s.Namespaces(), "n1") {
		t.Errorf("Namespaces() lists n1 after its deletion: %v", s.Namespaces())
	}
	if n, err := s.Undo(1); err != nil || n != 1 {
		t.Fatalf("Undo(1) = %d, %v", n, err)
	}
	if got := k.Dump(); got != built {
		t.Errorf("after the undo of the deletion:\n%s\nwant:\n%s", got, built)
	}
	if !slices.Contains(s.Namespaces(), "n1") {
		t.Errorf("Namespaces() lacks n1 after undoing its deletion: %v", s.Namespaces())
	}
	// Another process tears it down from the journal alone.
	s.Close()
	s2 := openModelExisting(t, k, "replay")
	if err := s2.Down(); err != nil {
		t.Fatalf("down after the undo of a deletion: %v", err)
	}
	if got := k.Dump(); got != empty {
		t.Errorf("down after the undo of a deletion left:\n%s\nwant:\n%s", got, empty)
	}
}

// adds is a model kernel that counts the namespaces it is asked to make.
type adds struct {
	*model.Kernel
	n int
}

func (a *adds) AddNamed(name string, lo bool) (kernel.Namespace, error) {
	a.n++
	return a.Kernel.AddNamed(name, lo)
}

// TestDownAfterDeletion checks that down of a lab that deleted a
// namespace does not make it again, and leaves nothing.
func TestDownAfterDeletion(t *testing.T) {
	k := &adds{Kernel: model.New(model.Options{})}
	s := openModel(t, k, "downdel", false)
	empty := k.Dump()
	deletionLab(t, s, func() {})
	made := k.n
	if err := s.Down(); err != nil {
		t.Fatal(err)
	}
	if got := k.Dump(); got != empty {
		t.Errorf("down left:\n%s\nwant:\n%s", got, empty)
	}
	if k.n != made {
		t.Errorf("down made %d namespaces again, to delete them", k.n-made)
	}
}
