package probe

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"math/rand/v2"
	"net"
	"net/netip"
	"strconv"
	"time"

	"github.com/nshlab/nsh/builtins/sys/kernel"
	"golang.org/x/net/icmp"
	"golang.org/x/net/ipv4"
	"golang.org/x/net/ipv6"
)

// pingInterval is the longest time between two echo requests. The next
// request goes out as soon as the previous one is answered.
const pingInterval = 200 * time.Millisecond

// pingSize is the size of an echo request's data, as with ping(8).
const pingSize = 56

// An icmpFamily holds what differs between ICMP for IPv4 and for IPv6.
type icmpFamily struct {
	network, laddr string
	proto          int
	request, reply icmp.Type
}

var (
	icmp4 = icmpFamily{"ip4:icmp", "0.0.0.0", 1, ipv4.ICMPTypeEcho, ipv4.ICMPTypeEchoReply}
	icmp6 = icmpFamily{"ip6:ipv6-icmp", "::", 58, ipv6.ICMPTypeEchoRequest, ipv6.ICMPTypeEchoReply}
)

// An echoReply is a reply that matches one of our requests.
type echoReply struct {
	seq int
	at  time.Time
}

// A pending request awaits its reply until its deadline.
type pending struct {
	sent, deadline time.Time
}

// Ping sends count ICMP echo requests to dst, an IPv4 or IPv6 address (a
// link-local IPv6 address needs a zone, as in fe80::1%eth0), from a raw
// socket in ns, and counts the replies. Before the first request it
// settles the path to dst (see settle; k finds the namespaces of veth
// peers, and may be nil). Requests go out at most 200ms apart, and as
// soon as the previous request is answered; each waits up to timeout for
// its reply. An unreachable destination is not an error:
// it just answers fewer requests than were sent. The error is for bad
// arguments, for a socket that cannot be opened or read, and for ctx
// being done, in which case the counts so far are returned with it.
func Ping(ctx context.Context, k kernel.Kernel, ns kernel.Namespace, dst string, count int, timeout time.Duration) (PingResult, error) {
	addr, err := netip.ParseAddr(dst)
	if err != nil {
		return PingResult{}, fmt.Errorf("ping: %q is not an IP address", dst)
	}
	addr = addr.Unmap()
	switch {
	case count < 1:
		return PingResult{}, fmt.Errorf("ping: count must be at least 1, not %d", count)
	case timeout <= 0:
		return PingResult{}, fmt.Errorf("ping: timeout must be positive, not %v", timeout)
	case addr.Is6() && addr.Zone() == "" && (addr.IsLinkLocalUnicast() || addr.IsLinkLocalMulticast()):
		return PingResult{}, fmt.Errorf("ping: link-local address %s needs a zone, as in %s%%eth0", addr, addr)
	}
	fam := icmp4
	if addr.Is6() {
		fam = icmp6
	}

	var conn *icmp.PacketConn
	zone := addr.Zone()
	err = ns.Do(func() error {
		if zone != "" {
			// The interface name means something only in ns.
			if _, err := strconv.Atoi(zone); err != nil {
				ifi, err := net.InterfaceByName(zone)
				if err != nil {
					return fmt.Errorf("ping: no interface %q for the zone of %s in namespace %q", zone, dst, ns.Name())
				}
				zone = strconv.Itoa(ifi.Index)
			}
		}
		c, err := icmp.ListenPacket(fam.network, fam.laddr)
		if err != nil {
			return fmt.Errorf("ping: failed to open an ICMP socket in namespace %q: %w", ns.Name(), err)
		}
		conn = c
		return nil
	})
	if err != nil {
		return PingResult{}, err
	}
	defer conn.Close()
	// Let the kernel drop what is not an echo reply, such as our own
	// requests on loopback; what passes is still checked below.
	if fam.proto == 1 {
		var f ipv4.ICMPFilter
		f.SetAll(true)
		f.Accept(ipv4.ICMPTypeEchoReply)
		conn.IPv4PacketConn().SetICMPFilter(&f)
	} else {
		var f ipv6.ICMPFilter
		f.SetAll(true)
		f.Accept(ipv6.ICMPTypeEchoReply)
		conn.IPv6PacketConn().SetICMPFilter(&f)
	}

	// A raw socket sees every ICMP packet of the namespace: replies are
	// ours if they carry our identifier and our random cookie.
	id := int(rand.Uint32() & 0xffff)
	data := make([]byte, pingSize)
	for i := range data {
		data[i] = byte(i)
	}
	cookie := data[:8]
	for i := range cookie {
		cookie[i] = byte(rand.Uint32())
	}

	replies := make(chan echoReply, 64)
	readErr := make(chan error, 1)
	done := make(chan struct{})
	defer close(done)
	go func() {
		buf := make([]byte, 65536)
		for {
			n, _, err := conn.ReadFrom(buf)
			at := time.Now()
			if err != nil {
				if !errors.Is(err, net.ErrClosed) {
					readErr <- err
				}
				return
			}
			m, err := icmp.ParseMessage(fam.proto, buf[:n])
			if err != nil || m.Type != fam.reply {
				continue
			}
			echo, ok := m.Body.(*icmp.Echo)
			if !ok || echo.ID != id || !bytes.HasPrefix(echo.Data, cookie) {
				continue
			}
			select {
			case replies <- echoReply{echo.Seq, at}:
			case <-done:
				return
			}
		}
	}()

	oif, _ := strconv.Atoi(zone)
	settle(ctx, k, ns, addr, oif)

	var (
		res     PingResult
		total   time.Duration
		waiting = map[int]pending{}
		next    = time.Now()
		to      = &net.IPAddr{IP: addr.AsSlice(), Zone: zone}
		timer   = time.NewTimer(0)
	)
	defer timer.Stop()
	receive := func(r echoReply) {
		if p, ok := waiting[r.seq]; ok && !r.at.After(p.deadline) {
			delete(waiting, r.seq)
			res.Received++
			total += r.at.Sub(p.sent)
			next = time.Now()
		}
	}
	for {
		// Take the replies that came in before expiring requests.
		for len(replies) > 0 {
			receive(<-replies)
		}
		now := time.Now()
		for seq, p := range waiting {
			if now.After(p.deadline) {
				delete(waiting, seq)
			}
		}
		if res.Sent < count && !now.Before(next) {
			seq := res.Sent & 0xffff
			msg := icmp.Message{Type: fam.request, Body: &icmp.Echo{ID: id, Seq: seq, Data: data}}
			b, err := msg.Marshal(nil) // the kernel sums ICMPv6
			if err != nil {
				return res, fmt.Errorf("ping: failed to build an echo request: %w", err)
			}
			res.Sent++
			now = time.Now()
			next = now.Add(pingInterval)
			// A request that cannot be sent (no route) is lost.
			if _, err := conn.WriteTo(b, to); err == nil {
				waiting[seq] = pending{sent: now, deadline: now.Add(timeout)}
			}
		}
		if res.Sent == count && len(waiting) == 0 {
			break
		}
		var wake time.Time
		if res.Sent < count {
			wake = next
		}
		for _, p := range waiting {
			if wake.IsZero() || p.deadline.Before(wake) {
				wake = p.deadline
			}
		}
		timer.Reset(time.Until(wake) + time.Millisecond)
		select {
		case <-ctx.Done():
			return res.average(total), fmt.Errorf("ping %s interrupted: %w", dst, context.Cause(ctx))
		case err := <-readErr:
			return res.average(total), fmt.Errorf("ping: failed to read from the ICMP socket: %w", err)
		case r := <-replies:
			receive(r)
		case <-timer.C:
		}
	}
	return res.average(total), nil
}

// average sets the average round-trip time from the total.
func (r PingResult) average(total time.Duration) PingResult {
	if r.Received > 0 {
		r.RTTms = float64(total) / float64(r.Received) / float64(time.Millisecond)
	}
	return r
}
