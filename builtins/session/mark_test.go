package session

import (
	"testing"

	"github.com/nshlab/nsh/builtins/ops"
	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/nshlab/nsh/builtins/sys/model"
)

// fakeOp is an operation that changes nothing but a counter.
type fakeOp struct {
	N       int `json:"n"`
	applied *map[int]bool
}

func init() { ops.Register("test.fake", func() ops.Op { return new(fakeOp) }) }

func (o *fakeOp) Kind() string               { return "test.fake" }
func (o *fakeOp) Apply(kernel.Kernel) error  { (*o.applied)[o.N] = true; return nil }
func (o *fakeOp) Revert(kernel.Kernel) error { delete(*o.applied, o.N); return nil }
func (o *fakeOp) Explain(string) []string    { return []string{"fake"} }

func TestRevertSince(t *testing.T) {
	s := openModel(t, model.New(model.Options{}), "mark", false)
	defer s.Down()
	applied := map[int]bool{}
	step := func(name string, ns ...int) {
		s.StartStep(name, "")
		for _, n := range ns {
			if err := s.Apply(&fakeOp{N: n, applied: &applied}); err != nil {
				t.Fatal(err)
			}
		}
	}
	step("one", 1)
	m := s.Mark()
	step("two", 2, 3)
	step("three", 4)
	if err := s.RevertSince(m); err != nil {
		t.Fatal(err)
	}
	if !applied[1] || len(applied) != 1 {
		t.Errorf("after RevertSince, applied = %v, want only 1", applied)
	}
	if st := s.Steps(); len(st) != 1 || st[0].Name != "one" {
		t.Errorf("live steps = %v, want [one]", st)
	}
	if err := s.RevertSince(s.Mark()); err != nil {
		t.Fatal(err)
	}
	if !applied[1] {
		t.Errorf("RevertSince(Mark()) reverted an earlier step")
	}
}
