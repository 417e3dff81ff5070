package session

import (
	"bytes"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"sync"
	"testing"

	"github.com/nshlab/nsh/builtins/ops"
	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/nshlab/nsh/builtins/sys/model"
)

// These tests run the session's revert against the in-memory kernel of
// package model: they need no root.

// watched is a model kernel that records the calls that tell how a
// rollback went: which namespaces were deleted together, and which were
// looked up.
type watched struct {
	*model.Kernel
	mu      sync.Mutex
	deletes [][]string // each DeleteNamedAll call
	lookups []string   // each Namespace call
}

func (w *watched) DeleteNamed(name string, pin uint64) error {
	return w.DeleteNamedAll([]string{name}, []uint64{pin})[0]
}

func (w *watched) DeleteNamedAll(names []string, pins []uint64) []error {
	w.mu.Lock()
	w.deletes = append(w.deletes, append([]string(nil), names...))
	w.mu.Unlock()
	return w.Kernel.DeleteNamedAll(names, pins)
}

func (w *watched) Namespace(name string) (kernel.Namespace, error) {
	w.mu.Lock()
	w.lookups = append(w.lookups, name)
	w.mu.Unlock()
	return w.Kernel.Namespace(name)
}

func (w *watched) reset() {
	w.mu.Lock()
	defer w.mu.Unlock()
	w.deletes, w.lookups = nil, nil
}

// logOp is an operation that changes nothing and logs its reverts.
type logOp struct {
	N   string `json:"n"`
	log *[]string
}

func init() { ops.Register("test.log", func() ops.Op { return new(logOp) }) }

func (o *logOp) Kind() string              { return "test.log" }
func (o *logOp) Apply(kernel.Kernel) error { return nil }
func (o *logOp) Revert(kernel.Kernel) error {
	if o.log != nil {
		*o.log = append(*o.log, o.N)
	}
	return nil
}
func (o *logOp) Explain(string) []string { return []string{"log " + o.N} }

// openModel opens a session on k in a RunDir of the test's own.
func openModel(t *testing.T, k kernel.Kernel, name string, sandbox bool) *Session {
	t.Helper()
	if RunDir == "/run/nsh" {
		old := RunDir
		RunDir = t.TempDir()
		t.Cleanup(func() { RunDir = old })
	}
	s, err := Open(Options{Name: name, Sandbox: sandbox, Kernel: k, Warn: func(msg string) { t.Log("warning:", msg) }})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func mustApply(t *testing.T, s *Session, list ...ops.Op) {
	t.Helper()
	for _, op := range list {
		if err := s.Apply(op); err != nil {
			t.Fatal(err)
		}
	}
}

// lab applies, in three steps, a namespace with a veth to host, an
// address, and a sysctl of host.
func lab(t *testing.T, s *Session) {
	t.Helper()
	s.StartStep("netns", "")
	mustApply(t, s, &ops.NetnsAdd{Name: "n1", Lo: true})
	s.StartStep("veth", "")
	mustApply(t, s,
		&ops.LinkAdd{NS: "n1", Name: "eth0", Type: &ops.Veth{Peer: "v1", PeerNS: "host"}},
		&ops.AddrAdd{NS: "n1", Link: "eth0", CIDR: "10.0.0.2/24"},
		&ops.LinkSet{NS: "n1", Name: "eth0", Attr: "up", Value: "true"})
	s.StartStep("forward", "")
	mustApply(t, s, &ops.SysctlSet{NS: "host", Key: "net.ipv4.ip_forward", Value: "1", Old: "0"})
}

// TestUndoNewestFirst undoes the newest step, then the next, and checks
// that the model is as before each.
func TestUndoNewestFirst(t *testing.T) {
	k := model.New(model.Options{})
	s := openModel(t, k, "undo", false)
	states := []string{k.Dump()}
	s.StartStep("netns", "")
	mustApply(t, s, &ops.NetnsAdd{Name: "n1", Lo: true})
	states = append(states, k.Dump())
	s.StartStep("veth", "")
	mustApply(t, s, &ops.LinkAdd{NS: "n1", Name: "eth0", Type: &ops.Veth{Peer: "v1", PeerNS: "host"}},
		&ops.AddrAdd{NS: "n1", Link: "eth0", CIDR: "10.0.0.2/24"})
	states = append(states, k.Dump())
	s.StartStep("forward", "")
	mustApply(t, s, &ops.SysctlSet{NS: "host", Key: "net.ipv4.ip_forward", Value: "1", Old: "0"})
	if !strings.Contains(k.Dump(), "net/ipv4/conf/all/forwarding=1") {
		t.Fatalf("ip_forward not set:\n%s", k.Dump())
	}
	for i := len(states) - 1; i >= 1; i-- {
		if n, err := s.Undo(1); err != nil || n != 1 {
			t.Fatalf("Undo(1) = %d, %v", n, err)
		}
		if got := k.Dump(); got != states[i] {
			t.Errorf("after undoing step %d:\n%s\nwant:\n%s", i+1, got, states[i])
		}
	}
	// Within a step, newest first.
	var log []string
	s.StartStep("log", "")
	mustApply(t, s, &logOp{N: "a", log: &log}, &logOp{N: "b", log: &log})
	s.StartStep("log2", "")
	mustApply(t, s, &logOp{N: "c", log: &log})
	if _, err := s.Undo(2); err != nil {
		t.Fatal(err)
	}
	if want := []string{"c", "b", "a"}; !reflect.DeepEqual(log, want) {
		t.Errorf("reverted %v, want %v", log, want)
	}
	if err := s.Down(); err != nil {
		t.Fatal(err)
	}
}

// TestDownBatchesAndSkipsScoped tears a lab down: the namespaces are
// deleted in one batch, what lives only in them is not reverted by itself
// (nothing looks n1 up), and host is as before.
func TestDownBatchesAndSkipsScoped(t *testing.T) {
	w := &watched{Kernel: model.New(model.Options{})}
	s := openModel(t, w, "down", false)
	before := w.Dump()
	lab(t, s)
	s.StartStep("more", "")
	mustApply(t, s, &ops.NetnsAdd{Name: "n2"}, &ops.NetnsAdd{Name: "n3"},
		&ops.LinkAdd{NS: "n2", Name: "a", Type: &ops.Veth{Peer: "b", PeerNS: "n3"}},
		&ops.LinkSet{NS: "n2", Name: "a", Attr: "up", Value: "true"},
		&ops.IptRule{NS: "n2", Table: "nat", Chain: "POSTROUTING", Args: []string{"-j", "MASQUERADE"}})
	dir := s.Dir
	w.reset()
	if err := s.Down(); err != nil {
		t.Fatal(err)
	}
	if got := w.Dump(); got != before {
		t.Errorf("after down:\n%s\nwant:\n%s", got, before)
	}
	// n1's veth has its peer in host: it is reverted, n1's own address
	// and state are not. n2 and n3 go in one batch, their link, state and
	// rule with them; n1 is a batch of its own, after host's veth.
	if want := [][]string{{"n3", "n2"}, {"n1"}}; !reflect.DeepEqual(w.deletes, want) {
		t.Errorf("deleted %v, want %v", w.deletes, want)
	}
	for _, name := range w.lookups {
		if name == "n2" || name == "n3" {
			t.Errorf("looked up %s, whose operations die with it: %v", name, w.lookups)
			break
		}
	}
	if _, err := os.Stat(dir); !os.IsNotExist(err) {
		t.Errorf("session directory left: %v", err)
	}
}

// TestSandboxDown runs a lab in a sandbox: undo never removes the sandbox,
// down does, and everything made in it goes with it unreverted.
func TestSandboxDown(t *testing.T) {
	w := &watched{Kernel: model.New(model.Options{})}
	before := w.Dump()
	s := openModel(t, w, "sandbox", true)
	sb := s.Meta().Sandbox
	if !w.Sandboxed() || !w.Exists(sb) {
		t.Fatalf("no sandbox %q", sb)
	}
	lab(t, s)
	if n, err := s.Undo(10); err != nil || n != 3 {
		t.Fatalf("Undo(10) = %d, %v; want 3 (not the sandbox)", n, err)
	}
	if !w.Exists(sb) {
		t.Fatal("undo removed the sandbox")
	}
	lab(t, s)
	w.reset()
	if err := s.Down(); err != nil {
		t.Fatal(err)
	}
	if got := w.Dump(); got != before {
		t.Errorf("after down:\n%s\nwant:\n%s", got, before)
	}
	if want := [][]string{{"n1", sb}}; !reflect.DeepEqual(w.deletes, want) {
		t.Errorf("deleted %v, want %v", w.deletes, want)
	}
	if len(w.lookups) != 0 {
		t.Errorf("looked up %v: everything lived in the namespaces deleted", w.lookups)
	}
}

// TestLearnerRecorded checks that what an operation learns while it is
// applied (a link's index, that iptables made a table) is in the journal
// once it is done, and decoded from it.
func TestLearnerRecorded(t *testing.T) {
	k := model.New(model.Options{})
	s := openModel(t, k, "learn", false)
	defer s.Down()
	lab(t, s)
	mustApply(t, s, &ops.IptRule{NS: "n1", Table: "nat", Chain: "POSTROUTING", Args: []string{"-j", "MASQUERADE"}})
	st, err := Inspect("learn")
	if err != nil {
		t.Fatal(err)
	}
	var add *ops.LinkAdd
	var rule *ops.IptRule
	var set *ops.LinkSet
	for _, step := range st.Steps {
		for _, e := range step.Entries {
			switch o := e.Op.(type) {
			case *ops.LinkAdd:
				add = o
			case *ops.IptRule:
				rule = o
			case *ops.LinkSet:
				set = o
			}
		}
	}
	// n1 has lo (1); the peer v1 is made first, in host, then eth0 (2).
	if add == nil || add.Index != 2 {
		t.Errorf("journal's link.add = %+v, want index 2", add)
	}
	if rule == nil || !rule.NewTable || rule.Bin != "/usr/sbin/iptables" {
		t.Errorf("journal's ipt.rule = %+v, want new_table and the binary", rule)
	}
	if set == nil || !set.Learned || set.Old != "false" {
		t.Errorf("journal's link.set = %+v, want old=false learned", set)
	}
}

// TestCrashBeforeMark replays a journal whose last operation was recorded
// but never marked (nsh died between the apply and its mark), once where
// the change was made and once where it was not: down reverts it in both
// cases (it lives in host, which down does not delete), and the model is
// as before.
func TestCrashBeforeMark(t *testing.T) {
	for _, applied := range []bool{true, false} {
		k := model.New(model.Options{})
		before := k.Dump()
		s := openModel(t, k, "crash", false)
		s.StartStep("netns", "")
		mustApply(t, s, &ops.NetnsAdd{Name: "n1", Lo: true})
		last := &ops.LinkAdd{NS: "host", Name: "v0", Type: &ops.Veth{Peer: "v1", PeerNS: "host"}}
		s.StartStep("veth", "")
		if applied {
			mustApply(t, s, last)
		} else {
			// Recorded, then nsh died before it applied it.
			s.mu.Lock()
			st, _ := s.j.newStep("veth", "")
			if _, err := s.j.newOp(st, last); err != nil {
				t.Fatal(err)
			}
			s.mu.Unlock()
		}
		s.Close()
		path := filepath.Join(Dir("crash"), "journal")
		if applied {
			dropLastDone(t, path)
		}
		s = openModelExisting(t, k, "crash")
		if err := s.Down(); err != nil {
			t.Fatalf("applied=%v: down: %v", applied, err)
		}
		if got := k.Dump(); got != before {
			t.Errorf("applied=%v: after down:\n%s\nwant:\n%s", applied, got, before)
		}
		// Idempotent: a second revert (a down that died after the first)
		// changes nothing and succeeds.
		if err := last.Revert(k); err != nil {
			t.Errorf("applied=%v: second revert: %v", applied, err)
		}
	}
}

func openModelExisting(t *testing.T, k kernel.Kernel, name string) *Session {
	t.Helper()
	s, err := Open(Options{Name: name, Existing: true, Kernel: k})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

// dropLastDone removes the journal's last record, which must be a done
// mark, as if nsh had died before writing it.
func dropLastDone(t *testing.T, path string) {
	t.Helper()
	b, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	lines := bytes.Split(bytes.TrimSuffix(b, []byte("\n")), []byte("\n"))
	last := lines[len(lines)-1]
	if !bytes.Contains(last, []byte(`"t":"done"`)) {
		t.Fatalf("last record is %s, want a done mark", last)
	}
	out := append(bytes.Join(lines[:len(lines)-1], []byte("\n")), '\n')
	if err := os.WriteFile(path, out, 0o644); err != nil {
		t.Fatal(err)
	}
}
