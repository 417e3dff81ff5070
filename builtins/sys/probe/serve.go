package probe

import (
	"context"
	"errors"
	"flag"
	"fmt"
	"io"
	"net"
	"os"
	"os/signal"
	"strings"
	"sync"
	"syscall"
	"time"
)

// serveArg is the hidden first argument that makes ServeInit run a server:
// `BINARY __nsh-serve [-reply=TEXT | -sink] [--] ADDR`.
const serveArg = "__nsh-serve"

// answerTimeout bounds the time serve spends on one connection.
const answerTimeout = 5 * time.Second

// listen listens on addr, with an error that says why it cannot, such as
// "address already in use".
func listen(addr string) (net.Listener, error) {
	ln, err := net.Listen("tcp", addr)
	if err != nil {
		var errno syscall.Errno
		if errors.As(err, &errno) {
			err = errno
		}
		return nil, fmt.Errorf("failed to listen on %q: %w", addr, err)
	}
	return ln, nil
}

// serve answers every connection of ln, concurrently, with *reply, or
// with the peer's address as "ip:port" if reply is nil, and then closes
// it. It returns nil once ctx is done and the connections in progress are
// closed (it closes ln), or an error if it cannot accept.
func serve(ctx context.Context, ln net.Listener, reply *string) error {
	return serveWith(ctx, ln, func(ctx context.Context, c net.Conn) { answer(ctx, c, reply) })
}

// serveWith runs handle on every connection of ln, concurrently, as
// serve says.
func serveWith(ctx context.Context, ln net.Listener, handle func(context.Context, net.Conn)) error {
	defer ln.Close()
	stop := context.AfterFunc(ctx, func() { ln.Close() })
	defer stop()
	var wg sync.WaitGroup
	defer wg.Wait()
	for {
		c, err := ln.Accept()
		if err != nil {
			if ctx.Err() != nil {
				return nil
			}
			if errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE) {
				time.Sleep(50 * time.Millisecond)
				continue
			}
			return fmt.Errorf("failed to accept a connection on %s: %w", ln.Addr(), err)
		}
		wg.Go(func() { handle(ctx, c) })
	}
}

// answer sends the reply on c and closes it.
func answer(ctx context.Context, c net.Conn, reply *string) {
	defer c.Close()
	c.SetDeadline(time.Now().Add(answerTimeout))
	stop := context.AfterFunc(ctx, func() { c.SetDeadline(time.Unix(1, 0)) })
	defer stop()
	msg := c.RemoteAddr().String()
	if reply != nil {
		msg = *reply
	}
	if _, err := io.WriteString(c, msg); err != nil {
		return
	}
	if tc, ok := c.(*net.TCPConn); ok {
		tc.CloseWrite()
	}
	// Read what the client sends until it closes its side: closing a
	// socket with unread data resets the connection, which can destroy
	// the reply before the client reads it.
	io.Copy(io.Discard, c)
}

// ServeInit runs the server of the hidden command line that ServeArgv
// returns, and never returns in that process: it prints "listening on
// ADDR" on standard output, serves until SIGTERM or SIGINT and exits 0.
// If it cannot listen, it says why on standard error and exits 1. In any
// other process ServeInit returns at once. Call it first thing in main,
// and in TestMain of test binaries that start servers.
func ServeInit() {
	if len(os.Args) < 2 || os.Args[1] != serveArg {
		return
	}
	os.Exit(serveMain(os.Args[2:], os.Stdout, os.Stderr))
}

// serveMain is ServeInit's work; it returns the exit status.
func serveMain(args []string, stdout, stderr io.Writer) int {
	flags := flag.NewFlagSet(serveArg, flag.ContinueOnError)
	flags.SetOutput(stderr)
	replyText := flags.String("reply", "", "the reply to every connection (default: the peer's address)")
	sinkMode := flags.Bool("sink", false, "read every connection to its end and reply with what was read and how fast (for Throughput)")
	if err := flags.Parse(args); err != nil {
		return 2
	}
	if flags.NArg() != 1 {
		fmt.Fprintf(stderr, "usage: %s [-reply=TEXT | -sink] ADDR\n", serveArg)
		return 2
	}
	var reply *string
	flags.Visit(func(f *flag.Flag) {
		if f.Name == "reply" {
			reply = replyText
		}
	})
	ln, err := listen(flags.Arg(0))
	if err != nil {
		fmt.Fprintf(stderr, "nsh serve: %v\n", err)
		return 1
	}
	fmt.Fprintf(stdout, "listening on %s\n", ln.Addr())
	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	handle := func(ctx context.Context, c net.Conn) { answer(ctx, c, reply) }
	if *sinkMode {
		handle = sink
	}
	if err := serveWith(ctx, ln, handle); err != nil {
		fmt.Fprintf(stderr, "nsh serve: %v\n", err)
		return 1
	}
	return 0
}

// ServeArgv returns the command line of a process that serves addr (see
// ServeInit), for nsexec.Start or nsexec.Run: the absolute path of this
// binary followed by the hidden arguments that ServeInit handles.
func ServeArgv(addr string, reply *string) []string {
	exe, err := os.Executable()
	if err != nil {
		exe = "/proc/self/exe"
	}
	argv := []string{exe, serveArg}
	if reply != nil {
		argv = append(argv, "-reply="+*reply)
	}
	return append(argv, "--", addr)
}

// ServeSinkArgv returns the command line of a sink that serves addr, as
// ServeArgv does a server: for Throughput, it reads each connection to
// its end, and then replies with the number of bytes it read and the
// nanoseconds that took.
func ServeSinkArgv(addr string) []string {
	argv := ServeArgv(addr, nil)
	return append(argv[:2:2], "-sink", "--", addr)
}

// ParseServeArgv tells whether argv is a command line that ServeArgv
// returned, and if so returns its address and reply (nil for the peer's
// address), so that the server can be described without nsh's hidden
// arguments.
func ParseServeArgv(argv []string) (addr string, reply *string, ok bool) {
	if len(argv) < 4 || argv[1] != serveArg || argv[len(argv)-2] != "--" {
		return "", nil, false
	}
	switch len(argv) {
	case 4:
	case 5:
		if argv[2] == "-sink" {
			return "", nil, false // ParseServeSinkArgv
		}
		r, found := strings.CutPrefix(argv[2], "-reply=")
		if !found {
			return "", nil, false
		}
		reply = &r
	default:
		return "", nil, false
	}
	return argv[len(argv)-1], reply, true
}

// ParseServeSinkArgv tells whether argv is a command line that
// ServeSinkArgv returned, and if so returns its address.
func ParseServeSinkArgv(argv []string) (addr string, ok bool) {
	if len(argv) != 5 || argv[1] != serveArg || argv[2] != "-sink" || argv[3] != "--" {
		return "", false
	}
	return argv[4], true
}
