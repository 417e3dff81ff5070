package probe

import (
	"context"
	"crypto/rand"
	"encoding/hex"
	"fmt"
	"net/netip"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"testing"
	"time"

	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/nshlab/nsh/builtins/sys/kernel/kerneltest"
	"github.com/vishvananda/netlink"
)

// star is a lab of n namespaces on one bridge in a hub namespace: node i
// has veth "v" with 10.77.x.y/16 (and 2001:db8:77::i/64 with ipv6),
// whose peer "hI" is a port of the hub's bridge.
type star struct {
	k     *kernel.Linux
	hub   kernel.Namespace
	nodes []kernel.Namespace
	addrs [][]netip.Addr
}

func newStar(t testing.TB, n int, ipv6 bool) *star {
	t.Helper()
	kerneltest.NeedRoot(t)
	k, err := kernel.New()
	if err != nil {
		t.Fatal(err)
	}
	b := make([]byte, 3)
	rand.Read(b)
	prefix := "nshpa-" + hex.EncodeToString(b) + "-"
	var names []string
	t.Cleanup(func() {
		for i, err := range k.DeleteNamedAll(names, make([]uint64, len(names))) {
			if err != nil {
				t.Errorf("delete %s: %v", names[i], err)
			}
		}
		k.Close()
	})
	add := func(name string) kernel.Namespace {
		ns, err := k.AddNamed(name, true)
		if err != nil {
			t.Fatal(err)
		}
		names = append(names, name)
		return ns
	}
	s := &star{k: k, hub: add(prefix + "hub")}
	hh, _ := s.hub.Netlink()
	br := &netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br0"}}
	must(t, hh.LinkAdd(br))
	must(t, hh.LinkSetUp(br))
	for i := 1; i <= n; i++ {
		ns := add(fmt.Sprintf("%s%d", prefix, i))
		h, _ := ns.Netlink()
		v := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "v"}, PeerName: fmt.Sprintf("h%d", i), PeerNamespace: netlink.NsFd(s.hub.Fd())}
		must(t, h.LinkAdd(v))
		p, err := hh.LinkByName(fmt.Sprintf("h%d", i))
		must(t, err)
		must(t, hh.LinkSetMaster(p, br))
		must(t, hh.LinkSetUp(p))
		l, err := h.LinkByName("v")
		must(t, err)
		a4 := netip.MustParseAddr(fmt.Sprintf("10.77.%d.%d", i>>8, i&255))
		as := []netip.Addr{a4}
		cidrs := []string{a4.String() + "/16"}
		if ipv6 {
			a6 := netip.MustParseAddr(fmt.Sprintf("2001:db8:77::%x", i))
			as = append(as, a6)
			cidrs = append(cidrs, a6.String()+"/64")
		}
		for _, c := range cidrs {
			a, _ := netlink.ParseAddr(c)
			if strings.Contains(c, ":") {
				a.Flags = 0x02 // IFA_F_NODAD: usable at once
			}
			must(t, h.AddrAdd(l, a))
		}
		must(t, h.LinkSetUp(l))
		s.nodes = append(s.nodes, ns)
		s.addrs = append(s.addrs, as)
	}
	return s
}

func must(t testing.TB, err error) {
	t.Helper()
	if err != nil {
		t.Fatal(err)
	}
}

// allPairs returns the targets of every node to every address of every
// other node, as pingall makes them.
func (s *star) allPairs(t testing.TB) []Target {
	t.Helper()
	var addrs [][]NodeAddr
	for _, ns := range s.nodes {
		as, err := NodeAddrs(ns)
		must(t, err)
		addrs = append(addrs, as)
	}
	return AllPairs(addrs)
}

// neighbours returns the neighbour entries of every node, as "node link
// address" lines, sorted. Entries of multicast addresses (NOARP, which
// the kernel may reclaim at any time, and which IPv6 makes for every
// neighbour solicitation) are left out.
func (s *star) neighbours(t testing.TB) []string {
	t.Helper()
	var out []string
	for i, ns := range s.nodes {
		h, err := ns.Netlink()
		must(t, err)
		list, err := h.(*netlink.Handle).NeighList(0, 0)
		must(t, err)
		for _, n := range list {
			if n.IP.IsMulticast() {
				continue
			}
			out = append(out, fmt.Sprintf("%d %d %s", i, n.LinkIndex, n.IP))
		}
	}
	sort.Strings(out)
	return out
}

func TestPingAllStar(t *testing.T) {
	s := newStar(t, 12, true)
	before := s.neighbours(t)
	ts := s.allPairs(t)
	if len(ts) != 12*11*2 {
		t.Fatalf("%d targets, want %d (IPv4 and IPv6 each)", len(ts), 12*11*2)
	}
	res, err := PingAll(context.Background(), s.k, s.nodes, ts, AllOptions{Timeout: 2 * time.Second})
	must(t, err)
	for i, r := range res.Results {
		if r.Outcome != Replied || r.RTT <= 0 {
			t.Errorf("%+v: %+v, want a reply", ts[i], r)
		}
	}
	// Every entry the check created was removed: 2 per pair and family.
	if res.Removed != 12*11*2 {
		t.Errorf("removed %d neighbour entries, want %d", res.Removed, 12*11*2)
	}
	if after := s.neighbours(t); !slices.Equal(before, after) {
		t.Errorf("neighbour entries before the check:\n%s\nafter:\n%s", strings.Join(before, "\n"), strings.Join(after, "\n"))
	}
}

// TestPingAllBudget checks with a budget far smaller than the check
// needs: requests wait for the entries of finished pairs to be removed,
// and all of them are answered.
func TestPingAllBudget(t *testing.T) {
	s := newStar(t, 16, false)
	ts := s.allPairs(t)
	res, err := PingAll(context.Background(), s.k, s.nodes, ts, AllOptions{Timeout: 2 * time.Second, Budget: 6})
	must(t, err)
	for i, r := range res.Results {
		if r.Outcome != Replied {
			t.Errorf("%+v: %+v, want a reply", ts[i], r)
		}
	}
	if res.Budget != 6 || res.Removed != 16*15 {
		t.Errorf("budget %d, removed %d; want 6 and %d", res.Budget, res.Removed, 16*15)
	}
	// Entries the check found stay: a second check creates and removes
	// none of them.
}

func TestPingAllLinkDown(t *testing.T) {
	s := newStar(t, 4, false)
	h, _ := s.nodes[2].Netlink()
	l, err := h.LinkByName("v")
	must(t, err)
	must(t, h.LinkSetDown(l))
	ts := s.allPairs(t)
	res, err := PingAll(context.Background(), s.k, s.nodes, ts, AllOptions{Timeout: 300 * time.Millisecond})
	must(t, err)
	for i, r := range res.Results {
		want := Replied
		switch {
		case ts[i].From == 2:
			want = NoRoute
		case ts[i].To == 2:
			want = NoReply
		}
		if r.Outcome != want {
			t.Errorf("%+v: %v (%s), want %v", ts[i], r.Outcome, r.Detail, want)
		}
	}
}

func TestPingAllBadInput(t *testing.T) {
	s := newStar(t, 2, false)
	for _, tc := range []struct {
		ts   []Target
		opts AllOptions
		err  string
	}{
		{nil, AllOptions{}, "pingall: timeout must be positive, not 0s"},
		{[]Target{{From: 5, To: 0, Addr: netip.MustParseAddr("10.77.0.1")}}, AllOptions{Timeout: time.Second}, "pingall: target 0 names no node"},
		{[]Target{{From: 0, To: 1}}, AllOptions{Timeout: time.Second}, "pingall: target 0 has no address"},
		{[]Target{{From: 0, To: 1, Addr: netip.MustParseAddr("fe80::1")}}, AllOptions{Timeout: time.Second}, "pingall: link-local address fe80::1 cannot be checked without a zone"},
	} {
		_, err := PingAll(context.Background(), s.k, s.nodes, tc.ts, tc.opts)
		if err == nil || err.Error() != tc.err {
			t.Errorf("PingAll(%+v, %+v): err = %v, want %q", tc.ts, tc.opts, err, tc.err)
		}
	}
}

func TestQuotedEcho(t *testing.T) {
	// An IPv4 header of 20 bytes, then an echo request of id 0x1234, seq 7.
	v4 := append(append([]byte{0x45}, make([]byte, 19)...), 8, 0, 0, 0, 0x12, 0x34, 0, 7)
	if id, seq, ok := quotedEcho(0, v4); !ok || id != 0x1234 || seq != 7 {
		t.Errorf("quotedEcho(v4) = %x, %d, %v", id, seq, ok)
	}
	v6 := append(make([]byte, 40), 128, 0, 0, 0, 0xab, 0xcd, 1, 2)
	if id, seq, ok := quotedEcho(1, v6); !ok || id != 0xabcd || seq != 0x102 {
		t.Errorf("quotedEcho(v6) = %x, %d, %v", id, seq, ok)
	}
	if _, _, ok := quotedEcho(0, v4[:25]); ok {
		t.Error("quotedEcho of a truncated quote succeeded")
	}
	reply := append(append([]byte{0x45}, make([]byte, 19)...), 0, 0, 0, 0, 0x12, 0x34, 0, 7)
	if _, _, ok := quotedEcho(0, reply); ok {
		t.Error("quotedEcho took an echo reply for a request")
	}
}

func TestReadNeighStat(t *testing.T) {
	p := filepath.Join(t.TempDir(), "arp_cache")
	must(t, os.WriteFile(p, []byte(`entries  allocs   destroys hash_grows lookups  hits     res_failed rcv_probes_mcast rcv_probes_ucast periodic_gc_runs forced_gc_runs unresolved_discards table_fulls
0000000a 00002f1d 00002ce7 00000004   00017b7e 00001770 00000005   00000000         00000000         000000a4         00000000       00000000            00000010
0000000a 00002a4d 00002c79 00000002   00016041 0000150d 00000005   00000000         00000000         00000000         00000000       00000000            00000001
`), 0o644))
	entries, fulls, ok := readNeighStat(p)
	if !ok || entries != 10 || fulls != 17 {
		t.Errorf("readNeighStat = %d, %d, %v; want 10, 17, true", entries, fulls, ok)
	}
}

func TestBudgetOf(t *testing.T) {
	for _, tc := range []struct {
		l    neighLimits
		want int
	}{
		{neighLimits{thresh3: 1024}, 896},
		{neighLimits{thresh3: 1024, entries: 300}, 724},
		{neighLimits{thresh3: 1024, entries: 1000}, 256},
	} {
		if got := budgetOf(tc.l); got != tc.want {
			t.Errorf("budgetOf(%+v) = %d, want %d", tc.l, got, tc.want)
		}
	}
}

// TestPacerOrder checks the order of requests without a kernel: forward
// requests take turns among the nodes, a reverse request waits for its
// forward one, and the budget holds what does not fit until a pair is
// over.
func TestPacerOrder(t *testing.T) {
	a := func(i int) netip.Addr { return netip.MustParseAddr(fmt.Sprintf("10.0.0.%d", i+1)) }
	var ts []Target
	for i := 0; i < 3; i++ {
		for j := 0; j < 3; j++ {
			if i != j {
				ts = append(ts, Target{From: i, To: j, Addr: a(j), FromLink: 2, ToLink: 2, Src: a(i)})
			}
		}
	}
	// ts: 0>1 0>2 1>0 1>2 2>0 2>1
	ledger.Lock()
	ledger.charges = [2][]*charge{}
	ledger.Unlock()
	p := newPacer([2]neighLimits{}, make([]kernel.Namespace, 3), ts, 4)
	var got []int
	for {
		n, _ := p.next()
		if n < 0 {
			break
		}
		got = append(got, n)
	}
	// 0>1 and 1>2 go (4 entries); 0>2 would be 2 more.
	if want := []int{0, 3}; !slices.Equal(got, want) {
		t.Fatalf("first requests %v, want %v", got, want)
	}
	if n := len(p.ready); n != 0 {
		t.Errorf("%d reverse requests ready before any answer", n)
	}
	p.done(0) // 0>1 answered: 1>0 may go, at no cost
	if n, _ := p.next(); n != 2 {
		t.Errorf("after 0>1, next is %d, want 2 (1>0)", n)
	}
}
