package session

import (
	"crypto/rand"
	"encoding/hex"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"sync"
	"time"

	"github.com/nshlab/nsh/builtins/ops"
	"github.com/nshlab/nsh/builtins/sys/kernel"
)

// RunDir holds one directory per session. It is on tmpfs, like the kernel
// objects the journals describe: both vanish at reboot.
var RunDir = "/run/nsh"

var validName = regexp.MustCompile(`^[A-Za-z0-9][A-Za-z0-9._-]{0,63}$`)

// ValidateName reports whether name can name a session.
func ValidateName(name string) error {
	if !validName.MatchString(name) {
		return fmt.Errorf("bad session name %q: use 1 to 64 letters, digits, '.', '_' or '-', starting with a letter or digit", name)
	}
	return nil
}

// Options configure Open.
type Options struct {
	// Name is the session's name.
	Name string
	// RunDir, for a plan, whose RunDir (the package variable) is its own
	// temporary directory, is the RunDir a run would use; "" is RunDir.
	RunDir string
	// Sandbox makes a new session run in a private namespace that stands
	// in for host. An existing session keeps what it was created with.
	Sandbox bool
	// Script is recorded in the session's header.
	Script string
	// Explain, if set, receives each operation's commands as it is applied.
	Explain func(cmds []string)
	// Warn receives warnings, such as a sysctl changed by someone else.
	Warn func(msg string)
	// Existing makes Open fail if the session does not exist yet.
	Existing bool
	// Kernel is the kernel the session applies its operations to: nil
	// for the machine's (kernel.New), which needs root, or another, such
	// as an in-memory model (package model), which does not. The session
	// closes it.
	Kernel kernel.Kernel
	// Trace makes the session keep the commands that Note shows (exec_in)
	// in order with its operations, for Changes: what a script of the
	// lab must run (nsh export of a script).
	Trace bool
}

// A Session is an open, locked session.
type Session struct {
	Name string
	Dir  string
	// RunDir is where a run of the session keeps its files: Dir, or for
	// a plan (Options.RunDir) the Dir a run would have, so that the plan
	// explains the paths of those files (a container's pidfile) as the
	// run does.
	RunDir string
	K      kernel.Kernel

	mu       sync.Mutex
	j        *journal
	lock     *os.File
	cur      *Step
	stepName string
	stepPos  string
	// mine are the steps this process created, for Rollback.
	mine    []*Step
	fresh   bool
	explain func([]string)
	warn    func(string)
	trace   *trace

	// The deferring executor (defer.go): operations journaled but not
	// yet applied, the masters that links were given since the last
	// barrier, and how deep in Atomic the session is (nothing is
	// deferred there).
	pending []*pendingOp
	masters map[string]string
	atomic  int
	// procs is set once the session may have a process running (see
	// watched).
	procs bool
}

// Dir returns the directory of a session.
func Dir(name string) string { return filepath.Join(RunDir, name) }

// Exists reports whether a session has a journal.
func Exists(name string) bool {
	_, err := os.Stat(filepath.Join(Dir(name), "journal"))
	return err == nil
}

// List returns the names of the sessions in RunDir.
func List() []string {
	ents, _ := os.ReadDir(RunDir)
	var names []string
	for _, e := range ents {
		if e.IsDir() && Exists(e.Name()) {
			names = append(names, e.Name())
		}
	}
	sort.Strings(names)
	return names
}

// Open opens or creates a session and takes its lock. A new session with
// Sandbox set gets its sandbox namespace at once, as its first step.
func Open(o Options) (*Session, error) {
	if err := ValidateName(o.Name); err != nil {
		return nil, err
	}
	if o.Kernel == nil && os.Geteuid() != 0 {
		return nil, errors.New("nsh must run as root: it changes the kernel's network state (try sudo)")
	}
	dir := Dir(o.Name)
	if o.Existing && !Exists(o.Name) {
		return nil, NoSession(o.Name)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("failed to create session directory: %w", err)
	}
	lock, err := lockDir(dir, o.Name)
	if err != nil {
		return nil, err
	}
	s := &Session{Name: o.Name, Dir: dir, RunDir: dir, lock: lock, explain: o.Explain, warn: o.Warn}
	if o.RunDir != "" {
		s.RunDir = filepath.Join(o.RunDir, o.Name)
	}
	if o.Trace {
		s.trace = &trace{}
	}
	if s.warn == nil {
		s.warn = func(msg string) { fmt.Fprintln(os.Stderr, "nsh: warning:", msg) }
	}
	fresh := !Exists(o.Name)
	s.fresh = fresh
	meta := Meta{Version: 1, Name: o.Name, Script: o.Script, Created: time.Now().Format(time.RFC3339), BootID: BootID()}
	if o.Sandbox {
		meta.Sandbox = sandboxName(o.Name)
	}
	s.j, err = openJournal(filepath.Join(dir, "journal"), meta)
	if err == nil && s.j.meta.BootID != "" && s.j.meta.BootID != meta.BootID {
		// The lab went with the reboot; its journal must not be replayed
		// against objects someone made since with the same names.
		s.j.close()
		os.Remove(filepath.Join(dir, "journal"))
		os.RemoveAll(filepath.Join(dir, "proc"))
		s.warn(fmt.Sprintf("session %q was made before the machine last booted; its lab is gone, so nsh forgot it", o.Name))
		if o.Existing {
			s.unlock()
			os.RemoveAll(dir)
			return nil, NoSession(o.Name)
		}
		s.fresh = true
		s.j, err = openJournal(filepath.Join(dir, "journal"), meta)
	}
	if err != nil {
		s.unlock()
		return nil, fmt.Errorf("session %q: %w", o.Name, err)
	}
	fresh = s.fresh
	if o.Kernel != nil {
		s.K = o.Kernel
	} else if s.K, err = kernel.New(); err != nil {
		s.K = nil // not a typed nil
		s.Close()
		return nil, err
	}
	if fresh && o.Sandbox {
		s.stepName = "sandbox"
		if err := s.Apply(&ops.NetnsAdd{Name: meta.Sandbox, Lo: true, Sandbox: true}); err != nil {
			s.Rollback()
			s.Close()
			return nil, fmt.Errorf("failed to create the sandbox: %w", err)
		}
		s.cur = nil
		s.mine = nil // the sandbox belongs to the session, not to a run
	} else if o.Sandbox && s.j.meta.Sandbox == "" {
		// Never let --sandbox quietly work on the machine's own namespace.
		s.Close()
		return nil, fmt.Errorf("session %q exists and runs on the machine's own namespace, not in a sandbox: pick another --session, or tear it down first with `nsh down --session %s`", o.Name, o.Name)
	} else if sb := s.j.meta.Sandbox; sb != "" {
		if err := s.K.SetHost(sb); err != nil {
			if !o.Existing || !errors.Is(err, kernel.ErrNoNamespace) {
				s.Close()
				return nil, fmt.Errorf("session %q: its sandbox is gone (%v); run `nsh down --session %s`", o.Name, err, o.Name)
			}
			// undo and down: what was made in the sandbox went with it.
			s.K.HostGone(sb)
		}
	}
	s.recall()
	return s, nil
}

// recall tells the kernel, in journal order, what the reverts of earlier
// processes learned (ops.Recaller), so that this one knows it too, and
// notes whether a process the session started may be running (watched).
func (s *Session) recall() {
	for _, st := range s.j.steps {
		for _, e := range st.Entries {
			if e.Live() {
				s.noteProcess(e.Op)
			}
			if r, ok := e.Op.(ops.Recaller); ok && e.State == Undone {
				r.Recall(s.K)
			}
		}
	}
}

// stale reports whether a session's journal was written before the
// machine last booted.
func stale(name string) bool {
	st, err := Inspect(name)
	return err == nil && st.Meta.BootID != "" && st.Meta.BootID != BootID()
}

// sandboxName returns a namespace name for a session's sandbox that no
// other session shares.
func sandboxName(session string) string {
	var b [3]byte
	rand.Read(b[:])
	return "nsh-sb-" + session + "-" + hex.EncodeToString(b[:])
}

// Fresh reports whether Open created the session.
func (s *Session) Fresh() bool { return s.fresh }

// Ops returns how many operations the session has applied or recorded.
func (s *Session) Ops() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.j.byID)
}

// Meta returns the session's header.
func (s *Session) Meta() Meta { return s.j.meta }

// Sandboxed reports whether the session runs in a sandbox.
func (s *Session) Sandboxed() bool { return s.j.meta.Sandbox != "" }

// StartStep makes the next operation open a new step with this name,
// begun at pos in the script. The step is recorded only once something is
// applied in it.
func (s *Session) StartStep(name, pos string) {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur = nil
	s.stepName, s.stepPos = name, pos
}

// Apply records op, applies it, and records the outcome. If Apply fails,
// the kernel is unchanged and the error is returned.
func (s *Session) Apply(op ops.Op) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.applyLocked(op)
}

// openStep opens the step that the next operation belongs to, if it is
// not open yet.
func (s *Session) openStep() error {
	if s.cur != nil {
		return nil
	}
	name := s.stepName
	if name == "" {
		name = "step"
	}
	st, err := s.j.newStep(name, s.stepPos)
	if err != nil {
		return err
	}
	s.cur = st
	s.mine = append(s.mine, st)
	return nil
}

// applyLocked is Apply with the session's mutex held. The deferred
// operations that op depends on are applied first (see settle).
func (s *Session) applyLocked(op ops.Op) error {
	if err := s.settle(op); err != nil {
		return err
	}
	if err := s.openStep(); err != nil {
		return err
	}
	if sh, key := s.sharedKey(op); key != "" {
		// Other sessions may hold the same state: learn what they saw
		// before any session changed it, and keep them out until this
		// change is applied and marked.
		unlock, err := lockHost()
		if err != nil {
			return err
		}
		defer unlock()
		for _, h := range s.holders(key) {
			sh.Inherit(h)
		}
	}
	e, err := s.j.newOp(s.cur, op)
	if err != nil {
		return err
	}
	if s.explain != nil {
		s.explain(op.Explain(s.j.meta.Sandbox))
	}
	s.noteProcess(op) // from its intent on: it may be running
	if aerr := op.Apply(s.K); aerr != nil {
		if err := s.j.mark(e, Failed); err != nil {
			return errors.Join(aerr, err)
		}
		return aerr
	}
	return s.j.mark(e, Done)
}

// Warn reports a warning through the session's warn function, for a
// builtin that finds a problem it does not fix itself (a FORWARD policy
// that drops what the lab forwards).
func (s *Session) Warn(msg string) { s.warn(msg) }

// Note shows a command that runs without changing what the journal
// tracks (exec_in), where --explain shows operations, and keeps it in the
// trace (see Options.Trace).
func (s *Session) Note(x ops.Explainer) {
	if s.explain != nil {
		s.explain(x.Explain(s.j.meta.Sandbox))
	}
	s.mu.Lock()
	if s.trace != nil {
		s.trace.notes = append(s.trace.notes, traced{after: s.j.nextID, x: x})
	}
	s.mu.Unlock()
}

// Atomic runs fn, which applies operations with Apply, as one change: if
// fn returns an error, every operation that fn applied is reverted at
// once, newest first, and marked undone in the journal, and Atomic
// returns fn's error. A builtin whose work is several operations (a list
// of rules), or one operation followed by a check that it worked (a
// server that must start listening), runs it in Atomic, so that it either
// completes or changes nothing. The reverts go through the journal like
// those of undo: a crash in the middle leaves entries that nsh down
// finishes. fn must not run concurrently with other calls that apply.
func (s *Session) Atomic(fn func() error) error {
	s.mu.Lock()
	first := s.j.nextID
	s.atomic++
	s.mu.Unlock()
	err := fn()
	s.mu.Lock()
	s.atomic--
	s.mu.Unlock()
	if err == nil {
		return nil
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	var entries []*Entry
	for id := first; id < s.j.nextID; id++ {
		if e, ok := s.j.byID[id]; ok && e.Live() {
			entries = append(entries, e)
		}
	}
	if rerr := s.revertEntries(entries); rerr != nil {
		return fmt.Errorf("%w (and failed to revert what it had changed: %v)", err, rerr)
	}
	return err
}

// Steps returns the steps whose changes may still be in the kernel, oldest
// first.
func (s *Session) Steps() []*Step {
	s.mu.Lock()
	defer s.mu.Unlock()
	return liveSteps(s.j.steps)
}

func liveSteps(all []*Step) []*Step {
	var out []*Step
	for _, st := range all {
		if st.Live() {
			out = append(out, st)
		}
	}
	return out
}

// Undo reverts the newest n live steps, newest first, and returns how many
// it reverted. The sandbox step is never undone: only Down removes it.
func (s *Session) Undo(n int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.flushLocked(nil); err != nil {
		return 0, err
	}
	live := s.undoable()
	if n > len(live) {
		n = len(live)
	}
	steps := live[len(live)-n:]
	s.cur = nil
	return n, s.revert(steps)
}

// undoable returns the live steps that Undo may revert: all but the
// sandbox.
func (s *Session) undoable() []*Step {
	live := liveSteps(s.j.steps)
	if s.Sandboxed() && len(live) > 0 && live[0].Name == "sandbox" {
		live = live[1:]
	}
	return live
}

// ErrBeforeMark is returned by UndoSince when the steps asked for reach
// before its mark.
var ErrBeforeMark = errors.New("the steps to undo reach before the mark")

// UndoSince is Undo for a run, or a REPL statement, that must still be
// able to roll back to where it began: it reverts only the newest n live
// steps among those this process created after Mark returned mark. If
// there are fewer than n, it reverts them all, unless the session has
// older live steps that Undo would have reached: then it reverts nothing
// and returns how many there are, with ErrBeforeMark.
func (s *Session) UndoSince(mark, n int) (int, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err := s.flushLocked(nil); err != nil {
		return 0, err
	}
	if mark < 0 || mark > len(s.mine) {
		mark = len(s.mine)
	}
	live := liveSteps(s.mine[mark:])
	if n > len(live) {
		if len(s.undoable()) > len(live) {
			return len(live), ErrBeforeMark
		}
		n = len(live)
	}
	s.cur = nil
	return n, s.revert(live[len(live)-n:])
}

// Rollback reverts every step this process created.
func (s *Session) Rollback() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur = nil
	err := errors.Join(s.dropPending(), s.revert(s.mine))
	s.mine = nil
	return err
}

// Mark returns how many steps this process has created so far, for
// RevertSince.
func (s *Session) Mark() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.mine)
}

// RevertSince reverts the steps this process created after Mark returned
// mark, newest first, and leaves the earlier ones alone: the REPL uses it
// to revert one failed or interrupted statement.
func (s *Session) RevertSince(mark int) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.cur = nil
	if mark < 0 || mark > len(s.mine) {
		mark = len(s.mine)
	}
	err := errors.Join(s.dropPending(), s.revert(s.mine[mark:]))
	s.mine = s.mine[:mark]
	return err
}

// Down reverts the whole session, sandbox included, and removes its
// directory if everything was reverted.
func (s *Session) Down() error {
	s.mu.Lock()
	err := errors.Join(s.dropPending(), s.revert(s.j.steps))
	s.mu.Unlock()
	if err != nil {
		return err
	}
	return s.remove()
}

// revert reverts the live entries of steps, newest first.
func (s *Session) revert(steps []*Step) error {
	var entries []*Entry
	for _, st := range steps {
		for _, e := range st.Entries {
			if e.Live() {
				entries = append(entries, e)
			}
		}
	}
	return s.revertEntries(entries)
}

// revertEntries reverts live entries, given oldest first, newest first,
// and marks them undone in the journal. An operation whose effect lives
// only in namespaces deleted by the same revert is not reverted by itself:
// deleting the namespace removes it.
func (s *Session) revertEntries(entries []*Entry) error {
	doomed := map[string]bool{}
	reverted := map[int]bool{}
	for _, e := range entries {
		if c, ok := e.Op.(ops.Creator); ok {
			doomed[c.Creates()] = true
		}
		reverted[e.ID] = true
	}
	// A deletion whose undo would make again only what this revert then
	// reverts (nsh down of a lab that deleted something) is not undone by
	// itself: the reverts of what it deleted find nothing to do.
	moot := func(e *Entry) bool {
		r, ok := e.Op.(ops.Replayer)
		if !ok {
			return false
		}
		for _, id := range r.Replays() {
			if !reverted[id] {
				return false
			}
		}
		return true
	}
	var errs []error
	// Entries whose revert is subsumed are marked undone in one write,
	// made before the next revert that touches the kernel.
	var subsumedMarks []*Entry
	flush := func() error {
		err := s.j.markUndone(subsumedMarks)
		subsumedMarks = subsumedMarks[:0]
		return err
	}
	for i := len(entries) - 1; i >= 0; {
		e := entries[i]
		if subsumed(e.Op, doomed) || moot(e) {
			subsumedMarks = append(subsumedMarks, e)
			i--
			continue
		}
		if _, ok := e.Op.(ops.Independent); ok {
			// A series of independent reverts (namespace pins) is done
			// together; the subsumed entries among them are marked first,
			// as before any revert that touches the kernel.
			var run []*Entry
			for ; i >= 0; i-- {
				e := entries[i]
				if subsumed(e.Op, doomed) {
					subsumedMarks = append(subsumedMarks, e)
				} else if _, ok := e.Op.(ops.Independent); ok {
					run = append(run, e)
				} else {
					break
				}
			}
			if err := flush(); err != nil {
				return errors.Join(append(errs, err)...)
			}
			rerrs, err := s.revertAll(run)
			errs = append(errs, rerrs...)
			if err != nil {
				return errors.Join(append(errs, err)...)
			}
			continue
		}
		i--
		if err := flush(); err != nil {
			return errors.Join(append(errs, err)...)
		}
		rerr, jerr := s.revertEntry(e)
		if jerr != nil {
			return errors.Join(append(errs, jerr)...)
		}
		if rerr != nil {
			errs = append(errs, rerr)
		}
	}
	if err := flush(); err != nil {
		errs = append(errs, err)
	}
	return errors.Join(errs...)
}

// revertEntry reverts one entry's operation and marks it undone; a
// Warning is reported and counts as reverted. It returns the revert's
// error and the journal's. An operation on state that other sessions still
// hold only releases its own part: the last holder restores the state.
// The lock of the machine's shared state is held until the entry is
// marked, so that a session tearing down at the same time never counts
// this one as a holder of what it has already released.
func (s *Session) revertEntry(e *Entry) (error, error) {
	op := e.Op
	var err error
	if r, ok := op.(ops.Replayer); ok {
		return s.replay(e, r)
	}
	if sh, key := s.sharedKey(op); key == "" {
		err = op.Revert(s.K)
	} else {
		unlock, lerr := lockHost()
		if lerr != nil {
			return lerr, nil
		}
		defer unlock()
		if len(s.holders(key)) > 0 {
			err = sh.Release(s.K)
		} else {
			err = op.Revert(s.K)
		}
	}
	if err != nil {
		var w *ops.Warning
		if !errors.As(err, &w) {
			return err, nil
		}
		s.warn(w.Msg)
	}
	return nil, s.j.mark(e, Undone)
}

// replay reverts a deletion (see ops.Replayer): it applies again the
// operations that made what the deletion deleted, and records what they
// learn, so that reverting them later finds what the replay made; then it
// marks the deletion undone.
func (s *Session) replay(del *Entry, r ops.Replayer) (error, error) {
	var entries []*Entry
	var list []ops.Op
	for _, id := range r.Replays() {
		if e, ok := s.j.byID[id]; ok && e.Live() {
			entries = append(entries, e)
			list = append(list, e.Op)
		}
	}
	if err := r.Replay(s.K, list); err != nil {
		return err, nil
	}
	for _, e := range entries {
		if err := s.j.mark(e, Done); err != nil {
			return nil, err
		}
	}
	return nil, s.j.mark(del, Undone)
}

// deleted returns the IDs of the live entries that a live deletion (an
// ops.Replayer) has deleted: what they made is not in the kernel while
// the deletion is.
func (s *Session) deleted() map[int]bool { return deletedIn(s.j.steps) }

// deletedIn is Session.deleted for the steps of a journal.
func deletedIn(steps []*Step) map[int]bool {
	out := map[int]bool{}
	for _, st := range steps {
		for _, e := range st.Entries {
			if r, ok := e.Op.(ops.Replayer); ok && e.Live() {
				for _, id := range r.Replays() {
					out[id] = true
				}
			}
		}
	}
	return out
}

// revertAll reverts independent entries together (ops.RevertAll), then
// reports warnings and errors in the entries' order and marks the reverted
// ones undone in one write. It returns the entries' errors, and the
// journal's.
func (s *Session) revertAll(run []*Entry) ([]error, error) {
	list := make([]ops.Op, len(run))
	for i, e := range run {
		list[i] = e.Op
	}
	var errs []error
	var undone []*Entry
	for i, err := range ops.RevertAll(s.K, list) {
		var w *ops.Warning
		switch {
		case err == nil:
		case errors.As(err, &w):
			s.warn(w.Msg)
		default:
			errs = append(errs, err)
			continue
		}
		undone = append(undone, run[i])
	}
	return errs, s.j.markUndone(undone)
}

func subsumed(op ops.Op, doomed map[string]bool) bool {
	sc, ok := op.(ops.Scoped)
	if !ok {
		return false
	}
	nss := sc.Namespaces()
	for _, n := range nss {
		if !doomed[n] {
			return false
		}
	}
	return len(nss) > 0
}

// Empty reports whether nothing the session made is left in the kernel.
func (s *Session) Empty() bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(liveSteps(s.j.steps)) == 0
}

func (s *Session) remove() error {
	s.K.Close()
	s.j.close()
	if err := os.RemoveAll(s.Dir); err != nil {
		return fmt.Errorf("failed to remove session directory: %w", err)
	}
	s.unlock()
	return nil
}

func (s *Session) unlock() {
	if s.lock != nil {
		s.lock.Close()
		s.lock = nil
	}
}

// Close releases the lock. A session with nothing left in the kernel is
// removed.
func (s *Session) Close() error {
	if s.lock == nil {
		return nil
	}
	var ferr error
	if s.j != nil {
		// The script's end is a barrier (see Flush); a run and the REPL
		// flush before, to report a failure as the script's.
		s.mu.Lock()
		ferr = s.flushLocked(nil)
		s.mu.Unlock()
	}
	if ferr != nil {
		s.warn(ferr.Error())
	}
	if s.j != nil && s.Empty() {
		return s.remove()
	}
	if s.K != nil {
		s.K.Close()
	}
	if s.j != nil {
		s.j.close()
	}
	s.unlock()
	return nil
}
