package ipt

import (
	"fmt"
	"net"
	"strconv"
	"strings"
)

// CommentPrefix starts the comment that marks every rule nsh adds, as
// "-m comment --comment nsh:SESSION", so that leftovers can be found with
// `iptables-save | grep nsh:`.
const CommentPrefix = "nsh:"

// Comment returns the comment of the rules of a session.
func Comment(session string) string { return CommentPrefix + session }

// CommentArgs returns the match that marks a rule as the session's.
func CommentArgs(session string) []string {
	return []string{"-m", "comment", "--comment", Comment(session)}
}

// builtinChains lists the chains that every table has, in the order
// iptables-save prints them.
var builtinChains = map[string][]string{
	"filter": {"INPUT", "FORWARD", "OUTPUT"},
	"nat":    {"PREROUTING", "INPUT", "OUTPUT", "POSTROUTING"},
	"mangle": {"PREROUTING", "INPUT", "FORWARD", "OUTPUT", "POSTROUTING"},
	"raw":    {"PREROUTING", "OUTPUT"},
}

// Tables lists the tables nsh adds rules to.
var Tables = []string{"filter", "nat", "mangle", "raw"}

// CheckTable reports whether nsh can add rules to table.
func CheckTable(table string) error {
	if _, ok := builtinChains[table]; ok {
		return nil
	}
	hint := ""
	if _, ok := builtinChains[strings.ToLower(table)]; ok {
		hint = fmt.Sprintf(" (did you mean %q?)", strings.ToLower(table))
	}
	return fmt.Errorf("unknown table %q: want filter, nat, mangle or raw%s", table, hint)
}

// BuiltinChains returns the builtin chains of a table, in the order
// iptables lists them (the model kernel creates them so).
func BuiltinChains(table string) []string { return builtinChains[table] }

// IsBuiltinChain reports whether chain is one of table's builtin chains.
func IsBuiltinChain(table, chain string) bool {
	for _, c := range builtinChains[table] {
		if c == chain {
			return true
		}
	}
	return false
}

// UnknownChain returns the error for a chain that table does not have.
func UnknownChain(table, chain string) error {
	cs := builtinChains[table]
	hint := ""
	if IsBuiltinChain(table, strings.ToUpper(chain)) {
		hint = fmt.Sprintf(" (did you mean %q?)", strings.ToUpper(chain))
	}
	return fmt.Errorf("unknown chain %q in table %s: want %s or %s, or a chain made with iptables -N%s",
		chain, table, strings.Join(cs[:len(cs)-1], ", "), cs[len(cs)-1], hint)
}

// CheckPort reports whether n is a TCP or UDP port.
func CheckPort(n int) error {
	if n < 1 || n > 65535 {
		return fmt.Errorf("bad port %d: want 1 to 65535", n)
	}
	return nil
}

// CheckProto reports whether p is a protocol that has ports nsh forwards.
func CheckProto(p string) error {
	if p != "tcp" && p != "udp" {
		return fmt.Errorf("bad protocol %q: want tcp or udp", p)
	}
	return nil
}

// ParseHostPort parses "IP:PORT", an IPv4 address and a port.
func ParseHostPort(s, what string) (string, int, error) {
	bad := fmt.Errorf("bad %s %q: want IP:PORT, e.g. 10.0.0.2:8000", what, s)
	host, port, err := net.SplitHostPort(s)
	if err != nil {
		return "", 0, bad
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.To4() == nil {
		return "", 0, bad
	}
	n, err := strconv.Atoi(port)
	if err != nil {
		return "", 0, bad
	}
	if err := CheckPort(n); err != nil {
		return "", 0, fmt.Errorf("bad %s %q: %w", what, s, err)
	}
	return host, n, nil
}

// CheckNet reports whether s is an IPv4 address or network, as iptables
// takes for -s and -d. A network must not have host bits set.
func CheckNet(s, what string) error {
	if ip := net.ParseIP(s); ip != nil {
		if ip.To4() == nil {
			return fmt.Errorf("bad %s %q: nsh adds IPv4 rules (iptables), not IPv6 ones", what, s)
		}
		return nil
	}
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		return fmt.Errorf("bad %s %q: want an IPv4 address or a CIDR such as 10.0.0.0/16", what, s)
	}
	if ip.To4() == nil {
		return fmt.Errorf("bad %s %q: nsh adds IPv4 rules (iptables), not IPv6 ones", what, s)
	}
	if !ip.Equal(n.IP) {
		return fmt.Errorf("bad %s %q: host bits are set (did you mean %s?)", what, s, n)
	}
	return nil
}

// CheckIfName reports whether name can be given to -i or -o: 1 to 15
// bytes, where a trailing '+' matches every interface with that prefix.
func CheckIfName(name, what string) error {
	switch {
	case name == "":
		return fmt.Errorf("bad %s: empty interface name", what)
	case len(name) > 15:
		return fmt.Errorf("bad %s %q: %d bytes, longer than the kernel's limit of 15 (IFNAMSIZ)", what, name, len(name))
	case strings.ContainsAny(name, " \t\n/:!"):
		return fmt.Errorf("bad %s %q: an interface name has no white space, '/', ':' or '!'", what, name)
	}
	return nil
}

// commandFlags are iptables options that name the command or the table,
// which nsh gives itself and which must not appear in a rule's arguments.
var commandFlags = map[string]string{
	"-t": "table", "--table": "table",
	"-A": "command", "--append": "command", "-I": "command", "--insert": "command",
	"-D": "command", "--delete": "command", "-R": "command", "--replace": "command",
	"-C": "command", "--check": "command", "-N": "command", "--new-chain": "command",
	"-X": "command", "--delete-chain": "command", "-F": "command", "--flush": "command",
	"-P": "command", "--policy": "command", "-Z": "command", "--zero": "command",
	"-E": "command", "--rename-chain": "command", "-L": "command", "--list": "command",
	"-S": "command", "--list-rules": "command", "-w": "option", "--wait": "option",
	"-W": "option", "--wait-interval": "option",
}

// CheckArgs reports whether args is a rule specification: matches and a
// target, without a command (-A, -D...), a table (-t) or --wait.
func CheckArgs(args []string) error {
	comment := false
	for _, a := range args {
		if comment {
			comment = false
			continue
		}
		if a == "--comment" {
			comment = true
			continue
		}
		if kind, ok := commandFlags[a]; ok {
			switch kind {
			case "table":
				return fmt.Errorf("args must not contain %q: give the table as the first argument", a)
			case "command":
				return fmt.Errorf("args must not contain %q: give the chain as the second argument; nsh appends the rule (or inserts it with insert=True) and deletes it on undo", a)
			default:
				return fmt.Errorf("args must not contain %q: nsh waits for the xtables lock itself", a)
			}
		}
	}
	return nil
}

// WithComment returns args with the session's comment match inserted
// before the target (-j or -g), or at the end if there is none, where
// iptables-save prints it.
func WithComment(args []string, session string) []string {
	at := len(args)
	for i, a := range args {
		if (a == "-j" || a == "--jump" || a == "-g" || a == "--goto") && (i == 0 || args[i-1] != "--comment") {
			at = i
			break
		}
	}
	out := make([]string, 0, len(args)+4)
	out = append(out, args[:at]...)
	out = append(out, CommentArgs(session)...)
	return append(out, args[at:]...)
}
