package probe

import (
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/netip"
	"strconv"
	"syscall"
	"time"

	"github.com/nshlab/nsh/builtins/sys/kernel"
)

// Connect opens a TCP connection from ns to addr, an "ip:port" address
// ("[::1]:80" for IPv6), sends send if it is not nil and then shuts down
// its side of the connection, and reads the reply until the server closes
// the connection or timeout passes. Before the first packet it settles the
// path to addr (see settle; k finds the namespaces of veth peers, and may
// be nil). The whole exchange, after that, takes at most timeout (no
// limit if it is 0) and stops early when ctx is done. The
// result is OK if the connection was established, whether or not the
// server replied; otherwise its Error says why not.
func Connect(ctx context.Context, k kernel.Kernel, ns kernel.Namespace, addr string, timeout time.Duration, send []byte) ConnectResult {
	ap, err := netip.ParseAddrPort(addr)
	if err != nil {
		return ConnectResult{Error: fmt.Sprintf("%q is not an address of the form ip:port", addr)}
	}
	oif := 0
	if z := ap.Addr().Zone(); z != "" {
		// A zone names a link of ns, or is its index.
		if oif, err = strconv.Atoi(z); err != nil {
			if h, err := ns.Netlink(); err == nil {
				if l, err := h.LinkByName(z); err == nil {
					oif = l.Attrs().Index
				}
			}
		}
	}
	settle(ctx, k, ns, ap.Addr().Unmap(), oif)
	var deadline time.Time
	if timeout > 0 {
		deadline = time.Now().Add(timeout)
	}
	var conn net.Conn
	err = ns.Do(func() error {
		// The socket, and the name of a zone, belong to ns.
		d := net.Dialer{Deadline: deadline}
		c, err := d.DialContext(ctx, "tcp", addr)
		conn = c
		return err
	})
	if err != nil {
		return ConnectResult{Error: describe(ctx, err, timeout)}
	}
	defer conn.Close()
	res := ConnectResult{OK: true, Local: conn.LocalAddr().String()}

	conn.SetDeadline(deadline)
	stop := context.AfterFunc(ctx, func() { conn.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	if send != nil {
		// A server that closes early makes the write fail; its reply is
		// still worth reading.
		if _, err := conn.Write(send); err == nil {
			conn.(*net.TCPConn).CloseWrite()
		}
	}
	b, _ := io.ReadAll(io.LimitReader(conn, MaxReply))
	res.Reply = string(b)
	return res
}

// describe turns a dial error into a short sentence.
func describe(ctx context.Context, err error, timeout time.Duration) string {
	switch ctx.Err() {
	case context.Canceled:
		return "cancelled"
	case context.DeadlineExceeded:
		return "timed out"
	}
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return fmt.Sprintf("timed out after %v", timeout)
	}
	var errno syscall.Errno
	if errors.As(err, &errno) {
		return errno.Error()
	}
	return err.Error()
}
