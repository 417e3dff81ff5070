package probe

// A PingResult counts the echo requests sent and the replies received.
type PingResult struct {
	// Sent is the number of echo requests sent or attempted; a request
	// that cannot be sent (no route, for example) counts as sent and lost.
	Sent int
	// Received is the number of requests answered within the timeout.
	Received int
	// RTTms is the average round-trip time of the replies in
	// milliseconds, or 0 if there were none.
	RTTms float64
}

// A ConnectResult describes a TCP connection attempt.
type ConnectResult struct {
	// OK reports whether the connection was established, whether or not
	// the server replied.
	OK bool
	// Local is the local end of the connection as "ip:port".
	Local string
	// Reply is what the server sent before it closed the connection or
	// the timeout passed, up to MaxReply bytes.
	Reply string
	// Error says why the connection failed, as a short sentence such as
	// "connection refused" or "timed out after 1s"; it is "" if OK.
	Error string
}

// MaxReply is the number of bytes of a server's reply that Connect keeps.
const MaxReply = 1 << 20
