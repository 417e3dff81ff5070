package ipt

import (
	"fmt"
	"net"
	"net/netip"
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// This file holds what differs for IPv6 rules, which ip6tables adds: the
// binary, and the addresses its rules take.

// IPv6 names the family of ip6tables' rules; IPv4 (iptables') is "".
const IPv6 = "ipv6"

// Find6 returns the path of the ip6tables binary that goes with Find's
// iptables: the same name with ip6tables for iptables (iptables-legacy
// gives ip6tables-legacy), in the same directory.
func Find6() (string, error) {
	p, err := Find()
	if err != nil {
		return "", fmt.Errorf("ip6tables: %w", err)
	}
	return Sibling6(p)
}

// Sibling6 returns the ip6tables binary beside the iptables binary at
// path.
func Sibling6(path string) (string, error) {
	base := filepath.Base(path)
	if strings.HasPrefix(base, "ip6tables") {
		return path, nil
	}
	if !strings.HasPrefix(base, "iptables") {
		return "", fmt.Errorf("no ip6tables beside %s", path)
	}
	p := filepath.Join(filepath.Dir(path), "ip6"+base[len("ip"):])
	if st, err := os.Stat(p); err != nil || st.IsDir() || st.Mode()&0o111 == 0 {
		return "", fmt.Errorf("ip6tables is not installed beside %s (no %s): apt-get install iptables", path, p)
	}
	return p, nil
}

// Open6 returns a handle for the ip6tables binary at path, or for
// Find6's if path is "" or no longer exists.
func Open6(path string) (*Handle, error) {
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			path = ""
		}
	}
	if path == "" {
		p, err := Find6()
		if err != nil {
			return nil, err
		}
		path = p
	}
	return Open(path)
}

// IsV6 reports whether the binary is ip6tables.
func (h *Handle) IsV6() bool { return strings.HasPrefix(filepath.Base(h.Path), "ip6tables") }

// FamilyOf returns the family of rules an address, a CIDR or an
// "[ip]:port" takes: IPv6 for an IPv6 one, else IPv4 (""), whatever it
// is, for the check of its own kind to say what is wrong with it.
func FamilyOf(s string) string {
	s = strings.TrimSpace(s)
	if ap, err := netip.ParseAddrPort(s); err == nil {
		if ap.Addr().Is6() && !ap.Addr().Is4In6() {
			return IPv6
		}
		return ""
	}
	if i := strings.IndexByte(s, '/'); i >= 0 {
		s = s[:i]
	}
	if a, err := netip.ParseAddr(s); err == nil && a.Is6() && !a.Is4In6() {
		return IPv6
	}
	return ""
}

// CheckNet6 reports whether s is an IPv6 address or network, as ip6tables
// takes for -s and -d. A network must not have host bits set.
func CheckNet6(s, what string) error {
	if ip := net.ParseIP(s); ip != nil {
		if ip.To4() != nil {
			return fmt.Errorf("bad %s %q: want an IPv6 address here", what, s)
		}
		return nil
	}
	ip, n, err := net.ParseCIDR(s)
	if err != nil {
		return fmt.Errorf("bad %s %q: want an IPv6 address or a CIDR such as fd00::/64", what, s)
	}
	if ip.To4() != nil {
		return fmt.Errorf("bad %s %q: want an IPv6 address here", what, s)
	}
	if !ip.Equal(n.IP) {
		return fmt.Errorf("bad %s %q: host bits are set (did you mean %s?)", what, s, n)
	}
	return nil
}

// ParseHostPort6 parses "[IP]:PORT", an IPv6 address and a port, as
// ip6tables' --to-destination takes them.
func ParseHostPort6(s, what string) (string, int, error) {
	bad := fmt.Errorf("bad %s %q: want [IP]:PORT, e.g. [fd00::10]:8000", what, s)
	host, port, err := net.SplitHostPort(s)
	if err != nil || !strings.HasPrefix(s, "[") {
		return "", 0, bad
	}
	ip := net.ParseIP(host)
	if ip == nil || ip.To4() != nil || strings.Contains(host, "%") {
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
