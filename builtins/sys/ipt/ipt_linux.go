package ipt

import (
	"bytes"
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"

	"github.com/coreos/go-iptables/iptables"
)

// LockWait is how long, in seconds, iptables waits for the xtables lock
// that another program (Docker, firewalld, a second nsh) holds.
const LockWait = 10

// EnvBinary names the environment variable that selects the iptables
// binary, e.g. NSH_IPTABLES=iptables-legacy. By default nsh uses the
// iptables in PATH (or /usr/sbin), which is what the machine's own
// `iptables` command runs.
const EnvBinary = "NSH_IPTABLES"

// ErrNotInstalled is returned when there is no iptables binary.
var ErrNotInstalled = errors.New("iptables is not installed: apt-get install iptables")

// Find returns the path of the iptables binary: $NSH_IPTABLES if set,
// else iptables in PATH, else /usr/sbin/iptables or /sbin/iptables (sudo
// and cron often run with a PATH without sbin).
func Find() (string, error) {
	name := os.Getenv(EnvBinary)
	if name == "" {
		name = "iptables"
	}
	if p, err := exec.LookPath(name); err == nil {
		return p, nil
	}
	if !strings.Contains(name, "/") {
		for _, dir := range []string{"/usr/sbin", "/sbin"} {
			p := filepath.Join(dir, name)
			if st, err := os.Stat(p); err == nil && !st.IsDir() && st.Mode()&0o111 != 0 {
				return p, nil
			}
		}
	}
	if name != "iptables" {
		return "", fmt.Errorf("%s=%s: no such program; %w", EnvBinary, name, ErrNotInstalled)
	}
	return "", ErrNotInstalled
}

// Backend describes an iptables binary.
type Backend struct {
	// Path is the binary.
	Path string
	// Version is its version, e.g. "1.8.9".
	Version string
	// Mode is the kernel interface it drives: "nf_tables" (iptables-nft,
	// rules in nftables tables) or "legacy" (the x_tables interface).
	Mode string
}

// NFT reports whether the binary drives nftables.
func (b Backend) NFT() bool { return b.Mode == "nf_tables" }

// String describes the backend for `nsh status`.
func (b Backend) String() string {
	name := "nft"
	if !b.NFT() {
		name = b.Mode
	}
	return fmt.Sprintf("%s (iptables v%s (%s), %s)", name, b.Version, b.Mode, b.Path)
}

var versionRE = regexp.MustCompile(`v([0-9]+\.[0-9]+\.[0-9]+)(?:\s+\((\w+)\))?`)

// ParseVersion parses the output of `iptables --version`, e.g.
// "iptables v1.8.9 (nf_tables)". A version without a mode is legacy, as
// in iptables before 1.8.
func ParseVersion(out string) (version, mode string, err error) {
	m := versionRE.FindStringSubmatch(out)
	if m == nil {
		return "", "", fmt.Errorf("no iptables version in %q", strings.TrimSpace(out))
	}
	mode = m[2]
	if mode == "" {
		mode = "legacy"
	}
	return m[1], mode, nil
}

// A Handle runs one iptables binary in the network namespace of the
// calling thread.
type Handle struct {
	Backend
	ipt *iptables.IPTables
}

var handles struct {
	sync.Mutex
	m map[string]*Handle
}

// Open returns a handle for the binary at path, or for Find's binary if
// path is "" or no longer exists (nsh down after the binary was
// replaced).
func Open(path string) (*Handle, error) {
	if path != "" {
		if _, err := os.Stat(path); err != nil {
			path = ""
		}
	}
	if path == "" {
		p, err := Find()
		if err != nil {
			return nil, err
		}
		path = p
	}
	handles.Lock()
	defer handles.Unlock()
	if h := handles.m[path]; h != nil {
		return h, nil
	}
	out, err := exec.Command(path, "--version").Output()
	if err != nil {
		return nil, fmt.Errorf("failed to run %s --version: %w", path, err)
	}
	version, mode, err := ParseVersion(string(out))
	if err != nil {
		return nil, fmt.Errorf("failed to read the version of %s: %w", path, err)
	}
	proto := iptables.ProtocolIPv4
	if strings.HasPrefix(filepath.Base(path), "ip6tables") {
		proto = iptables.ProtocolIPv6
	}
	ipt, err := iptables.New(iptables.IPFamily(proto), iptables.Path(path), iptables.Timeout(LockWait))
	if err != nil {
		return nil, fmt.Errorf("failed to set up %s: %w", path, err)
	}
	h := &Handle{Backend: Backend{Path: path, Version: version, Mode: mode}, ipt: ipt}
	if handles.m == nil {
		handles.m = map[string]*Handle{}
	}
	handles.m[path] = h
	return h, nil
}

// Detect returns the backend of the binary that Find selects.
func Detect() (Backend, error) {
	h, err := Open("")
	if err != nil {
		return Backend{}, err
	}
	return h.Backend, nil
}

// Append adds a rule at the end of a chain (iptables -A).
func (h *Handle) Append(table, chain string, args []string) error {
	return clean(h.ipt.Append(table, chain, args...))
}

// Insert adds a rule at position pos (1 is first) of a chain
// (iptables -I).
func (h *Handle) Insert(table, chain string, pos int, args []string) error {
	return clean(h.ipt.Insert(table, chain, pos, args...))
}

// Delete deletes the first rule of a chain that matches args exactly
// (iptables -D). It returns false, and no error, if there is no such rule
// or chain.
func (h *Handle) Delete(table, chain string, args []string) (bool, error) {
	err := h.ipt.Delete(table, chain, args...)
	var e *iptables.Error
	if errors.As(err, &e) && e.IsNotExist() {
		return false, nil
	}
	if err != nil {
		return false, clean(err)
	}
	return true, nil
}

// Check parses a rule as iptables -C does, without changing anything. It
// returns whether the rule is already in the chain, and an error if
// iptables rejects the rule (a bad match, target or address).
func (h *Handle) Check(table, chain string, args []string) (bool, error) {
	ok, err := h.ipt.Exists(table, chain, args...)
	return ok, clean(err)
}

// ChainExists reports whether table has the chain.
func (h *Handle) ChainExists(table, chain string) (bool, error) {
	ok, err := h.ipt.ChainExists(table, chain)
	return ok, clean(err)
}

// List returns the rules of a chain as iptables -S prints them, the
// policy first.
func (h *Handle) List(table, chain string) ([]string, error) {
	l, err := h.ipt.List(table, chain)
	return l, clean(err)
}

// Policy returns the policy of a builtin chain, e.g. "ACCEPT" or "DROP".
func (h *Handle) Policy(table, chain string) (string, error) {
	rules, err := h.List(table, chain)
	if err != nil {
		return "", err
	}
	for _, r := range rules {
		if f := strings.Fields(r); len(f) == 3 && f[0] == "-P" && f[1] == chain {
			return f[2], nil
		}
	}
	return "", fmt.Errorf("no policy for chain %s in table %s", chain, table)
}

// TableExists reports whether a table is in the kernel. With nf_tables,
// iptables-nft creates a table (and the chain) when the first rule is
// added to it, and never removes it; nsh asks nf_tables itself. With the
// legacy backend, it asks iptables-save.
func (h *Handle) TableExists(table string) (bool, error) {
	if h.NFT() {
		return h.nftTableExists(table)
	}
	var out, stderr bytes.Buffer
	cmd := exec.Command(h.Path + "-save")
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return false, fmt.Errorf("failed to run %s-save: %v: %s", h.Path, err, strings.TrimSpace(stderr.String()))
	}
	for _, l := range strings.Split(out.String(), "\n") {
		if l == "*"+table {
			return true, nil
		}
	}
	return false, nil
}

// TableEmpty reports whether a table has no rules, no chains of its own,
// and only ACCEPT policies: whether it is as iptables-nft creates it.
// With nf_tables, nsh asks nf_tables, which also tells whether it has sets
// (which iptables -S does not show).
func (h *Handle) TableEmpty(table string) (bool, error) {
	if h.NFT() {
		return h.nftTableEmpty(table)
	}
	out, err := h.run("-t", table, "-S")
	if err != nil {
		return false, err
	}
	for _, l := range strings.Split(strings.TrimSpace(out), "\n") {
		f := strings.Fields(l)
		if len(f) == 0 {
			continue
		}
		if len(f) != 3 || f[0] != "-P" || f[2] != "ACCEPT" {
			return false, nil
		}
	}
	return true, nil
}

// run runs the binary with args and --wait, and returns its output.
func (h *Handle) run(args ...string) (string, error) {
	args = append(args, "--wait", strconv.Itoa(LockWait))
	var out, stderr bytes.Buffer
	cmd := exec.Command(h.Path, args...)
	cmd.Stdout, cmd.Stderr = &out, &stderr
	if err := cmd.Run(); err != nil {
		return "", fmt.Errorf("%s", firstLine(stderr.String(), err))
	}
	return out.String(), nil
}

// clean turns a go-iptables error, which repeats the whole command line,
// into iptables' own message, e.g. "Chain 'MASQUERAD' does not exist".
func clean(err error) error {
	if err == nil {
		return nil
	}
	var e *iptables.Error
	if !errors.As(err, &e) {
		return err
	}
	msg := e.Error()
	if i := strings.Index(msg, "exit status "); i >= 0 {
		rest := msg[i+len("exit status "):]
		if j := strings.Index(rest, ": "); j >= 0 {
			msg = rest[j+2:]
		}
	}
	return &Error{Msg: firstLine(msg, err), Status: e.ExitStatus(), err: err}
}

// An Error is iptables' own complaint about a command.
type Error struct {
	// Msg is iptables' message, without its "iptables v1.8.9 (nf_tables): "
	// prefix.
	Msg string
	// Status is iptables' exit status: 1 for a rule or chain that does
	// not exist, 2 for a bad parameter, 4 for the lock.
	Status int
	err    error
}

func (e *Error) Error() string { return e.Msg }
func (e *Error) Unwrap() error { return e.err }

var prefixRE = regexp.MustCompile(`^(ip6?tables(-[a-z]+)?|iptables-restore)( v[0-9.]+( \(\w+\))?)?: `)

func firstLine(msg string, err error) string {
	msg = strings.TrimSpace(msg)
	if msg == "" {
		return err.Error()
	}
	if i := strings.IndexByte(msg, '\n'); i >= 0 {
		msg = msg[:i]
	}
	msg = prefixRE.ReplaceAllString(msg, "")
	return strings.TrimSuffix(strings.TrimSpace(msg), ".")
}
