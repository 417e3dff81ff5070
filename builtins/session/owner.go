package session

import (
	"os"
	"path/filepath"
	"sort"
	"sync"
	"time"

	"github.com/nshlab/nsh/builtins/ops"
	"github.com/nshlab/nsh/builtins/sys/kernel"
)

// Owners answers, for one open session, which session made a namespace,
// or a link in the machine's own namespace, so that a session can refuse
// to change what another one made: a second session that moved a link
// out of the first one's namespace, or deleted its address, would leave
// the first one's journal describing a lab that is no longer there.
//
// The session's own objects are found in its journal, indexed as it grows,
// so that a lab that only touches what it made never reads another
// journal. Other sessions' journals are read only when a name is not the
// session's own, and read again only when they have changed.
type Owners struct {
	s *Session

	mu sync.Mutex
	// The session's own live objects, indexed up to step, entry.
	step, entry int
	ns          map[string][]*Entry
	links       map[string][]*Entry
	// What the other sessions made, by session name.
	others map[string]*made
	bootID string
	// reads counts the journals read, for tests.
	reads int
}

// made is what one other session has live.
type made struct {
	size      int64
	mtime     time.Time
	sandboxed bool
	ns        map[string]bool
	links     map[string]bool // in the machine's own namespace
}

// NewOwners returns an ownership query for s. It caches what it reads, so
// keep one per open session.
func NewOwners(s *Session) *Owners {
	return &Owners{s: s, ns: map[string][]*Entry{}, links: map[string][]*Entry{}, others: map[string]*made{}}
}

// Session returns the session o answers for.
func (o *Owners) Session() *Session { return o.s }

// Namespace returns the name of the session that made the named namespace
// and has not removed it: s's own name, another session's, or "" if no
// session did.
func (o *Owners) Namespace(name string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.own(o.ns, name) {
		return o.s.Name
	}
	o.refresh()
	return o.other(name, func(m *made) bool { return m.ns[name] })
}

// OwnStep returns the name of the step of s that made the named namespace
// and has not removed it, or "".
func (o *Owners) OwnStep(ns string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if !o.own(o.ns, ns) {
		return ""
	}
	s := o.s
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, e := range o.ns[ns] {
		if st := s.j.step(e.Step); e.Live() && st != nil {
			return st.Name
		}
	}
	return ""
}

// HostLink returns the name of the session that made the named link in
// host and has not removed it: s's own name, another session's, or "" if
// no session did. Another session's links count only when neither session
// runs in a sandbox: a sandbox's host is private to its session.
func (o *Owners) HostLink(name string) string {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.own(o.links, name) {
		return o.s.Name
	}
	if o.s.Sandboxed() {
		return ""
	}
	o.refresh()
	return o.other(name, func(m *made) bool { return !m.sandboxed && m.links[name] })
}

// own reports whether s has a live entry that made name, after indexing
// the entries added since the last call.
func (o *Owners) own(index map[string][]*Entry, name string) bool {
	s := o.s
	s.mu.Lock()
	defer s.mu.Unlock()
	for ; o.step < len(s.j.steps); o.step, o.entry = o.step+1, 0 {
		entries := s.j.steps[o.step].Entries
		for ; o.entry < len(entries); o.entry++ {
			e := entries[o.entry]
			creates(e.Op, func(n string) { o.ns[n] = append(o.ns[n], e) },
				func(n string) { o.links[n] = append(o.links[n], e) })
		}
		if o.step == len(s.j.steps)-1 {
			break // entries may still be added to the newest step
		}
	}
	deleted := s.deleted()
	for _, e := range index[name] {
		if e.Live() && !deleted[e.ID] {
			return true
		}
	}
	return false
}

// other returns the first other session, by name, that has made what has
// says.
func (o *Owners) other(name string, has func(*made) bool) string {
	names := make([]string, 0, len(o.others))
	for n := range o.others {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		if has(o.others[n]) {
			return n
		}
	}
	return ""
}

// refresh reads the journals of the other sessions that changed since it
// last read them, and forgets the sessions that are gone.
func (o *Owners) refresh() {
	if o.bootID == "" {
		o.bootID = BootID()
	}
	seen := map[string]bool{}
	for _, n := range List() {
		if n == o.s.Name {
			continue
		}
		fi, err := os.Stat(filepath.Join(Dir(n), "journal"))
		if err != nil {
			continue
		}
		seen[n] = true
		if m := o.others[n]; m != nil && m.size == fi.Size() && m.mtime.Equal(fi.ModTime()) {
			continue
		}
		o.reads++
		st, err := Inspect(n)
		if err != nil || (st.Meta.BootID != "" && st.Meta.BootID != o.bootID) {
			delete(o.others, n) // unreadable, or its lab went with a reboot
			continue
		}
		m := &made{size: fi.Size(), mtime: fi.ModTime(), sandboxed: st.Meta.Sandbox != "",
			ns: map[string]bool{}, links: map[string]bool{}}
		deleted := deletedIn(st.Steps)
		for _, step := range st.Steps {
			for _, e := range step.Entries {
				if e.Live() && !deleted[e.ID] {
					creates(e.Op, func(n string) { m.ns[n] = true }, func(n string) { m.links[n] = true })
				}
			}
		}
		o.others[n] = m
	}
	for n := range o.others {
		if !seen[n] {
			delete(o.others, n)
		}
	}
}

// creates calls ns with the name of the namespace op creates, and link with
// the names of the links it makes (or brings) in host.
func creates(op ops.Op, ns, link func(string)) {
	host := func(n string) bool { return n == "" || n == kernel.HostName }
	switch o := op.(type) {
	case *ops.NetnsAdd:
		ns(o.Name) // the sandbox's own name too: no one else may use it
	case *ops.LinkAdd:
		if host(o.NS) {
			link(o.Name)
		}
		if pns, peer, ok := ops.PeerOf(o); ok && host(pns) {
			link(peer)
		}
	case *ops.LinkMove:
		if host(o.ToNS) && !host(o.NS) {
			name := o.NewName
			if name == "" {
				name = o.Name
			}
			link(name)
		}
	}
}
