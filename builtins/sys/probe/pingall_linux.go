package probe

import (
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/nshlab/nsh/builtins/sys/kernel"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
	"golang.org/x/sys/unix"
)

// PingAll checks many pairs at once: every namespace of a list sends one
// echo request to each of its targets, all concurrently, from one raw
// ICMP socket per namespace and address family, and matches the replies
// by identifier and sequence number.
//
// The one limit that matters is the kernel's neighbour table (ARP for
// IPv4, NDP for IPv6), which all namespaces of the machine share: it
// holds at most gc_thresh3 entries (1024 by default), and an entry that
// changed in the last 5 seconds cannot be reclaimed to make room. Every
// pair of namespaces on one link that talk for the first time costs two
// entries (each side resolves the other), so an all-pairs check of 100
// namespaces needs 9,900 of them: sent at once, most of them find the
// table full, the kernel drops the packets ("neighbor table overflow" in
// the kernel log), and the lab looks broken while it is not. PingAll
// paces itself (see pacer): it counts the entries its requests may create
// and keeps those younger than the kernel's 5 seconds under a budget
// taken from the kernel's own numbers.

// An Outcome is what became of one echo request of PingAll.
type Outcome uint8

const (
	// Replied: the echo reply came back within the timeout.
	Replied Outcome = iota
	// NoRoute: the namespace has no route to the address (the kernel
	// refused to send: network or host unreachable, a prohibit or
	// blackhole route), or a router on the way said so with an ICMP
	// destination unreachable.
	NoRoute
	// NoReply: the request was sent and nothing came back in time.
	NoReply
	// TableFull: the kernel could not add a neighbour entry for the
	// request (ENOBUFS), or reported its neighbour table overflowing
	// during the check, in which case a request without a reply may have
	// been dropped for want of an entry on the other side.
	TableFull
	// SendFailed: the request could not be sent for another reason (a
	// firewall rule, for example); Detail says which.
	SendFailed
)

// String returns the outcome as pingall's results name it: "ok", "no
// route", "no reply", "table full" or "send failed".
func (o Outcome) String() string {
	switch o {
	case Replied:
		return "ok"
	case NoRoute:
		return "no route"
	case NoReply:
		return "no reply"
	case TableFull:
		return "table full"
	}
	return "send failed"
}

// A Target is one echo request of PingAll: from the namespace with index
// From to Addr, which belongs to the namespace with index To (-1 if it is
// none of them). FromLink is the index of the sender's link that Addr is
// on, with Src the sender's address there, and ToLink the index of the
// receiver's link that holds Addr; they are 0 (and Src invalid) when not
// known, as for an address behind a router. PingAll uses them to name the
// neighbour entries a request creates (see pacer); AllPairs fills them
// in.
type Target struct {
	From, To         int
	Addr             netip.Addr
	FromLink, ToLink int
	Src              netip.Addr
}

// A TargetResult is the outcome of one Target.
type TargetResult struct {
	Outcome Outcome
	// RTT is the round-trip time of a reply.
	RTT time.Duration
	// Detail says more about a failure, as "network is unreachable" or
	// "host unreachable (ICMP from 10.0.0.1)"; it may be "".
	Detail string
}

// AllResult is what PingAll found, with its own figures.
type AllResult struct {
	// Results holds the outcome of each target, in the order given.
	Results []TargetResult
	// Elapsed is the time from the first request to the last answer or
	// timeout, settling not included.
	Elapsed time.Duration
	// Settle is the time spent settling the lab's links first.
	Settle time.Duration
	// Limit is the neighbour table's gc_thresh3 for IPv4, and LimitKnown
	// whether it was read from the kernel (/proc/sys of the machine's
	// namespace) rather than assumed to be the default.
	Limit      int
	LimitKnown bool
	// Budget is the number of new neighbour entries PingAll allowed
	// itself per family in any window of NeighWindow.
	Budget int
	// Paced is the time requests waited for the budget.
	Paced time.Duration
	// Removed is the number of neighbour entries the check created and
	// removed when their pair was over.
	Removed int
	// Overflows is the number of neighbour table overflows the kernel
	// counted during the check (table_fulls), or -1 if it cannot be read
	// here (outside the machine's own network namespace).
	Overflows int64
}

// NeighWindow is how long a neighbour entry the check creates counts
// against its budget: the kernel reclaims an entry only once it has not
// changed for 5 seconds (neigh_forced_gc), and the entry changes once
// more when it is resolved, up to a few milliseconds after the request.
const NeighWindow = 5*time.Second + 250*time.Millisecond

// defaultThresh3 is the kernel's default gc_thresh3, assumed where it
// cannot be read.
const defaultThresh3 = 1024

// AllOptions are PingAll's settings.
type AllOptions struct {
	// Timeout is how long each request waits for its reply.
	Timeout time.Duration
	// Budget overrides the number of new neighbour entries allowed per
	// family in any window of NeighWindow: 0 takes it from the kernel's
	// numbers, and a negative budget does not pace at all (for measuring
	// what pacing saves).
	Budget int
}

// PingAll sends one echo request for each target from the namespace
// nodes[t.From] and waits up to timeout for each reply. Before the first
// request it settles every link of the nodes' namespaces and of the
// namespaces their veth peers lead to (see settleAll); that wait does not
// count against timeout. A request fails without an error; the error is
// for bad arguments, for sockets that cannot be opened, and for ctx being
// done.
func PingAll(ctx context.Context, k kernel.Kernel, nodes []kernel.Namespace, targets []Target, opts AllOptions) (AllResult, error) {
	res := AllResult{Results: make([]TargetResult, len(targets)), Overflows: -1}
	timeout := opts.Timeout
	if timeout <= 0 {
		return res, fmt.Errorf("pingall: timeout must be positive, not %v", timeout)
	}
	families := make([][2]bool, len(nodes)) // [v4, v6] sockets needed per node
	for i, t := range targets {
		if t.From < 0 || t.From >= len(nodes) || t.To >= len(nodes) {
			return res, fmt.Errorf("pingall: target %d names no node", i)
		}
		a := t.Addr.Unmap()
		if !a.IsValid() {
			return res, fmt.Errorf("pingall: target %d has no address", i)
		}
		if a.Is6() && (a.IsLinkLocalUnicast() || a.IsLinkLocalMulticast()) {
			return res, fmt.Errorf("pingall: link-local address %s cannot be checked without a zone", a)
		}
		targets[i].Addr = a
		families[t.From][b2i(a.Is6())] = true
	}
	if len(targets) == 0 {
		return res, nil
	}

	start := time.Now()
	settleAll(ctx, k, nodes)
	res.Settle = time.Since(start)

	socks := make([]*nodeSocks, len(nodes))
	events := make(chan event, 4096)
	var wg sync.WaitGroup
	done := make(chan struct{})
	defer func() {
		// Stop the readers: closing a socket ends its ReadFrom.
		close(done)
		for _, s := range socks {
			s.close()
		}
		wg.Wait()
	}()
	for i, ns := range nodes {
		if !families[i][0] && !families[i][1] {
			continue
		}
		s, err := openNodeSocks(ns, i, families[i])
		if err != nil {
			return res, err
		}
		socks[i] = s
		for f, c := range s.conns {
			if c != nil {
				wg.Add(1)
				go func() {
					defer wg.Done()
					s.read(f, events, done)
				}()
			}
		}
	}
	// A reply is matched by the node's identifier and the request's
	// sequence number, which indexes the node's own list of targets.
	bySeq := make([][]int, len(nodes))
	seqOf := make([]int, len(targets))
	for i, t := range targets {
		seqOf[i] = len(bySeq[t.From])
		bySeq[t.From] = append(bySeq[t.From], i)
		if seqOf[i] > 0xffff {
			return res, fmt.Errorf("pingall: more than 65536 targets from one namespace (%q)", nodes[t.From].Name())
		}
	}

	limits := readNeighLimits()
	res.Limit, res.LimitKnown = limits[0].thresh3, limits[0].known
	p := newPacer(limits, nodes, targets, opts.Budget)
	res.Budget = p.budget[0]

	r := &run{
		targets: targets, res: res.Results, socks: socks, timeout: timeout,
		pacer: p, seqOf: seqOf, bySeq: bySeq,
		state: make([]uint8, len(targets)),
	}
	start = time.Now()
	err := r.loop(ctx, events)
	res.Elapsed = time.Since(start)
	res.Paced, res.Removed = p.waited, p.removed

	after := readNeighLimits()
	if limits[0].known && after[0].known {
		res.Overflows = int64(after[0].fulls-limits[0].fulls) + int64(after[1].fulls-limits[1].fulls)
		if res.Overflows > 0 {
			for i := range res.Results {
				if res.Results[i].Outcome == NoReply {
					res.Results[i] = TargetResult{Outcome: TableFull, Detail: fmt.Sprintf("no reply, and the kernel's neighbour table overflowed %d times during the check", res.Overflows)}
				}
			}
		}
	}
	return res, err
}

func b2i(b bool) int {
	if b {
		return 1
	}
	return 0
}

// nodeSocks holds one node's raw ICMP sockets, [0] IPv4 and [1] IPv6.
type nodeSocks struct {
	ns     kernel.Namespace
	node   int // its index among the nodes
	conns  [2]*net.IPConn
	id     int
	cookie [8]byte
}

// openNodeSocks opens the raw ICMP sockets of one namespace. They accept
// echo replies and the errors that may answer a request (destination
// unreachable, time exceeded), and report errors of sending
// (IP_RECVERR): without it, the kernel hides the ENOBUFS of a full
// neighbour table from a raw socket.
func openNodeSocks(ns kernel.Namespace, node int, fams [2]bool) (*nodeSocks, error) {
	s := &nodeSocks{ns: ns, node: node, id: int(rand.Uint32() & 0xffff)}
	for i := range s.cookie {
		s.cookie[i] = byte(rand.Uint32())
	}
	err := ns.Do(func() error {
		for f, fam := range []icmpFamily{icmp4, icmp6} {
			if !fams[f] {
				continue
			}
			pc, err := net.ListenPacket(fam.network, fam.laddr)
			if err != nil {
				return fmt.Errorf("pingall: failed to open an ICMP socket in namespace %q: %w", ns.Name(), err)
			}
			s.conns[f] = pc.(*net.IPConn)
		}
		return nil
	})
	if err != nil {
		s.close()
		return nil, err
	}
	for f, c := range s.conns {
		if c == nil {
			continue
		}
		if f == 0 {
			var flt ipv4.ICMPFilter
			flt.SetAll(true)
			flt.Accept(ipv4.ICMPTypeEchoReply)
			flt.Accept(ipv4.ICMPTypeDestinationUnreachable)
			flt.Accept(ipv4.ICMPTypeTimeExceeded)
			ipv4.NewPacketConn(c).SetICMPFilter(&flt)
		} else {
			var flt ipv6.ICMPFilter
			flt.SetAll(true)
			flt.Accept(ipv6.ICMPTypeEchoReply)
			flt.Accept(ipv6.ICMPTypeDestinationUnreachable)
			flt.Accept(ipv6.ICMPTypeTimeExceeded)
			ipv6.NewPacketConn(c).SetICMPFilter(&flt)
		}
		if rc, err := c.SyscallConn(); err == nil {
			rc.Control(func(fd uintptr) {
				if f == 0 {
					unix.SetsockoptInt(int(fd), unix.SOL_IP, unix.IP_RECVERR, 1)
				} else {
					unix.SetsockoptInt(int(fd), unix.SOL_IPV6, unix.IPV6_RECVERR, 1)
				}
				// Room for every reply of a large check at once.
				unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_RCVBUF, 4<<20)
			})
		}
	}
	return s, nil
}

func (s *nodeSocks) close() {
	if s == nil {
		return
	}
	for _, c := range s.conns {
		if c != nil {
			c.Close()
		}
	}
}

// An event is what a socket's reader saw: a reply, or an error, for the
// request with sequence seq of the node node.
type event struct {
	node, seq int
	at        time.Time
	err       bool   // an ICMP error rather than a reply
	detail    string // for an error: what it said and who sent it
}

// read reads replies from the node's socket of family f until it is
// closed, and passes those that match its requests on.
func (s *nodeSocks) read(f int, events chan<- event, done <-chan struct{}) {
	c := s.conns[f]
	fam := []icmpFamily{icmp4, icmp6}[f]
	buf := make([]byte, 65536)
	for {
		n, from, err := c.ReadFrom(buf)
		at := time.Now()
		if err != nil {
			if errors.Is(err, net.ErrClosed) {
				return
			}
			// With IP_RECVERR an ICMP error also comes back as the error
			// of a read (and in the error queue, which is drained here);
			// its copy as a packet is what counts.
			drainErrQueue(c)
			continue
		}
		m, err := icmp.ParseMessage(fam.proto, buf[:n])
		if err != nil {
			continue
		}
		ev := event{node: s.node, at: at}
		switch b := m.Body.(type) {
		case *icmp.Echo:
			if m.Type != fam.reply || b.ID != s.id || len(b.Data) < 8 || [8]byte(b.Data[:8]) != s.cookie {
				continue
			}
			ev.seq = b.Seq
		case *icmp.DstUnreach:
			id, seq, ok := quotedEcho(f, b.Data)
			if !ok || id != s.id {
				continue
			}
			ev.seq, ev.err, ev.detail = seq, true, describeICMP(m, from)
		case *icmp.TimeExceeded:
			id, seq, ok := quotedEcho(f, b.Data)
			if !ok || id != s.id {
				continue
			}
			ev.seq, ev.err, ev.detail = seq, true, describeICMP(m, from)
		default:
			continue
		}
		select {
		case events <- ev:
		case <-done:
			return
		}
	}
}

// quotedEcho returns the identifier and sequence number of the echo
// request that an ICMP error quotes (its IP header, then the first 8
// bytes of the request).
func quotedEcho(f int, data []byte) (id, seq int, ok bool) {
	off := 40 // IPv6's fixed header
	if f == 0 {
		if len(data) < 1 {
			return 0, 0, false
		}
		off = int(data[0]&0x0f) * 4
	}
	if len(data) < off+8 {
		return 0, 0, false
	}
	e := data[off:]
	want := byte(ipv4.ICMPTypeEcho)
	if f == 1 {
		want = byte(ipv6.ICMPTypeEchoRequest)
	}
	if e[0] != want {
		return 0, 0, false
	}
	return int(e[4])<<8 | int(e[5]), int(e[6])<<8 | int(e[7]), true
}

// describeICMP says what an ICMP error means and who sent it.
func describeICMP(m *icmp.Message, from net.Addr) string {
	what := "unreachable"
	switch m.Type {
	case ipv4.ICMPTypeDestinationUnreachable:
		switch m.Code {
		case 0:
			what = "network unreachable"
		case 1:
			what = "host unreachable"
		case 3:
			what = "port unreachable"
		case 9, 10, 13:
			what = "administratively prohibited"
		}
	case ipv6.ICMPTypeDestinationUnreachable:
		switch m.Code {
		case 0:
			what = "no route to destination"
		case 1:
			what = "administratively prohibited"
		case 3:
			what = "address unreachable"
		}
	case ipv4.ICMPTypeTimeExceeded, ipv6.ICMPTypeTimeExceeded:
		what = "time to live exceeded (a routing loop?)"
	}
	if from != nil {
		return fmt.Sprintf("%s (ICMP from %s)", what, from)
	}
	return what
}

// drainErrQueue empties the error queue of a socket with IP_RECVERR, so
// that errors the check does not read do not take the room of replies.
func drainErrQueue(c *net.IPConn) {
	rc, err := c.SyscallConn()
	if err != nil {
		return
	}
	buf := make([]byte, 512)
	oob := make([]byte, 512)
	rc.Control(func(fd uintptr) {
		for i := 0; i < 1024; i++ {
			if _, _, _, _, err := unix.Recvmsg(int(fd), buf, oob, unix.MSG_ERRQUEUE|unix.MSG_DONTWAIT); err != nil {
				return
			}
		}
	})
}

// Per target, what run knows of it.
const (
	waiting uint8 = iota // not sent yet
	sent                 // sent, awaiting its reply
	over                 // answered, failed or timed out
)

// run is one PingAll's sending and receiving.
type run struct {
	targets []Target
	res     []TargetResult
	socks   []*nodeSocks
	timeout time.Duration
	pacer   *pacer
	seqOf   []int
	bySeq   [][]int
	state   []uint8
	sentAt  []time.Time
	queue   []int // sent targets, in the order of their deadlines
	left    int   // targets not over yet
	payload []byte
}

// loop sends the requests as the pacer allows, and takes the replies as
// they come, until every target is over.
func (r *run) loop(ctx context.Context, events <-chan event) error {
	r.sentAt = make([]time.Time, len(r.targets))
	r.left = len(r.targets)
	r.payload = make([]byte, pingSize)
	for i := range r.payload {
		r.payload[i] = byte(i)
	}
	timer := time.NewTimer(time.Hour)
	defer timer.Stop()
	// The entries of the last pairs are removed too, and those of an
	// interrupted check.
	defer r.pacer.flush()
	for r.left > 0 {
		// Send what may go now, then take the replies that came and
		// expire the requests whose time is up.
		r.pacer.flush()
		wake := r.sendReady()
		finished := r.left
		for drained := false; !drained; {
			select {
			case ev := <-events:
				r.receive(ev)
			default:
				drained = true
			}
		}
		now := time.Now()
		for len(r.queue) > 0 {
			t := r.queue[0]
			if r.state[t] != sent {
				r.queue = r.queue[1:]
				continue
			}
			d := r.sentAt[t].Add(r.timeout)
			if now.Before(d) {
				if wake.IsZero() || d.Before(wake) {
					wake = d
				}
				break
			}
			r.finish(t, TargetResult{Outcome: NoReply})
			r.queue = r.queue[1:]
		}
		if r.left == 0 {
			break
		}
		if (r.left < finished || r.pacer.flushing()) && r.pacer.more() {
			continue // what finished may have made room
		}
		if wake.IsZero() {
			wake = now.Add(10 * time.Millisecond)
		}
		timer.Reset(time.Until(wake) + time.Millisecond)
		select {
		case <-ctx.Done():
			return fmt.Errorf("pingall interrupted: %w", context.Cause(ctx))
		case ev := <-events:
			r.receive(ev)
		case <-timer.C:
		}
	}
	return nil
}

// sendReady sends the requests the pacer lets go now, and returns when
// the next one may go (zero if none is waiting for the budget). The
// requests go out together, on as many threads as Go runs: a request's
// sendto does most of the kernel's work of its delivery (the bridge, the
// ARP request to every port, the other namespace's answer), and two CPUs
// do it in about half the time.
func (r *run) sendReady() time.Time {
	var batch []int
	var wake time.Time
	for {
		t, w := r.pacer.next()
		if t < 0 {
			wake = w
			break
		}
		batch = append(batch, t)
	}
	if len(batch) == 0 {
		return wake
	}
	at := make([]time.Time, len(batch))
	errs := make([]error, len(batch))
	parallel(len(batch), func(i int) { at[i], errs[i] = r.write(batch[i]) })
	for i, t := range batch {
		if errs[i] != nil {
			r.finish(t, sendError(errs[i]))
			continue
		}
		r.state[t], r.sentAt[t] = sent, at[i]
		r.queue = append(r.queue, t)
	}
	return wake
}

// parallel calls fn(0) to fn(n-1) on up to GOMAXPROCS goroutines, and
// returns when all have returned.
func parallel(n int, fn func(i int)) {
	w := min(n, runtime.GOMAXPROCS(0))
	if w <= 1 {
		for i := 0; i < n; i++ {
			fn(i)
		}
		return
	}
	var next atomic.Int64
	var wg sync.WaitGroup
	for range w {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1) - 1)
				if i >= n {
					return
				}
				fn(i)
			}
		}()
	}
	wg.Wait()
}

// write sends the echo request of target t, and returns when.
func (r *run) write(t int) (time.Time, error) {
	tg := r.targets[t]
	f := b2i(tg.Addr.Is6())
	s := r.socks[tg.From]
	fam := []icmpFamily{icmp4, icmp6}[f]
	data := append(append([]byte(nil), s.cookie[:]...), r.payload[8:]...)
	msg := icmp.Message{Type: fam.request, Body: &icmp.Echo{ID: s.id, Seq: r.seqOf[t], Data: data}}
	b, err := msg.Marshal(nil)
	if err != nil {
		return time.Time{}, err
	}
	now := time.Now()
	_, err = s.conns[f].WriteTo(b, &net.IPAddr{IP: tg.Addr.AsSlice()})
	return now, err
}

// sendError turns the error of sending a request into its outcome.
func sendError(err error) TargetResult {
	var errno syscall.Errno
	if !errors.As(err, &errno) {
		return TargetResult{Outcome: SendFailed, Detail: err.Error()}
	}
	switch errno {
	case unix.ENETUNREACH, unix.EHOSTUNREACH, unix.EACCES, unix.EINVAL, unix.EADDRNOTAVAIL:
		return TargetResult{Outcome: NoRoute, Detail: errno.Error()}
	case unix.ENOBUFS:
		return TargetResult{Outcome: TableFull, Detail: "the kernel could not add a neighbour entry (ENOBUFS)"}
	}
	return TargetResult{Outcome: SendFailed, Detail: errno.Error()}
}

// receive takes one event of a reader.
func (r *run) receive(ev event) {
	if ev.seq < 0 || ev.seq >= len(r.bySeq[ev.node]) {
		return
	}
	t := r.bySeq[ev.node][ev.seq]
	if r.state[t] != sent || ev.at.After(r.sentAt[t].Add(r.timeout)) {
		return
	}
	if ev.err {
		r.finish(t, TargetResult{Outcome: NoRoute, Detail: ev.detail})
		return
	}
	r.finish(t, TargetResult{Outcome: Replied, RTT: ev.at.Sub(r.sentAt[t])})
}

// finish records the outcome of target t and tells the pacer.
func (r *run) finish(t int, tr TargetResult) {
	if r.state[t] == over {
		return
	}
	r.state[t] = over
	r.res[t] = tr
	r.left--
	r.pacer.done(t)
}

// A NodeAddr is an address of a node, with its prefix, and the index of
// the link that holds it.
type NodeAddr struct {
	Prefix netip.Prefix
	Link   int
}

// NodeAddrs returns the addresses pingall checks in ns: IPv4 addresses
// and global IPv6 addresses, on links other than loopback, whether the
// link is up or not (a node whose link is down must fail, not be left
// out).
func NodeAddrs(ns kernel.Namespace) ([]NodeAddr, error) {
	h, err := ns.Netlink()
	if err != nil {
		return nil, err
	}
	links, err := h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("failed to list the links of namespace %q: %w", ns.Name(), err)
	}
	loopback := map[int]bool{}
	for _, l := range links {
		if l.Attrs().Flags&net.FlagLoopback != 0 {
			loopback[l.Attrs().Index] = true
		}
	}
	as, err := h.AddrList(nil, unix.AF_UNSPEC)
	if err != nil {
		return nil, fmt.Errorf("failed to list the addresses of namespace %q: %w", ns.Name(), err)
	}
	var out []NodeAddr
	for _, a := range as {
		if loopback[a.LinkIndex] || a.IPNet == nil {
			continue
		}
		ip, ok := netip.AddrFromSlice(a.IP)
		if !ok {
			continue
		}
		ip = ip.Unmap()
		if ip.IsLoopback() || ip.IsMulticast() || ip.IsUnspecified() {
			continue
		}
		if ip.Is6() && (ip.IsLinkLocalUnicast() || a.Scope != unix.RT_SCOPE_UNIVERSE) {
			continue
		}
		ones, _ := a.Mask.Size()
		out = append(out, NodeAddr{Prefix: netip.PrefixFrom(ip, ones), Link: a.LinkIndex})
	}
	return out, nil
}

// AllPairs returns the targets of an all-pairs check: from every node to
// every address of every other node, with the sender's link and source
// address where the address is on one of the sender's links.
func AllPairs(addrs [][]NodeAddr) []Target {
	var ts []Target
	for i, mine := range addrs {
		for j, theirs := range addrs {
			if i == j {
				continue
			}
			for _, a := range theirs {
				t := Target{From: i, To: j, Addr: a.Prefix.Addr(), ToLink: a.Link}
				for _, m := range mine {
					if m.Prefix.Addr().Is6() == t.Addr.Is6() && m.Prefix.Masked().Contains(t.Addr) {
						t.FromLink, t.Src = m.Link, m.Prefix.Addr()
						break
					}
				}
				ts = append(ts, t)
			}
		}
	}
	return ts
}
