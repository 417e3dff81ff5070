package probe

import (
	"bytes"
	"context"
	"errors"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/nshlab/nsh/builtins/sys/kernel/kerneltest"
	"github.com/nshlab/nsh/builtins/sys/nsexec"
	"github.com/vishvananda/netlink"
)

func TestMain(m *testing.M) {
	nsexec.Init()
	ServeInit()
	os.Exit(m.Run())
}

// newNamespace creates a named namespace with lo up, deleted when the
// test ends. If blackhole is true, it also has a veth pair with
// 10.99.0.1/24 on one end, so that 10.99.0.2 is routed but never answers.
func newNamespace(t *testing.T, blackhole bool) kernel.Namespace {
	t.Helper()
	_, ns := kerneltest.Namespace(t, true)
	h, err := ns.Netlink()
	if err != nil {
		t.Fatal(err)
	}
	if blackhole {
		// Frames to 10.99.0.2 go to a MAC address that nobody has.
		veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "veth0"}, PeerName: "veth1"}
		if err := h.LinkAdd(veth); err != nil {
			t.Fatal(err)
		}
		for _, name := range []string{"veth0", "veth1"} {
			l, err := h.LinkByName(name)
			if err == nil {
				err = h.LinkSetUp(l)
			}
			if err != nil {
				t.Fatal(err)
			}
		}
		a, _ := netlink.ParseAddr("10.99.0.1/24")
		if err := h.AddrAdd(veth, a); err != nil {
			t.Fatal(err)
		}
		mac, _ := net.ParseMAC("02:00:00:00:99:02")
		l, _ := h.LinkByName("veth0")
		if err := h.(*netlink.Handle).NeighAdd(&netlink.Neigh{
			LinkIndex:    l.Attrs().Index,
			IP:           net.ParseIP("10.99.0.2"),
			HardwareAddr: mac,
			State:        netlink.NUD_PERMANENT,
		}); err != nil {
			t.Fatal(err)
		}
	}
	return ns
}

func hostNamespace(t *testing.T) kernel.Namespace {
	t.Helper()
	kerneltest.NeedRoot(t)
	k, err := kernel.New()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(k.Close)
	return k.Host()
}

func TestPingLoopback(t *testing.T) {
	ns := newNamespace(t, false)
	for _, dst := range []string{"127.0.0.1", "::1", "::ffff:127.0.0.1"} {
		start := time.Now()
		res, err := Ping(context.Background(), nil, ns, dst, 3, time.Second)
		if err != nil {
			t.Fatalf("Ping %s: %v", dst, err)
		}
		if res.Sent != 3 || res.Received != 3 || res.RTTms <= 0 || res.RTTms > 100 {
			t.Errorf("Ping %s = %+v, want 3 sent, 3 received and a small RTT", dst, res)
		}
		// Replies come at once, so the next request does not wait 200ms.
		if d := time.Since(start); d > 300*time.Millisecond {
			t.Errorf("Ping %s took %v", dst, d)
		}
	}
}

func TestPingHost(t *testing.T) {
	res, err := Ping(context.Background(), nil, hostNamespace(t), "127.0.0.1", 1, time.Second)
	if err != nil || res.Received != 1 {
		t.Errorf("Ping 127.0.0.1 in host = %+v, %v", res, err)
	}
}

func TestPingConcurrent(t *testing.T) {
	ns := newNamespace(t, false)
	// Raw sockets see each other's replies; each must count only its own.
	errc := make(chan error, 4)
	results := make(chan PingResult, 4)
	for range 4 {
		go func() {
			res, err := Ping(context.Background(), nil, ns, "127.0.0.1", 5, time.Second)
			results <- res
			errc <- err
		}()
	}
	for range 4 {
		if err := <-errc; err != nil {
			t.Error(err)
		}
		if res := <-results; res.Sent != 5 || res.Received != 5 {
			t.Errorf("concurrent Ping = %+v, want 5 of 5", res)
		}
	}
}

func TestPingNoRoute(t *testing.T) {
	ns := newNamespace(t, false)
	start := time.Now()
	res, err := Ping(context.Background(), nil, ns, "192.0.2.1", 3, 2*time.Second)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 3 || res.Received != 0 || res.RTTms != 0 {
		t.Errorf("Ping with no route = %+v, want 3 sent, 0 received", res)
	}
	if d := time.Since(start); d > time.Second {
		t.Errorf("Ping with no route took %v", d)
	}
}

func TestPingTimeout(t *testing.T) {
	ns := newNamespace(t, true)
	start := time.Now()
	res, err := Ping(context.Background(), nil, ns, "10.99.0.2", 2, 300*time.Millisecond)
	if err != nil {
		t.Fatal(err)
	}
	if res.Sent != 2 || res.Received != 0 {
		t.Errorf("Ping of a silent address = %+v, want 2 sent, 0 received", res)
	}
	// The second request goes out 200ms after the first and waits 300ms.
	if d := time.Since(start); d < 480*time.Millisecond || d > 1500*time.Millisecond {
		t.Errorf("Ping of a silent address took %v, want about 500ms", d)
	}
}

func TestPingCancel(t *testing.T) {
	ns := newNamespace(t, true)
	ctx, cancel := context.WithCancel(context.Background())
	time.AfterFunc(100*time.Millisecond, cancel)
	start := time.Now()
	res, err := Ping(ctx, nil, ns, "10.99.0.2", 1000, 5*time.Second)
	if !errors.Is(err, context.Canceled) {
		t.Errorf("Ping cancelled: err = %v", err)
	}
	if d := time.Since(start); d > 500*time.Millisecond {
		t.Errorf("Ping took %v to notice cancellation", d)
	}
	if res.Sent < 1 || res.Sent > 2 || res.Received != 0 {
		t.Errorf("Ping cancelled after 100ms = %+v", res)
	}
}

func TestPingBadInput(t *testing.T) {
	ns := hostNamespace(t)
	for _, tc := range []struct {
		dst     string
		count   int
		timeout time.Duration
		err     string
	}{
		{"example.com", 1, time.Second, `ping: "example.com" is not an IP address`},
		{"10.0.0.1/24", 1, time.Second, `ping: "10.0.0.1/24" is not an IP address`},
		{"127.0.0.1", 0, time.Second, "ping: count must be at least 1, not 0"},
		{"127.0.0.1", 1, 0, "ping: timeout must be positive, not 0s"},
		{"fe80::1", 1, time.Second, "ping: link-local address fe80::1 needs a zone, as in fe80::1%eth0"},
		{"fe80::1%nsh-no-such-if", 1, time.Second, `ping: no interface "nsh-no-such-if" for the zone of fe80::1%nsh-no-such-if in namespace "host"`},
	} {
		_, err := Ping(context.Background(), nil, ns, tc.dst, tc.count, tc.timeout)
		if err == nil || err.Error() != tc.err {
			t.Errorf("Ping(%q, %d, %v): err = %v, want %q", tc.dst, tc.count, tc.timeout, err, tc.err)
		}
	}
}

func TestConnectErrors(t *testing.T) {
	ns := newNamespace(t, true)
	ctx := context.Background()
	for _, tc := range []struct {
		addr, err string
	}{
		{"127.0.0.1:1", "connection refused"},
		{"[::1]:1", "connection refused"},
		{"192.0.2.1:80", "network is unreachable"},
		{"10.99.0.2:80", "timed out after 300ms"},
		{"localhost:80", `"localhost:80" is not an address of the form ip:port`},
		{"127.0.0.1", `"127.0.0.1" is not an address of the form ip:port`},
	} {
		res := Connect(ctx, nil, ns, tc.addr, 300*time.Millisecond, nil)
		if res.OK || res.Error != tc.err {
			t.Errorf("Connect(%q) = %+v, want error %q", tc.addr, res, tc.err)
		}
	}

	cctx, cancel := context.WithCancel(ctx)
	time.AfterFunc(50*time.Millisecond, cancel)
	start := time.Now()
	res := Connect(cctx, nil, ns, "10.99.0.2:80", 5*time.Second, nil)
	if res.OK || res.Error != "cancelled" || time.Since(start) > time.Second {
		t.Errorf("Connect cancelled = %+v after %v", res, time.Since(start))
	}
}

// startServer starts ServeArgv(addr, reply) in ns with nsexec.Start, waits
// until it listens, and stops it when the test ends.
func startServer(t *testing.T, ns kernel.Namespace, addr string, reply *string) {
	t.Helper()
	dir := t.TempDir()
	pidfile, logfile := filepath.Join(dir, "serve.pid"), filepath.Join(dir, "serve.log")
	if _, err := nsexec.Start(ns, nsexec.Command(ServeArgv(addr, reply)...), pidfile, logfile); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := nsexec.Stop(pidfile, syscall.SIGTERM, 2*time.Second); err != nil {
			t.Errorf("Stop: %v", err)
		}
	})
	deadline := time.Now().Add(5 * time.Second)
	for {
		b, _ := os.ReadFile(logfile)
		if bytes.HasPrefix(b, []byte("listening on ")) {
			return
		}
		if _, running := nsexec.Running(pidfile); !running || time.Now().After(deadline) {
			t.Fatalf("server on %s did not start: log %q", addr, b)
		}
		time.Sleep(10 * time.Millisecond)
	}
}

func TestServe(t *testing.T) {
	ns := newNamespace(t, false)
	pong, empty := "pong\n", ""
	startServer(t, ns, "127.0.0.1:7070", nil)
	startServer(t, ns, "[::1]:7070", &pong)
	startServer(t, ns, "127.0.0.1:7071", &empty)
	ctx := context.Background()

	for _, send := range [][]byte{nil, []byte("hello"), bytes.Repeat([]byte("x"), 200000)} {
		res := Connect(ctx, nil, ns, "127.0.0.1:7070", 2*time.Second, send)
		if !res.OK || res.Error != "" || res.Reply != res.Local || !strings.HasPrefix(res.Local, "127.0.0.1:") {
			t.Errorf("Connect to the echo-address server, sending %d bytes = %+v, want the reply to be the local address", len(send), res)
		}
	}
	res := Connect(ctx, nil, ns, "[::1]:7070", 2*time.Second, []byte("ping"))
	if !res.OK || res.Reply != pong || !strings.HasPrefix(res.Local, "[::1]:") {
		t.Errorf("Connect to the fixed-reply server = %+v, want reply %q", res, pong)
	}
	res = Connect(ctx, nil, ns, "127.0.0.1:7071", 2*time.Second, nil)
	if !res.OK || res.Reply != "" || res.Error != "" {
		t.Errorf("Connect to the empty-reply server = %+v", res)
	}

	// The servers are in ns, not in host.
	if res := Connect(ctx, nil, hostNamespace(t), "127.0.0.1:7071", time.Second, nil); res.OK && res.Reply == "" {
		t.Errorf("the server of namespace %s answers in host", ns.Name())
	}
}

func TestServeListenFailure(t *testing.T) {
	ns := newNamespace(t, false)
	startServer(t, ns, "127.0.0.1:7070", nil)
	ctx, cancel := context.WithTimeout(context.Background(), 5*time.Second)
	defer cancel()
	for _, tc := range []struct{ addr, err string }{
		{"127.0.0.1:7070", `nsh serve: failed to listen on "127.0.0.1:7070": address already in use`},
		{"10.1.2.3:80", `nsh serve: failed to listen on "10.1.2.3:80": cannot assign requested address`},
	} {
		res, err := nsexec.Run(ctx, ns, nsexec.Command(ServeArgv(tc.addr, nil)...))
		if err != nil {
			t.Fatal(err)
		}
		if res.Code != 1 || strings.TrimSpace(res.Stderr) != tc.err || res.Stdout != "" {
			t.Errorf("serve %s: exit %d, stdout %q, stderr %q; want exit 1 and %q", tc.addr, res.Code, res.Stdout, res.Stderr, tc.err)
		}
	}
}

func TestServeInProcess(t *testing.T) {
	host := hostNamespace(t)
	ln, err := listen("127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	done := make(chan error, 1)
	go func() { done <- serve(ctx, ln, nil) }()
	res := Connect(context.Background(), nil, host, ln.Addr().String(), 2*time.Second, nil)
	if !res.OK || res.Reply != res.Local {
		t.Errorf("Connect = %+v, want the reply to be the local address", res)
	}
	// A client that never closes its side does not keep Serve from
	// stopping.
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	time.Sleep(20 * time.Millisecond)
	cancel()
	select {
	case err := <-done:
		if err != nil {
			t.Errorf("serve: %v", err)
		}
	case <-time.After(time.Second):
		t.Fatal("serve did not return after cancellation")
	}
}

func TestServeArgs(t *testing.T) {
	var stdout, stderr bytes.Buffer
	if code := serveMain([]string{}, &stdout, &stderr); code != 2 {
		t.Errorf("serve with no address: exit %d", code)
	}
	reply := "-x y"
	argv := ServeArgv("[::1]:80", &reply)
	if !filepath.IsAbs(argv[0]) || strings.Join(argv[1:], " ") != "__nsh-serve -reply=-x y -- [::1]:80" {
		t.Errorf("ServeArgv = %q", argv)
	}
}

// freshPath makes a veth pair from a new namespace to a port of a bridge
// with 10.98.0.1/24 in a second one, brings the links up (the port before
// the pinger's end, so that the kernel treats the pinger's event as not
// urgent) unless down names one to leave down, and returns the pinger's
// kernel and namespace and the second namespace's handle.
func freshPath(t *testing.T, down string) (kernel.Kernel, kernel.Namespace, kernel.Netlink) {
	t.Helper()
	k, a := kerneltest.Namespace(t, true)
	_, b := kerneltest.Namespace(t, true)
	ha, err := a.Netlink()
	if err != nil {
		t.Fatal(err)
	}
	hb, err := b.Netlink()
	if err != nil {
		t.Fatal(err)
	}
	veth := &netlink.Veth{LinkAttrs: netlink.LinkAttrs{Name: "e"}, PeerName: "n", PeerNamespace: netlink.NsFd(b.Fd())}
	if err := ha.LinkAdd(veth); err != nil {
		t.Fatal(err)
	}
	if err := hb.LinkAdd(&netlink.Bridge{LinkAttrs: netlink.LinkAttrs{Name: "br"}}); err != nil {
		t.Fatal(err)
	}
	e, _ := ha.LinkByName("e")
	n, _ := hb.LinkByName("n")
	br, _ := hb.LinkByName("br")
	if e == nil || n == nil || br == nil {
		t.Fatal("links not made")
	}
	ae, _ := netlink.ParseAddr("10.98.0.2/24")
	abr, _ := netlink.ParseAddr("10.98.0.1/24")
	for _, err := range []error{ha.AddrAdd(e, ae), hb.AddrAdd(br, abr), hb.LinkSetMaster(n, br)} {
		if err != nil {
			t.Fatal(err)
		}
	}
	for _, s := range []struct {
		h kernel.Netlink
		l netlink.Link
	}{{hb, br}, {hb, n}, {ha, e}} {
		if s.l.Attrs().Name == down {
			continue
		}
		if err := s.h.LinkSetUp(s.l); err != nil {
			t.Fatal(err)
		}
	}
	return k, a, hb
}

// TestSettleFreshPath checks that settle leaves every link on a fresh path
// operational: the pinger's end, its veth peer in another namespace, and
// the bridge that peer is a port of; and that a ping right after the
// links come up is answered within the default timeout.
func TestSettleFreshPath(t *testing.T) {
	for i := range 10 {
		k, a, hb := freshPath(t, "")
		settle(context.Background(), k, a, netip.MustParseAddr("10.98.0.1"), 0)
		// A dump: reading one link would settle it (see settle).
		ha, _ := a.Netlink()
		for _, c := range []struct {
			h    kernel.Netlink
			name string
		}{{ha, "e"}, {hb, "n"}, {hb, "br"}} {
			links, err := c.h.LinkList()
			if err != nil {
				t.Fatal(err)
			}
			for _, l := range links {
				if s := l.Attrs().OperState; l.Attrs().Name == c.name && s != netlink.OperUp {
					t.Errorf("round %d: after settle, %s is %v, want up", i, c.name, s)
				}
			}
		}

		k, a, _ = freshPath(t, "")
		res, err := Ping(context.Background(), k, a, "10.98.0.1", 1, time.Second)
		if err != nil || res.Received != 1 {
			t.Errorf("round %d: Ping 10.98.0.1 right after up = %+v, %v; want an answer", i, res, err)
		}
	}
}

// TestSettleDoesNotWaitForDownLinks checks that a path the kernel is not
// bringing up (the peer is down, so the pinger's end has no carrier)
// costs no wait: the probe fails in its timeout, not settleMax later.
func TestSettleDoesNotWaitForDownLinks(t *testing.T) {
	k, a, _ := freshPath(t, "n")
	start := time.Now()
	res, err := Ping(context.Background(), k, a, "10.98.0.1", 1, 300*time.Millisecond)
	if err != nil || res.Received != 0 {
		t.Errorf("Ping over a veth whose peer is down = %+v, %v; want no answer", res, err)
	}
	if d := time.Since(start); d > 2*time.Second {
		t.Errorf("Ping over a veth whose peer is down took %v, want about its timeout", d)
	}
}
