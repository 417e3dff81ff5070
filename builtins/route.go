package builtins

import (
	"fmt"
	"net"
	"strings"

	"github.com/nshlab/nsh/builtins/ops"
	"github.com/nshlab/nsh/builtins/session"
	"github.com/nshlab/nsh/builtins/sys/ipt"
	"github.com/nshlab/nsh/builtins/sys/kernel"
	"go.starlark.net/starlark"
)

// route(ns, dst, via=None, dev=None, metric=None)
func routeBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var ns starlark.Value
	var dst string
	var via, dev, metric starlark.Value = starlark.None, starlark.None, starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "ns", &ns, "dst", &dst, "via?", &via, "dev?", &dev, "metric?", &metric); err != nil {
		return nil, err
	}
	return addRoute(thread, ns, dst, via, dev, metric)
}

func netnsRoute(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var dst string
	var via, dev, metric starlark.Value = starlark.None, starlark.None, starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "dst", &dst, "via?", &via, "dev?", &dev, "metric?", &metric); err != nil {
		return nil, err
	}
	return addRoute(thread, b.Receiver(), dst, via, dev, metric)
}

func addRoute(thread *starlark.Thread, ns starlark.Value, dst string, via, dev, metric starlark.Value) (starlark.Value, error) {
	env, nsName, err := envAndNS(thread, ns)
	if err != nil {
		return nil, err
	}
	op := &ops.RouteAdd{NS: nsName, Dst: dst}
	if dst != "default" {
		ip, n, err := net.ParseCIDR(dst)
		if err != nil {
			return nil, fmt.Errorf("bad route destination %q: want \"default\" or a CIDR such as 10.0.0.0/24", dst)
		}
		if !ip.Equal(n.IP) {
			return nil, fmt.Errorf("bad route destination %q: host bits are set (did you mean %s?)", dst, n)
		}
	}
	gw, err := optString(via, "via")
	if err != nil {
		return nil, err
	}
	if gw != nil {
		if err := checkIP(*gw, "gateway"); err != nil {
			return nil, err
		}
		op.Via = *gw
	}
	switch d := dev.(type) {
	case starlark.NoneType:
	case *Link:
		if d.ns != nsName {
			return nil, fmt.Errorf("route dev %q is in %s, not in %s", d.name, nsLabel(d.ns), nsLabel(nsName))
		}
		op.Dev = d.name
	case starlark.String:
		op.Dev = string(d)
	default:
		return nil, fmt.Errorf("route: for parameter dev: got %s, want link or string", dev.Type())
	}
	if op.Dev != "" {
		if _, err := env.lookupLink(nsName, op.Dev); err != nil {
			return nil, err
		}
	}
	if metric != starlark.None {
		m, err := starlark.AsInt32(metric)
		if err != nil || m < 0 {
			return nil, fmt.Errorf("route: bad metric %s: want an integer from 0 to 2147483647", metric)
		}
		op.Metric = m
	}
	if op.Via == "" && op.Dev == "" {
		return nil, fmt.Errorf("route to %s needs via or dev", dst)
	}
	if err := env.apply(op); err != nil {
		return nil, err
	}
	return starlark.None, nil
}

// sysctl(ns, key, value) sets a network sysctl and returns the old value.
func sysctlBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var ns, value starlark.Value
	var key string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "ns", &ns, "key", &key, "value", &value); err != nil {
		return nil, err
	}
	if value == starlark.None {
		return nil, fmt.Errorf("sysctl %s: value is None: give the value to set (to read it, use ns.sysctl(key))", key)
	}
	return doSysctl(thread, ns, key, value)
}

// netns.sysctl(key, value=None) reads, or sets and returns the old value.
func netnsSysctl(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var key string
	var value starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "key", &key, "value?", &value); err != nil {
		return nil, err
	}
	return doSysctl(thread, b.Receiver(), key, value)
}

func doSysctl(thread *starlark.Thread, ns starlark.Value, key string, value starlark.Value) (starlark.Value, error) {
	env, nsName, err := envAndNS(thread, ns)
	if err != nil {
		return nil, err
	}
	norm := strings.ReplaceAll(strings.Trim(key, "/"), "/", ".")
	if !strings.HasPrefix(norm, "net.") || strings.Contains(norm, "..") {
		return nil, fmt.Errorf("sysctl %q: only net.* keys belong to a network namespace", key)
	}
	kns, err := env.kern().Namespace(nsName)
	if err != nil {
		return nil, err
	}
	old, err := ops.ReadSysctl(kns, norm)
	if err != nil {
		if _, rootless := session.Rootless(); rootless && (nsName == session.Host || nsName == "") {
			// The stand-in for the machine is a namespace of its own, which
			// lacks the sysctls that only the machine's namespace has.
			return nil, fmt.Errorf("unknown sysctl %q in %s: nsh runs without root, and host is a namespace of yours, not the machine's; a sysctl of the machine's own namespace needs nsh run as root", norm, nsLabel(nsName))
		}
		return nil, fmt.Errorf("unknown sysctl %q in %s", norm, nsLabel(nsName))
	}
	if value == starlark.None {
		return starlark.String(old), nil
	}
	var v string
	switch x := value.(type) {
	case starlark.String:
		v = string(x)
	case starlark.Int:
		v = x.String()
	case starlark.Bool:
		v = "0"
		if x {
			v = "1"
		}
	default:
		return nil, fmt.Errorf("sysctl %s: got %s value, want string, int or bool", norm, value.Type())
	}
	if err := env.apply(&ops.SysctlSet{NS: nsName, Key: norm, Value: v, Old: old}); err != nil {
		return nil, err
	}
	return starlark.String(old), nil
}

// forwardKeys are the sysctls that turn forwarding on, by family:
// net.ipv4.ip_forward, and net.ipv6.conf.all.forwarding (which the
// kernel copies to every link's and to default's).
var forwardKeys = map[string]string{
	"ipv4": "net.ipv4.ip_forward",
	"ipv6": "net.ipv6.conf.all.forwarding",
}

// ip_forward(ns=host, on=True, family="ipv4")
func ipForward(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var ns starlark.Value = starlark.None
	on := true
	family := "ipv4"
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "ns?", &ns, "on?", &on, "family?", &family); err != nil {
		return nil, err
	}
	key, ok := forwardKeys[family]
	if !ok {
		return nil, fmt.Errorf("bad family %q: want \"ipv4\" or \"ipv6\"", family)
	}
	if ns == starlark.None {
		ns = starlark.String(kernel.HostName)
	}
	old, err := doSysctl(thread, ns, key, starlark.Bool(on))
	if err == nil && on {
		if env, eerr := envOf(thread); eerr == nil {
			if name, nerr := env.nsName(ns, "ns"); nerr == nil {
				fam := ""
				if family == "ipv6" {
					fam = ipt.IPv6
				}
				checkForwarding(thread, name, fam) // rules.go: warn if FORWARD drops
			}
		}
	}
	return old, err
}
