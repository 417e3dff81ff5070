package session

import (
	"errors"
	"fmt"
	"os"
	"strconv"
	"strings"
	"syscall"

	"github.com/nshlab/nsh/builtins/ops"
	"github.com/nshlab/nsh/builtins/sys/kernel"
)

// The deferring executor. A builtin that brings a link up (ApplyAt) has
// its operation checked and journaled at once, as every other, but the
// session may apply it later, at the next barrier: Flush, which every
// builtin that reads or observes the kernel calls first (probes, exec_in,
// spawn, serve, containers, a lookup or an attribute read), and which a
// run calls at the script's end and the REPL at each statement's end. An
// operation applied meanwhile that depends on a deferred "up" (one in the
// same namespace, but for creating links, creating namespaces and
// changing another link) has that "up" applied before it (settle). So
// nothing a script can see tells the two apart, and the end state is the
// one the script says.
//
// What it buys: at a barrier, a link that other deferred links were
// enslaved to (a bridge) comes up after its ports. A star of N
// namespaces around a bridge that is up from the start floods every new
// namespace's duplicate address detection, multicast listener reports
// and router solicitations to every port: N² deliveries, partly inside
// the kernel's rtnl lock, most of a large build's time
// (docs/performance.md, "Big labs").

// A pendingOp is a journaled operation that is not applied yet.
type pendingOp struct {
	e   *Entry
	pos string // the script position of the builtin's call
	fn  string // the builtin's name
}

// A DeferredError is the error of an operation whose application the
// session deferred to a barrier. It names the script position of the
// builtin that asked for it, where a user looks for the cause, not the
// position of the barrier.
type DeferredError struct {
	Pos string // FILE.star:LINE:COL
	Fn  string // the builtin, e.g. "up"
	Err error
}

func (d *DeferredError) Error() string {
	if d.Fn == "" || strings.HasPrefix(d.Err.Error(), d.Fn+": ") {
		return d.Pos + ": " + d.Err.Error()
	}
	return fmt.Sprintf("%s: %s: %v", d.Pos, d.Fn, d.Err)
}

func (d *DeferredError) Unwrap() error { return d.Err }

// linkKey names a link for the executor: its namespace and name.
func linkKey(ns, name string) string {
	if ns == "" {
		ns = kernel.HostName
	}
	return ns + "\x00" + name
}

// deferrable reports whether op may wait for the next barrier: bringing a
// link up, outside Atomic, on state no other session shares.
func (s *Session) deferrable(op ops.Op) bool {
	ls, ok := op.(*ops.LinkSet)
	if !ok || ls.Attr != "up" || ls.Value != "true" || s.atomic > 0 || s.watched() {
		return false
	}
	_, key := s.sharedKey(op)
	return key == ""
}

// watched reports whether a process the session started may be running:
// it watches the kernel while the script goes on, so an up deferred then
// could be seen late, and nothing is deferred.
func (s *Session) watched() bool { return s.procs }

// noteProcess sets procs (see watched) if op starts a process.
func (s *Session) noteProcess(op ops.Op) {
	switch op.(type) {
	case *ops.ProcSpawn, *ops.ContainerAdd:
		s.procs = true
	}
}

// ApplyAt is Apply for a builtin called at pos (FILE.star:LINE:COL) named
// fn: an operation the session may defer (see deferrable) is journaled now
// and applied at the next barrier; an error in applying it then is a
// DeferredError that names pos and fn.
func (s *Session) ApplyAt(op ops.Op, pos, fn string) error {
	s.mu.Lock()
	defer s.mu.Unlock()
	if pos == "" || !s.deferrable(op) {
		return s.applyLocked(op)
	}
	if err := s.openStep(); err != nil {
		return err
	}
	e, err := s.j.newOp(s.cur, op)
	if err != nil {
		return err
	}
	if s.explain != nil {
		s.explain(op.Explain(s.j.meta.Sandbox))
	}
	s.pending = append(s.pending, &pendingOp{e: e, pos: pos, fn: fn})
	return nil
}

// Flush is a barrier: it applies every deferred operation, ports before
// the link they are enslaved to. If one fails, Flush returns its
// DeferredError, and the session is as if the script had stopped at it:
// what the script did after it is reverted, or never applied.
func (s *Session) Flush() error {
	s.mu.Lock()
	defer s.mu.Unlock()
	return s.flushLocked(nil)
}

// settle applies the deferred operations that op depends on, before op is
// applied: those in a namespace op changes. Creating a namespace or a
// veth or bridge, and changing another link (enslaving it to a deferred
// bridge), depend on none.
func (s *Session) settle(op ops.Op) error {
	if len(s.pending) == 0 {
		return nil
	}
	switch o := op.(type) {
	case *ops.NetnsAdd:
		return nil
	case *ops.LinkAdd:
		if _, _, ok := ops.PeerOf(o); ok || o.Type != nil && o.Type.Name() == "bridge" {
			return nil
		}
		// A link on a lower link (macvlan, vlan, vxlan) may need it up.
		return s.flushLocked(nil)
	case *ops.LinkSet:
		key := linkKey(o.NS, o.Name)
		if o.Attr == "master" {
			if s.masters == nil {
				s.masters = map[string]string{}
			}
			s.masters[key] = o.Value
		}
		return s.flushLocked(func(ls *ops.LinkSet) bool { return linkKey(ls.NS, ls.Name) == key })
	}
	sc, ok := op.(ops.Scoped)
	if !ok {
		return s.flushLocked(nil)
	}
	nss := map[string]bool{}
	for _, n := range sc.Namespaces() {
		nss[n] = true
	}
	return s.flushLocked(func(ls *ops.LinkSet) bool {
		n := ls.NS
		if n == "" {
			n = kernel.HostName
		}
		return nss[n]
	})
}

// flushLocked applies the deferred operations that want selects (all if
// want is nil): in journal order, but a link that others among them are
// enslaved to last, so that a bridge comes up once its ports are up.
func (s *Session) flushLocked(want func(*ops.LinkSet) bool) error {
	if len(s.pending) == 0 {
		return nil
	}
	var batch, keep []*pendingOp
	for _, p := range s.pending {
		if want == nil || want(p.e.Op.(*ops.LinkSet)) {
			batch = append(batch, p)
		} else {
			keep = append(keep, p)
		}
	}
	if len(batch) == 0 {
		return nil
	}
	s.pending = keep
	// Masters of links in the batch come up last.
	isMaster := map[string]bool{}
	for _, p := range batch {
		ls := p.e.Op.(*ops.LinkSet)
		if m := s.masters[linkKey(ls.NS, ls.Name)]; m != "" {
			isMaster[linkKey(ls.NS, m)] = true
		}
	}
	order := make([]*pendingOp, 0, len(batch))
	var last []*pendingOp
	for _, p := range batch {
		ls := p.e.Op.(*ops.LinkSet)
		if isMaster[linkKey(ls.NS, ls.Name)] {
			last = append(last, p)
		} else {
			order = append(order, p)
		}
	}
	order = append(order, last...)
	if len(s.pending) == 0 {
		s.masters = nil
	}
	var failed *pendingOp
	var ferr error
	for i, p := range order {
		if testKillAfter > 0 && i == testKillAfter {
			syscall.Kill(os.Getpid(), syscall.SIGKILL)
		}
		if failed != nil && p.e.ID > failed.e.ID {
			// After the failure in the script: never applied.
			if err := s.j.mark(p.e, Failed); err != nil {
				return errors.Join(ferr, err)
			}
			continue
		}
		err := p.e.Op.Apply(s.K)
		if err == nil && testFail != "" && p.e.Op.(*ops.LinkSet).Name == testFail {
			p.e.Op.Revert(s.K)
			err = fmt.Errorf("failed to set link %q up: injected failure (NSH_TEST_FLUSH)", testFail)
		}
		if err != nil {
			if jerr := s.j.mark(p.e, Failed); jerr != nil {
				return errors.Join(err, jerr)
			}
			if failed == nil || p.e.ID < failed.e.ID {
				failed, ferr = p, &DeferredError{Pos: p.pos, Fn: p.fn, Err: err}
			}
			continue
		}
		if err := s.j.mark(p.e, Done); err != nil {
			return err
		}
	}
	if failed == nil {
		s.syncLinks(order)
		return nil
	}
	return s.forgetAfter(failed.e.ID, ferr)
}

// syncLinks reads each link the batch brought up, ports before their
// bridge, once all of them are up. A link that has just come up is not
// operational until the kernel's linkwatch work runs, up to a second
// later; until then it drops what it sends, and a bridge does not
// forward to it (a bridge brought up before the linkwatch work of its
// ports leaves them disabled until then). Reading a link (RTM_GETLINK)
// runs its pending linkwatch event at once (Linux 6.8 and later), so the
// lab is as settled at the barrier as it would be a moment after the same
// commands typed one by one. A read that fails is of no consequence: the
// kernel settles the link by itself.
func (s *Session) syncLinks(order []*pendingOp) {
	for _, p := range order {
		ls := p.e.Op.(*ops.LinkSet)
		ns, err := s.K.Namespace(ls.NS)
		if err != nil {
			continue
		}
		h, err := ns.Netlink()
		if err != nil {
			continue
		}
		if li, ok := ns.Known(ls.Name); ok && li.Index > 0 {
			h.LinkByIndex(li.Index)
		} else {
			h.LinkByName(ls.Name)
		}
	}
}

// forgetAfter makes the session as if the script had stopped at the
// operation with ID id, which failed with err: the deferred operations
// after it are never applied, and those after it that were applied are
// reverted. It returns err, with the revert's error if any.
func (s *Session) forgetAfter(id int, err error) error {
	var keep []*pendingOp
	for _, p := range s.pending {
		if p.e.ID < id {
			keep = append(keep, p)
			continue
		}
		if jerr := s.j.mark(p.e, Failed); jerr != nil {
			return errors.Join(err, jerr)
		}
	}
	s.pending = keep
	var entries []*Entry
	for i := id + 1; i < s.j.nextID; i++ {
		if e, ok := s.j.byID[i]; ok && e.Live() {
			entries = append(entries, e)
		}
	}
	if rerr := s.revertEntries(entries); rerr != nil {
		return fmt.Errorf("%w (and failed to revert what the script did after it: %v)", err, rerr)
	}
	return err
}

// dropPending forgets the deferred operations without applying them, for
// a rollback that reverts them anyway: they changed nothing.
func (s *Session) dropPending() error {
	var errs []error
	for _, p := range s.pending {
		errs = append(errs, s.j.mark(p.e, Failed))
	}
	s.pending, s.masters = nil, nil
	return errors.Join(errs...)
}

// Test hooks, for the tests of the executor (tests/executor_test.go):
// NSH_TEST_FLUSH=fail=NAME makes bringing link NAME up fail at a barrier;
// NSH_TEST_FLUSH=kill=K kills nsh with SIGKILL after K deferred
// operations of a barrier are applied.
var (
	testFail      string
	testKillAfter int
)

func init() {
	v := os.Getenv("NSH_TEST_FLUSH")
	if name, ok := strings.CutPrefix(v, "fail="); ok {
		testFail = name
	} else if k, ok := strings.CutPrefix(v, "kill="); ok {
		testKillAfter, _ = strconv.Atoi(k)
	}
}
