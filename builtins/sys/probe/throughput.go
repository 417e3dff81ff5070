package probe

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/netip"
	"time"

	"github.com/nshlab/nsh/builtins/sys/kernel"
)

// sinkIdle is how long the sink waits for the next bytes of a connection
// before it gives up on it.
const sinkIdle = 10 * time.Second

// sink reads c to its end (the client shuts down its side), counting the
// bytes and the time from the connection to the last byte, and replies
// "BYTES NANOSECONDS\n": the rate the bytes arrived at, as the receiver
// saw it, which is what a link shaped on the way let through.
func sink(ctx context.Context, c net.Conn) {
	defer c.Close()
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	start := time.Now()
	last := start
	var n int64
	buf := make([]byte, 256<<10)
	for {
		c.SetReadDeadline(time.Now().Add(sinkIdle))
		m, err := c.Read(buf)
		if m > 0 {
			n += int64(m)
			last = time.Now()
		}
		if err != nil {
			if err != io.EOF {
				return
			}
			break
		}
	}
	c.SetWriteDeadline(time.Now().Add(answerTimeout))
	fmt.Fprintf(c, "%d %d\n", n, last.Sub(start).Nanoseconds())
}

// A ThroughputResult is what a transfer to a sink measured.
type ThroughputResult struct {
	// OK reports whether the transfer ran and the sink answered.
	OK bool
	// Bytes is what the sink received, and Elapsed the time from the
	// connection to the last byte, as the sink measured them.
	Bytes   int64
	Elapsed time.Duration
	// BitsPerSecond is Bytes*8/Elapsed.
	BitsPerSecond float64
	// Error says why the transfer failed; it is "" if OK.
	Error string
}

// Throughput connects from ns to a sink (serve with Sink) at addr,
// "ip:port", sends as fast as TCP lets it for d, shuts down its side,
// and returns the rate the sink received at. Before the connection it
// settles the path (see Connect). The connection must be made within
// timeout, and the sink's answer must come within timeout after the
// sending ends (what is still queued on the way drains meanwhile).
func Throughput(ctx context.Context, k kernel.Kernel, ns kernel.Namespace, addr string, d, timeout time.Duration) ThroughputResult {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return ThroughputResult{Error: fmt.Sprintf("%q is not an address of the form ip:port", addr)}
	}
	settle(ctx, k, ns, ap.Addr().Unmap(), 0)
	var conn net.Conn
	err = ns.Do(func() error {
		dl := net.Dialer{Timeout: timeout}
		c, err := dl.DialContext(ctx, "tcp", addr)
		conn = c
		return err
	})
	if err != nil {
		return ThroughputResult{Error: describe(ctx, err, timeout)}
	}
	defer conn.Close()
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	buf := make([]byte, 128<<10)
	end := time.Now().Add(d)
	conn.SetWriteDeadline(end)
	for time.Now().Before(end) {
		if _, err := conn.Write(buf); err != nil {
			if ne, ok := err.(net.Error); ok && ne.Timeout() {
				break
			}
			return ThroughputResult{Error: "the sink closed the connection: " + describe(ctx, err, timeout)}
		}
	}
	conn.SetWriteDeadline(time.Time{})
	if err := conn.(*net.TCPConn).CloseWrite(); err != nil {
		return ThroughputResult{Error: "failed to end the transfer: " + describe(ctx, err, timeout)}
	}
	conn.SetReadDeadline(time.Now().Add(timeout))
	var bytes, ns64 int64
	line, err := bufio.NewReader(conn).ReadString('\n')
	if err != nil && line != "" {
		return ThroughputResult{Error: fmt.Sprintf("the server at %s is not a sink: it answered %q (start it with serve(..., sink=True))", addr, line)}
	}
	if err != nil {
		return ThroughputResult{Error: "no answer from the sink (is it serve(..., sink=True)?): " + describe(ctx, err, timeout)}
	}
	if _, err := fmt.Sscanf(line, "%d %d", &bytes, &ns64); err != nil || ns64 <= 0 {
		return ThroughputResult{Error: fmt.Sprintf("the server at %s is not a sink: it answered %q (start it with serve(..., sink=True))", addr, line)}
	}
	el := time.Duration(ns64)
	return ThroughputResult{OK: true, Bytes: bytes, Elapsed: el, BitsPerSecond: float64(bytes) * 8 / el.Seconds()}
}
