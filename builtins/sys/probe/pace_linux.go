package probe

import (
	"errors"
	"net"
	"net/netip"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// neighLimits are the kernel's numbers for one neighbour table.
type neighLimits struct {
	thresh3 int    // gc_thresh3: the most entries the table holds
	entries int    // entries now
	fulls   uint64 // table_fulls: allocations refused so far
	known   bool   // read from the kernel rather than assumed
}

// readNeighLimits reads the limits of the IPv4 ([0], arp_cache) and IPv6
// ([1], ndisc_cache) neighbour tables. The kernel shows them only in the
// machine's own network namespace (/proc/sys/net/ipv4/neigh/default and
// /proc/net/stat); elsewhere (a sandboxed or rootless nsh) the defaults
// are assumed.
func readNeighLimits() [2]neighLimits {
	var out [2]neighLimits
	for f, fam := range []struct{ sys, stat string }{
		{"/proc/sys/net/ipv4/neigh/default/gc_thresh3", "/proc/net/stat/arp_cache"},
		{"/proc/sys/net/ipv6/neigh/default/gc_thresh3", "/proc/net/stat/ndisc_cache"},
	} {
		out[f].thresh3 = defaultThresh3
		b, err := os.ReadFile(fam.sys)
		if err != nil {
			continue
		}
		n, err := strconv.Atoi(strings.TrimSpace(string(b)))
		if err != nil || n <= 0 {
			continue
		}
		out[f].thresh3, out[f].known = n, true
		entries, fulls, ok := readNeighStat(fam.stat)
		if ok {
			out[f].entries, out[f].fulls = entries, fulls
		}
	}
	return out
}

// readNeighStat reads the entries and table_fulls columns of a
// /proc/net/stat neighbour file: a header line, then one line of
// hexadecimal numbers per CPU, in which entries is the same on every line
// and the other columns are per CPU.
func readNeighStat(path string) (entries int, fulls uint64, ok bool) {
	b, err := os.ReadFile(path)
	if err != nil {
		return 0, 0, false
	}
	lines := strings.Split(strings.TrimSpace(string(b)), "\n")
	if len(lines) < 2 {
		return 0, 0, false
	}
	col := map[string]int{}
	for i, name := range strings.Fields(lines[0]) {
		col[name] = i
	}
	ei, ok1 := col["entries"]
	fi, ok2 := col["table_fulls"]
	if !ok1 || !ok2 {
		return 0, 0, false
	}
	for n, l := range lines[1:] {
		f := strings.Fields(l)
		if len(f) <= ei || len(f) <= fi {
			return 0, 0, false
		}
		if n == 0 {
			e, _ := strconv.ParseUint(f[ei], 16, 64)
			entries = int(e)
		}
		v, _ := strconv.ParseUint(f[fi], 16, 64)
		fulls += v
	}
	return entries, fulls, true
}

// budgetOf returns the number of new entries a check may have in flight
// in a table: what the table holds, less what it holds now (which may be
// entries too young to reclaim), and never less than a quarter of it,
// since the kernel reclaims entries that have not changed for 5 seconds.
func budgetOf(l neighLimits) int {
	reserve := max(l.thresh3/8, l.entries)
	return max(l.thresh3/4, l.thresh3-reserve)
}

// A charge is one neighbour entry a request may have created. It counts
// against the budget until it is removed (refunded) or NeighWindow has
// passed.
type charge struct {
	at       time.Time
	refunded bool
}

// ledger holds the charges of the last NeighWindow, per family, for every
// check of the process: two checks in a row share the kernel's table.
var ledger struct {
	sync.Mutex
	charges [2][]*charge
}

// inFlight returns the charges of family f that still count at now, and
// when the oldest of them stops counting; it drops those that no longer
// count. The caller holds ledger's lock.
func inFlight(f int, now time.Time) (n int, next time.Time) {
	cs := ledger.charges[f][:0]
	for _, c := range ledger.charges[f] {
		if c.refunded || now.Sub(c.at) >= NeighWindow {
			continue
		}
		cs = append(cs, c)
		n++
		if next.IsZero() {
			next = c.at.Add(NeighWindow)
		}
	}
	ledger.charges[f] = cs
	return n, next
}

// An entry names a neighbour entry: the node that holds it (-1 for a
// router that is not a node), its link (0 if not known) and the address
// it resolves.
type entry struct {
	node, link int
	addr       netip.Addr
}

// neighHandle is what *netlink.Handle offers beyond kernel.Netlink to
// read and remove neighbour entries.
type neighHandle interface {
	NeighList(linkIndex, family int) ([]netlink.Neigh, error)
	NeighDel(neigh *netlink.Neigh) error
}

// pacer orders the requests of a check and lets each go when the new
// neighbour entries it may create fit in the budget.
//
// The first request between two nodes on one link creates two entries:
// the sender's for the address, and the receiver's for the sender's
// address, which it learns from the ARP request (or neighbour
// solicitation) and answers from. A request back, from the receiver to
// the sender, creates none, so the pacer holds it until the forward one
// is over; forward requests take turns among the nodes. When every
// request between two nodes is over, the pacer removes the entries they
// created (RTM_DELNEIGH), which gives their room back at once: the
// kernel's tables are left as the check found them, and a table of 1024
// entries serves a check that needs ten times as many. An entry that
// existed before the check costs nothing and is left alone; one the pacer
// cannot name (a router's, on the way to an address that is not on a
// link of the sender) is charged, and counts until the kernel may
// reclaim it, NeighWindow later.
type pacer struct {
	nodes       []kernel.Namespace
	targets     []Target
	budget      [2]int // new entries allowed in flight per family; <0: no pacing
	order       []int  // forward targets, in sending order
	pos         int
	ready       []int         // reverse targets released, waiting to go
	holds       map[int][]int // forward target -> reverse targets it holds
	pending     map[int]int   // reverse target -> forward targets not over yet
	pairOf      []int         // target -> its pair (two nodes, one family)
	left        []int         // pair -> its targets not over yet
	pairTargets [][]int       // pair -> its targets
	keys        [][]entry     // target -> the entries it was charged for
	existed     map[entry]bool
	shared      map[entry]bool  // gateways, which many pairs use
	ents        map[int][]entry // target -> entriesOf
	charged     map[entry]*charge
	removed     int     // entries removed after their pair
	toRemove    []entry // entries of pairs that are over, to remove
	waited      time.Duration
	blocked     time.Time // when the head request began waiting for budget
}

// newPacer makes the pacer of a check. limits are the kernel's numbers;
// budget, if not 0, overrides the budget they give.
func newPacer(limits [2]neighLimits, nodes []kernel.Namespace, targets []Target, budget int) *pacer {
	p := &pacer{
		nodes:   nodes,
		targets: targets,
		holds:   map[int][]int{},
		pending: map[int]int{},
		pairOf:  make([]int, len(targets)),
		keys:    make([][]entry, len(targets)),
		existed: map[entry]bool{},
		shared:  map[entry]bool{},
		ents:    map[int][]entry{},
		charged: map[entry]*charge{},
	}
	for f := range p.budget {
		if budget != 0 {
			p.budget[f] = budget
		} else {
			p.budget[f] = budgetOf(limits[f])
		}
	}
	p.readExisting()

	type pairKey struct{ a, b, f int }
	pairs := map[pairKey]int{}
	fwd := map[pairKey][]int{}
	for i, t := range targets {
		f := b2i(t.Addr.Is6())
		a, b := t.From, t.To
		if b >= 0 && b < a {
			a, b = b, a
		}
		k := pairKey{a, b, f}
		if b < 0 {
			k = pairKey{a, -1 - i, f} // a pair of its own
		}
		id, ok := pairs[k]
		if !ok {
			id = len(p.left)
			pairs[k] = id
			p.left = append(p.left, 0)
			p.pairTargets = append(p.pairTargets, nil)
		}
		p.pairTargets[id] = append(p.pairTargets[id], i)
		p.pairOf[i] = id
		p.left[id]++
		if t.To < 0 || t.From < t.To {
			fwd[k] = append(fwd[k], i)
		}
	}
	perNode := make([][]int, len(nodes))
	for i, t := range targets {
		if t.To >= 0 && t.From > t.To {
			if fs := fwd[pairKey{t.To, t.From, b2i(t.Addr.Is6())}]; len(fs) > 0 {
				for _, fi := range fs {
					p.holds[fi] = append(p.holds[fi], i)
				}
				p.pending[i] = len(fs)
				continue
			}
		}
		perNode[t.From] = append(perNode[t.From], i)
	}
	// Take turns: the first request of every node, then the second, ...
	for round := 0; ; round++ {
		more := false
		for _, l := range perNode {
			if round < len(l) {
				p.order = append(p.order, l[round])
				more = true
			}
		}
		if !more {
			break
		}
	}
	return p
}

// readExisting records the neighbour entries the nodes hold before the
// check, which it must neither charge nor remove.
func (p *pacer) readExisting() {
	for i, ns := range p.nodes {
		if ns == nil {
			continue
		}
		h, err := ns.Netlink()
		if err != nil {
			continue
		}
		nh, ok := h.(neighHandle)
		if !ok {
			continue
		}
		ns, err := nh.NeighList(0, unix.AF_UNSPEC)
		if err != nil {
			continue
		}
		for _, n := range ns {
			if a, ok := netip.AddrFromSlice(n.IP); ok {
				p.existed[entry{i, n.LinkIndex, a.Unmap()}] = true
			}
		}
	}
}

// entriesOf returns the entries target t may create: on a link, the
// sender's for the address and the receiver's for the sender; through a
// router, the sender's for its gateway, the router's for the address and
// the receiver's for its router. Where the target does not say, the
// route (RTM_GETROUTE) does.
func (p *pacer) entriesOf(t int) []entry {
	if es, ok := p.ents[t]; ok {
		return es
	}
	tg := p.targets[t]
	var es []entry
	if tg.FromLink != 0 && tg.To >= 0 && tg.ToLink != 0 && tg.Src.IsValid() {
		es = []entry{{tg.From, tg.FromLink, tg.Addr}, {tg.To, tg.ToLink, tg.Src}}
	} else if rt, ok := p.route(tg); ok {
		gw, _ := netip.AddrFromSlice(rt.Gw)
		src, _ := netip.AddrFromSlice(rt.Src)
		if !src.IsValid() {
			src = tg.Src
		}
		switch {
		case gw.IsValid():
			g := entry{tg.From, rt.LinkIndex, gw.Unmap()}
			p.shared[g] = true
			es = []entry{g, {-1, 0, tg.Addr}, {tg.To, 0, netip.Addr{}}}
		case tg.To >= 0 && tg.ToLink != 0 && src.IsValid():
			es = []entry{{tg.From, rt.LinkIndex, tg.Addr}, {tg.To, tg.ToLink, src.Unmap()}}
		default:
			es = []entry{{tg.From, rt.LinkIndex, tg.Addr}, {tg.To, 0, netip.Addr{}}}
		}
	}
	// A request with no route creates no entry: it is not sent.
	p.ents[t] = es
	return es
}

// route asks the kernel which route a target's request takes.
func (p *pacer) route(tg Target) (netlink.Route, bool) {
	h, err := p.nodes[tg.From].Netlink()
	if err != nil {
		return netlink.Route{}, false
	}
	rs, err := h.RouteGetWithOptions(net.IP(tg.Addr.AsSlice()), nil)
	if err != nil || len(rs) == 0 || rs[0].Type != unix.RTN_UNICAST {
		return netlink.Route{}, false
	}
	return rs[0], true
}

// removable reports whether the check may remove an entry it created
// once its pair is over: one it can name, and not a gateway, which other
// pairs use.
func (p *pacer) removable(e entry) bool {
	return e.node >= 0 && e.link != 0 && e.addr.IsValid() && !p.shared[e]
}

// fresh returns the entries of t that neither existed nor were charged.
func (p *pacer) fresh(t int) []entry {
	var out []entry
	for _, e := range p.entriesOf(t) {
		if p.existed[e] {
			continue
		}
		if _, ok := p.charged[e]; !ok {
			out = append(out, e)
		}
	}
	return out
}

// more reports whether a request could go now.
func (p *pacer) more() bool {
	return len(p.ready) > 0 || p.pos < len(p.order)
}

// next returns a target that may be sent now, charging its new entries,
// or -1 and the time the next one may go because charges expire (zero if
// only a refund or an answer will let it).
func (p *pacer) next() (int, time.Time) {
	var t int
	switch {
	case len(p.ready) > 0:
		t = p.ready[0]
	case p.pos < len(p.order):
		t = p.order[p.pos]
	default:
		return -1, time.Time{}
	}
	f := b2i(p.targets[t].Addr.Is6())
	now := time.Now()
	es := p.fresh(t)
	ledger.Lock()
	defer ledger.Unlock()
	used, expire := inFlight(f, now)
	if p.budget[f] >= 0 && used > 0 && used+len(es) > p.budget[f] {
		if p.blocked.IsZero() {
			p.blocked = now
		}
		return -1, expire
	}
	if !p.blocked.IsZero() {
		p.waited += now.Sub(p.blocked)
		p.blocked = time.Time{}
	}
	for _, e := range es {
		c := &charge{at: now}
		ledger.charges[f] = append(ledger.charges[f], c)
		p.charged[e] = c
		if p.removable(e) {
			p.keys[t] = append(p.keys[t], e)
		}
	}
	if len(p.ready) > 0 {
		p.ready = p.ready[1:]
	} else {
		p.pos++
	}
	return t, time.Time{}
}

// done tells the pacer that target t is over: it releases the reverse
// requests t held, and when t's pair is over, removes the entries the
// pair created and refunds them.
func (p *pacer) done(t int) {
	for _, r := range p.holds[t] {
		p.pending[r]--
		if p.pending[r] == 0 {
			p.ready = append(p.ready, r)
		}
	}
	delete(p.holds, t)
	pair := p.pairOf[t]
	p.left[pair]--
	if p.left[pair] > 0 {
		return
	}
	var es []entry
	for _, u := range p.pairTargets[pair] {
		es = append(es, p.keys[u]...)
	}
	p.toRemove = append(p.toRemove, es...)
}

// flushing reports whether entries wait to be removed.
func (p *pacer) flushing() bool { return len(p.toRemove) > 0 }

// flush removes the entries of the pairs that are over, together, and
// refunds them.
func (p *pacer) flush() {
	if len(p.toRemove) > 0 {
		p.release(p.toRemove)
		p.toRemove = p.toRemove[:0]
	}
}

// release removes the entries in es, which the check created, on as many
// threads as Go runs, and refunds their charges.
func (p *pacer) release(es []entry) {
	gone := make([]bool, len(es))
	parallel(len(es), func(i int) {
		e := es[i]
		if p.nodes[e.node] == nil {
			return
		}
		h, err := p.nodes[e.node].Netlink()
		if err != nil {
			return
		}
		nh, ok := h.(neighHandle)
		if !ok {
			return
		}
		fam := unix.AF_INET
		if e.addr.Is6() {
			fam = unix.AF_INET6
		}
		err = nh.NeighDel(&netlink.Neigh{LinkIndex: e.link, Family: fam, IP: net.IP(e.addr.AsSlice())})
		gone[i] = err == nil || errors.Is(err, unix.ENOENT)
	})
	ledger.Lock()
	defer ledger.Unlock()
	for i, e := range es {
		if c := p.charged[e]; gone[i] && c != nil && !c.refunded {
			c.refunded = true
			p.removed++
		}
	}
}
