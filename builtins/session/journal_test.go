package session

import (
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/nshlab/nsh/builtins/ops"
)

func TestJournalReplay(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal")
	j, err := openJournal(path, Meta{Version: 1, Name: "lab", Sandbox: "sb"})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := j.newStep("run lab.star", "lab.star")
	a, _ := j.newOp(st, &ops.NetnsAdd{Name: "earth", Lo: true})
	j.mark(a, Done)
	b, _ := j.newOp(st, &ops.LinkAdd{NS: "earth", Name: "e0", Type: &ops.Bridge{}})
	j.mark(b, Failed)
	st2, _ := j.newStep("second", "lab.star:3:5")
	c, _ := j.newOp(st2, &ops.AddrAdd{NS: "earth", Link: "e0", CIDR: "10.0.0.1/24"})
	j.mark(c, Done)
	j.mark(c, Undone)
	d, _ := j.newOp(st2, &ops.LinkSet{NS: "earth", Name: "lo", Attr: "up", Value: "false", Old: "true"})
	_ = d // left pending, as if nsh was killed while applying it
	j.close()

	j2, err := openJournal(path, Meta{Name: "ignored"})
	if err != nil {
		t.Fatal(err)
	}
	defer j2.close()
	if j2.meta.Name != "lab" || j2.meta.Sandbox != "sb" {
		t.Errorf("meta = %+v", j2.meta)
	}
	if len(j2.steps) != 2 || j2.steps[1].Pos != "lab.star:3:5" {
		t.Fatalf("steps = %+v", j2.steps)
	}
	want := map[int]OpState{a.ID: Done, b.ID: Failed, c.ID: Undone, d.ID: Pending}
	for id, s := range want {
		if got := j2.byID[id].State; got != s {
			t.Errorf("op %d: state %v, want %v", id, got, s)
		}
	}
	if live := liveSteps(j2.steps); len(live) != 2 {
		t.Errorf("live steps = %d, want 2 (step 2 has a pending op)", len(live))
	}
	if j2.nextID <= d.ID {
		t.Errorf("nextID %d not after last id %d", j2.nextID, d.ID)
	}
}

func TestJournalRepairsTornLine(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal")
	j, err := openJournal(path, Meta{Version: 1, Name: "lab"})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := j.newStep("s", "")
	e, _ := j.newOp(st, &ops.NetnsAdd{Name: "earth"})
	j.mark(e, Done)
	j.close()
	f, _ := os.OpenFile(path, os.O_APPEND|os.O_WRONLY, 0)
	f.WriteString(`{"t":"op","id":9,"step":`) // a crash mid-write
	f.Close()

	j2, err := openJournal(path, Meta{})
	if err != nil {
		t.Fatalf("torn journal not repaired: %v", err)
	}
	st2, _ := j2.newStep("after", "")
	if _, err := j2.newOp(st2, &ops.NetnsAdd{Name: "mars"}); err != nil {
		t.Fatal(err)
	}
	j2.close()
	data, _ := os.ReadFile(path)
	if strings.Contains(string(data), `"id":9,"step":{`) || strings.Count(string(data), "\n") != 6 {
		t.Errorf("journal after repair:\n%s", data)
	}
	if _, err := openJournal(path, Meta{}); err != nil {
		t.Errorf("reopen after repair: %v", err)
	}
}

func TestSubsumed(t *testing.T) {
	doomed := map[string]bool{"earth": true, "host": true}
	cases := []struct {
		op   ops.Op
		want bool
	}{
		{&ops.AddrAdd{NS: "earth"}, true},
		{&ops.LinkAdd{NS: "earth", Type: &ops.Veth{PeerNS: "mars"}}, false},
		{&ops.LinkAdd{NS: "earth", Type: &ops.Veth{PeerNS: "host"}}, true},
		{&ops.ProcSpawn{NS: "earth"}, false},
		{&ops.NetnsAdd{Name: "earth"}, false},
	}
	for _, c := range cases {
		if got := subsumed(c.op, doomed); got != c.want {
			t.Errorf("subsumed(%#v) = %v, want %v", c.op, got, c.want)
		}
	}
}

func TestValidateName(t *testing.T) {
	for _, ok := range []string{"lab", "my-lab.1", "A_b"} {
		if err := ValidateName(ok); err != nil {
			t.Errorf("ValidateName(%q) = %v", ok, err)
		}
	}
	for _, bad := range []string{"", "-x", "a/b", "a b", strings.Repeat("x", 65), ".."} {
		if err := ValidateName(bad); err == nil {
			t.Errorf("ValidateName(%q) = nil", bad)
		}
	}
}

func TestJournalRecordsWhatAnOpLearned(t *testing.T) {
	path := filepath.Join(t.TempDir(), "journal")
	j, err := openJournal(path, Meta{Version: 1, Name: "lab"})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := j.newStep("s", "")
	op := &ops.LinkSet{NS: "earth", Name: "e0", Attr: "master", Value: "br0"}
	e, _ := j.newOp(st, op)
	op.Old, op.Learned = "br1", true // as Apply does
	j.mark(e, Done)
	pending := &ops.LinkSet{NS: "earth", Name: "e1", Attr: "up", Value: "true"}
	j.newOp(st, pending) // nsh killed while applying it
	j.close()

	j2, err := openJournal(path, Meta{})
	if err != nil {
		t.Fatal(err)
	}
	defer j2.close()
	got := j2.byID[e.ID].Op.(*ops.LinkSet)
	if got.Old != "br1" || !got.Learned {
		t.Errorf("replayed op = %+v, want Old br1 and Learned", got)
	}
	if p := j2.byID[e.ID+1].Op.(*ops.LinkSet); p.Learned {
		t.Errorf("a pending op claims to have learned its old value: %+v", p)
	}
}

// playBoot points BootID at a file of the test's that holds id, as if the
// machine had booted with that boot ID, until the test ends.
func playBoot(t *testing.T, id string) {
	t.Helper()
	f := filepath.Join(t.TempDir(), "boot_id")
	if err := os.WriteFile(f, []byte(id+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	old := bootIDFile
	bootIDFile = f
	t.Cleanup(func() { bootIDFile = old })
}

// writeSession writes the journal of a session made in boot: one step that
// made a namespace.
func writeSession(t *testing.T, name, boot string) {
	t.Helper()
	if err := os.MkdirAll(Dir(name), 0o755); err != nil {
		t.Fatal(err)
	}
	j, err := openJournal(filepath.Join(Dir(name), "journal"), Meta{Version: 1, Name: name, BootID: boot})
	if err != nil {
		t.Fatal(err)
	}
	st, _ := j.newStep("run lab.star", "lab.star")
	e, _ := j.newOp(st, &ops.NetnsAdd{Name: "earth-" + name, Lo: true})
	j.mark(e, Done)
	j.close()
}

func TestStaleAfterReboot(t *testing.T) {
	old := RunDir
	RunDir = t.TempDir()
	defer func() { RunDir = old }()
	if BootID() == "" {
		t.Fatal("no boot ID")
	}
	playBoot(t, "boot-2")
	writeSession(t, "before", "boot-1")
	writeSession(t, "now", "boot-2")
	if !stale("before") {
		t.Error("a journal from another boot is not stale")
	}
	if stale("now") {
		t.Error("a journal from this boot is stale")
	}
}

// TestOpenForgetsAnotherBoot checks the boot ID check of Open: a journal
// written before the machine last booted describes a lab that went with
// the reboot, so Open forgets it (and warns) rather than attach to it, and
// a new session of that name starts empty; a journal of this boot is kept.
func TestOpenForgetsAnotherBoot(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("Open needs root")
	}
	old := RunDir
	RunDir = t.TempDir()
	defer func() { RunDir = old }()
	playBoot(t, "boot-2")
	var warnings []string
	warn := func(msg string) { warnings = append(warnings, msg) }

	// Attaching (undo, down, status) to a session of another boot.
	writeSession(t, "gone", "boot-1")
	s, err := Open(Options{Name: "gone", Existing: true, Warn: warn})
	if err == nil {
		s.Close()
		t.Fatalf("Open attached to a session of another boot")
	}
	if !strings.Contains(err.Error(), `no session "gone"`) {
		t.Errorf("Open of a session of another boot: %v, want no session", err)
	}
	if Exists("gone") {
		t.Errorf("the journal of another boot is still there")
	}
	if len(warnings) != 1 || !strings.Contains(warnings[0], "before the machine last booted") {
		t.Errorf("warnings = %q, want one that the session was made before the last boot", warnings)
	}

	// A new run of a session of another boot starts afresh.
	warnings = nil
	writeSession(t, "again", "boot-1")
	s, err = Open(Options{Name: "again", Warn: warn})
	if err != nil {
		t.Fatal(err)
	}
	if !s.Fresh() || len(s.Steps()) != 0 || s.Meta().BootID != "boot-2" {
		t.Errorf("a session of another boot reopened with fresh %v, %d steps, boot %q; want fresh, none, boot-2", s.Fresh(), len(s.Steps()), s.Meta().BootID)
	}
	s.Close()
	if len(warnings) != 1 {
		t.Errorf("warnings = %q, want one", warnings)
	}

	// A session of this boot is attached to, with its steps.
	warnings = nil
	writeSession(t, "here", "boot-2")
	s, err = Open(Options{Name: "here", Existing: true, Warn: warn})
	if err != nil {
		t.Fatalf("Open of a session of this boot: %v", err)
	}
	if s.Fresh() || len(s.Steps()) != 1 {
		t.Errorf("a session of this boot opened with fresh %v and %d steps; want its 1 step", s.Fresh(), len(s.Steps()))
	}
	s.Close()
	if len(warnings) != 0 {
		t.Errorf("warnings for a session of this boot: %q", warnings)
	}
}
