package session

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"runtime"
	"strings"
	"sync"
	"time"

	"github.com/nshlab/nsh/builtins/ops"
)

// A record is one line of the journal.
type record struct {
	// T is the record type: "session", "step", "op", "done", "fail" or
	// "undone".
	T string `json:"t"`
	// ID numbers steps and operations (one sequence for both).
	ID int `json:"id,omitempty"`
	// Step is the step an "op" belongs to.
	Step int `json:"step,omitempty"`
	// Name is a step's name.
	Name string `json:"name,omitempty"`
	// Kind and Args are an operation.
	Kind string          `json:"kind,omitempty"`
	Args json.RawMessage `json:"args,omitempty"`
	// Pos is where a step began in the script.
	Pos string `json:"pos,omitempty"`
	// Time is when a step or the session began.
	Time string `json:"time,omitempty"`
	// Meta is the session's header.
	Meta *Meta `json:"meta,omitempty"`
}

// Meta describes a session; it is the journal's first record.
type Meta struct {
	Version int    `json:"version"`
	Name    string `json:"name"`
	Sandbox string `json:"sandbox,omitempty"` // the sandbox namespace's name
	Script  string `json:"script,omitempty"`
	Created string `json:"created"`
	// BootID is the kernel's boot_id when the session began: a journal
	// from another boot describes objects that no longer exist.
	BootID string `json:"boot_id,omitempty"`
}

// bootIDFile is where BootID reads the kernel's boot ID; a test points it
// at a file of its own to play a reboot.
var bootIDFile = "/proc/sys/kernel/random/boot_id"

// BootID returns the running kernel's boot ID.
func BootID() string {
	b, _ := os.ReadFile(bootIDFile)
	return strings.TrimSpace(string(b))
}

// OpState is an operation's state in the journal.
type OpState int

// The states of an operation.
const (
	// Pending: recorded, and maybe applied (nsh stopped before it knew).
	Pending OpState = iota
	// Done: applied.
	Done
	// Failed: Apply failed and changed nothing.
	Failed
	// Undone: reverted.
	Undone
)

func (s OpState) String() string {
	return [...]string{"pending", "done", "failed", "undone"}[s]
}

// Entry is an operation with its place in the journal.
type Entry struct {
	ID    int
	Step  int
	Op    ops.Op
	State OpState
}

// Live reports whether the entry's change may be in the kernel.
func (e *Entry) Live() bool { return e.State == Pending || e.State == Done }

// Step is a named group of operations.
type Step struct {
	ID      int
	Name    string
	Pos     string
	Time    time.Time
	Entries []*Entry
}

// Live reports whether any of the step's operations may be in the kernel.
func (s *Step) Live() bool {
	for _, e := range s.Entries {
		if e.Live() {
			return true
		}
	}
	return false
}

// journal is the append-only file.
type journal struct {
	f      *os.File
	meta   Meta
	steps  []*Step
	byID   map[int]*Entry
	nextID int
}

// openJournal opens or creates the journal file, repairs a torn last line,
// and replays it.
func openJournal(path string, meta Meta) (*journal, error) {
	f, err := os.OpenFile(path, os.O_RDWR|os.O_CREATE, 0o644)
	if err != nil {
		return nil, fmt.Errorf("failed to open journal: %w", err)
	}
	j := &journal{f: f, byID: map[int]*Entry{}, nextID: 1}
	data, err := io.ReadAll(f)
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("failed to read journal: %w", err)
	}
	// A crash can leave a partial last line: cut it off.
	if n := bytes.LastIndexByte(data, '\n') + 1; n < len(data) {
		if err := f.Truncate(int64(n)); err != nil {
			f.Close()
			return nil, fmt.Errorf("failed to repair journal: %w", err)
		}
		data = data[:n]
	}
	if _, err := f.Seek(0, io.SeekEnd); err != nil {
		f.Close()
		return nil, err
	}
	if len(data) == 0 {
		j.meta = meta
		if err := j.append(record{T: "session", Meta: &meta}); err != nil {
			f.Close()
			return nil, err
		}
		return j, nil
	}
	if err := j.replay(data); err != nil {
		f.Close()
		return nil, err
	}
	return j, nil
}

func (j *journal) replay(data []byte) error {
	// The lines are decoded on every CPU, then applied in order: a large
	// journal is read by every undo and down, and JSON is most of that.
	lines := bytes.Split(bytes.TrimSuffix(data, []byte("\n")), []byte("\n"))
	recs := make([]record, len(lines))
	errs := make([]error, len(lines))
	parallel(len(lines), func(i int) {
		errs[i] = json.Unmarshal(lines[i], &recs[i])
	})
	// An operation's parameters are decoded once, after the scan, from
	// its last record that has them: the "done" record of an operation
	// that learns while it is applied repeats them all.
	type pending struct {
		e    *Entry
		kind string
		args json.RawMessage
		line int
	}
	var todo []*pending
	byID := map[int]*pending{}
	for i := range recs {
		line := i + 1
		if errs[i] != nil {
			return fmt.Errorf("journal line %d: %w", line, errs[i])
		}
		r := &recs[i]
		if r.ID >= j.nextID {
			j.nextID = r.ID + 1
		}
		switch r.T {
		case "session":
			if r.Meta != nil {
				j.meta = *r.Meta
			}
		case "step":
			t, _ := time.Parse(time.RFC3339Nano, r.Time)
			j.steps = append(j.steps, &Step{ID: r.ID, Name: r.Name, Pos: r.Pos, Time: t})
		case "op":
			e := &Entry{ID: r.ID, Step: r.Step}
			p := &pending{e: e, kind: r.Kind, args: r.Args, line: line}
			todo = append(todo, p)
			byID[r.ID] = p
			j.byID[r.ID] = e
			if st := j.step(r.Step); st != nil {
				st.Entries = append(st.Entries, e)
			} else {
				return fmt.Errorf("journal line %d: operation %d in unknown step %d", line, r.ID, r.Step)
			}
		case "done", "fail", "undone":
			p := byID[r.ID]
			if p == nil {
				return fmt.Errorf("journal line %d: %q of unknown operation %d", line, r.T, r.ID)
			}
			if r.Args != nil {
				// What the operation learned while it was applied.
				p.args, p.line = r.Args, line
			}
			switch r.T {
			case "done":
				p.e.State = Done
			case "fail":
				p.e.State = Failed
			default:
				p.e.State = Undone
			}
		default:
			return fmt.Errorf("journal line %d: unknown record type %q", line, r.T)
		}
	}
	errs = make([]error, len(todo))
	parallel(len(todo), func(i int) {
		p := todo[i]
		p.e.Op, errs[i] = ops.Decode(p.kind, p.args)
	})
	for i, err := range errs {
		if err != nil {
			return fmt.Errorf("journal line %d: %w", todo[i].line, err)
		}
	}
	return nil
}

// parallel calls fn(i) for i in [0, n), on every CPU when n is large.
func parallel(n int, fn func(i int)) {
	workers := min(runtime.GOMAXPROCS(0), n/256)
	if workers < 2 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	var wg sync.WaitGroup
	chunk := (n + workers - 1) / workers
	for lo := 0; lo < n; lo += chunk {
		hi := min(lo+chunk, n)
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := lo; i < hi; i++ {
				fn(i)
			}
		}()
	}
	wg.Wait()
}

func (j *journal) step(id int) *Step {
	for i := len(j.steps) - 1; i >= 0; i-- {
		if j.steps[i].ID == id {
			return j.steps[i]
		}
	}
	return nil
}

// append writes one record. The write reaches the page cache before the
// operation it records touches the kernel, so the record survives nsh
// being killed at any point. It is not fsynced: the journal describes
// kernel objects that a machine crash or reboot removes as well, and a
// journal from an earlier boot is discarded when opened (Meta.BootID), so
// durability beyond the process buys nothing. On a /run that is not
// tmpfs, an fsync per record cost half of a lab's build time.
func (j *journal) append(r record) error {
	b, err := json.Marshal(r)
	if err != nil {
		return err
	}
	b = append(b, '\n')
	if _, err := j.f.Write(b); err != nil {
		return fmt.Errorf("failed to write journal: %w", err)
	}
	return nil
}

func (j *journal) newStep(name, pos string) (*Step, error) {
	st := &Step{ID: j.nextID, Name: name, Pos: pos, Time: time.Now()}
	if err := j.append(record{T: "step", ID: st.ID, Name: name, Pos: pos, Time: st.Time.Format(time.RFC3339Nano)}); err != nil {
		return nil, err
	}
	j.nextID++
	j.steps = append(j.steps, st)
	return st, nil
}

func (j *journal) newOp(st *Step, op ops.Op) (*Entry, error) {
	args, err := ops.Encode(op)
	if err != nil {
		return nil, err
	}
	e := &Entry{ID: j.nextID, Step: st.ID, Op: op}
	if err := j.append(record{T: "op", ID: e.ID, Step: st.ID, Kind: op.Kind(), Args: args}); err != nil {
		return nil, err
	}
	j.nextID++
	j.byID[e.ID] = e
	st.Entries = append(st.Entries, e)
	return e, nil
}

func (j *journal) mark(e *Entry, s OpState) error {
	r := record{T: map[OpState]string{Done: "done", Failed: "fail", Undone: "undone"}[s], ID: e.ID}
	_, learner := e.Op.(ops.Learner)
	_, recaller := e.Op.(ops.Recaller)
	if learner && s == Done || recaller && s == Undone {
		args, err := ops.Encode(e.Op)
		if err != nil {
			return err
		}
		r.Args = args
	}
	if err := j.append(r); err != nil {
		return err
	}
	e.State = s
	return nil
}

// markUndone records in one write that entries are undone.
func (j *journal) markUndone(entries []*Entry) error {
	if len(entries) == 0 {
		return nil
	}
	var buf []byte
	for _, e := range entries {
		b, err := json.Marshal(record{T: "undone", ID: e.ID})
		if err != nil {
			return err
		}
		buf = append(append(buf, b...), '\n')
	}
	if _, err := j.f.Write(buf); err != nil {
		return fmt.Errorf("failed to write journal: %w", err)
	}
	for _, e := range entries {
		e.State = Undone
	}
	return nil
}

func (j *journal) close() error { return j.f.Close() }
