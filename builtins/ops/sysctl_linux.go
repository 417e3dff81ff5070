package ops

import (
	"fmt"
	"strings"

	"github.com/nshlab/nsh/builtins/sys/kernel"
)

// SysctlSet writes a network sysctl in a namespace, as
// `ip netns exec NS sysctl -w KEY=VALUE`. Old is the value before, which
// Revert restores unless someone else changed the value since.
type SysctlSet struct {
	NS    string `json:"ns"`
	Key   string `json:"key"`
	Value string `json:"value"`
	Old   string `json:"old"`

	inherited bool
}

func init() { Register("sysctl.set", func() Op { return new(SysctlSet) }) }

// Kind implements Op.
func (o *SysctlSet) Kind() string { return "sysctl.set" }

// Namespaces implements Scoped.
func (o *SysctlSet) Namespaces() []string { return scope(o.NS) }

// SysctlPath returns the /proc/sys file of a dotted or slashed key.
func SysctlPath(key string) string { return kernel.SysctlPath(key) }

// ReadSysctl reads a sysctl in a namespace, without the trailing newline.
func ReadSysctl(ns kernel.Namespace, key string) (string, error) {
	return ns.ReadSysctl(key)
}

func writeSysctl(ns kernel.Namespace, key, value string) error {
	return ns.WriteSysctl(key, value)
}

// Apply implements Op.
func (o *SysctlSet) Apply(k kernel.Kernel) error {
	ns, err := k.Namespace(o.NS)
	if err != nil {
		return failed(fmt.Sprintf("set sysctl %s%s", o.Key, inNS(o.NS)), err)
	}
	if err := writeSysctl(ns, o.Key, o.Value); err != nil {
		return failed(fmt.Sprintf("set sysctl %s=%s%s", o.Key, o.Value, inNS(o.NS)), err)
	}
	return nil
}

// Revert implements Op. It restores Old only if the value is still the
// one nsh set; otherwise it leaves it and returns a Warning.
func (o *SysctlSet) Revert(k kernel.Kernel) error {
	ns, err := k.Namespace(o.NS)
	if err != nil {
		if gone(err) {
			return nil
		}
		return err
	}
	cur, err := ReadSysctl(ns, o.Key)
	if err != nil {
		if gone(err) {
			return nil
		}
		return failed(fmt.Sprintf("read sysctl %s%s", o.Key, inNS(o.NS)), err)
	}
	if normalize(cur) != normalize(o.Value) {
		return &Warning{Msg: fmt.Sprintf("sysctl %s%s is %s, not the %s nsh set: someone else changed it since, so nsh left it as it is (it was %s before nsh)",
			o.Key, inNSOrHost(o.NS), cur, o.Value, o.Old)}
	}
	if err := writeSysctl(ns, o.Key, o.Old); err != nil {
		return failed(fmt.Sprintf("restore sysctl %s=%s%s", o.Key, o.Old, inNS(o.NS)), err)
	}
	return nil
}

// normalize folds the white space the kernel prints between fields.
func normalize(v string) string { return strings.Join(strings.Fields(v), " ") }

// Explain implements Op.
func (o *SysctlSet) Explain(host string) []string {
	return []string{nsExec(o.NS, host) + "sysctl -w " + shellQuote(o.Key+"="+o.Value)}
}

// Undo implements Undoer: it restores the value before (which a script of
// the lab should read when it runs, rather than trust: see nsh export).
func (o *SysctlSet) Undo(host string) []string {
	return []string{nsExec(o.NS, host) + "sysctl -w " + shellQuote(o.Key+"="+o.Old)}
}

// SharedKey implements Shared: a sysctl of the machine's own namespace is
// shared by the sessions that work there (two labs that both turn on
// ip_forward).
func (o *SysctlSet) SharedKey() string {
	if !isHost(o.NS) {
		return ""
	}
	return "sysctl " + o.Key
}

// Inherit implements Shared: the oldest holder's Old is the value before
// any session changed the sysctl, which the last holder restores.
func (o *SysctlSet) Inherit(held Op) {
	if h, ok := held.(*SysctlSet); ok && !o.inherited {
		o.Old, o.inherited = h.Old, true
	}
}

// Release implements Shared: while another session holds the sysctl, its
// value stays as it is.
func (o *SysctlSet) Release(k kernel.Kernel) error { return nil }
