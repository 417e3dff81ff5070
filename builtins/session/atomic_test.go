package session

import (
	"errors"
	"os"
	"testing"
)

// TestAtomic checks that Atomic keeps what fn applied when fn succeeds,
// and reverts it, through the journal, when fn fails after applying.
func TestAtomic(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root: Open takes the kernel's handles")
	}
	old := RunDir
	RunDir = t.TempDir()
	defer func() { RunDir = old }()
	s, err := Open(Options{Name: "atomic"})
	if err != nil {
		t.Fatal(err)
	}
	defer s.Down()
	applied := map[int]bool{}
	apply := func(n int) error { return s.Apply(&fakeOp{N: n, applied: &applied}) }

	s.StartStep("kept", "")
	if err := s.Atomic(func() error { return apply(1) }); err != nil {
		t.Fatal(err)
	}
	s.StartStep("failed check", "")
	check := errors.New("the check failed")
	err = s.Atomic(func() error {
		if err := apply(2); err != nil {
			return err
		}
		if err := apply(3); err != nil {
			return err
		}
		return check
	})
	if !errors.Is(err, check) {
		t.Errorf("Atomic returned %v, want the error of fn", err)
	}
	if !applied[1] || len(applied) != 1 {
		t.Errorf("after a failed Atomic, applied = %v, want only 1", applied)
	}
	// The journal, read again from the file, agrees: the failed step's
	// operations are undone, and only the first step is left.
	st, err := Inspect("atomic")
	if err != nil {
		t.Fatal(err)
	}
	if len(st.Steps) != 1 || st.Steps[0].Name != "kept" {
		t.Errorf("live steps in the journal = %v, want [kept]", st.Steps)
	}
	for _, step := range st.Steps {
		for _, e := range step.Entries {
			if e.State != Done {
				t.Errorf("entry %d of step %q is %s, want done", e.ID, step.Name, e.State)
			}
		}
	}
}
