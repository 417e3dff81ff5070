package model

import (
	"os"
	"sort"
	"strconv"
	"strings"
	"syscall"

	"github.com/nshlab/nsh/builtins/sys/kernel"
)

// nsSysctls are the sysctls of a new namespace that are not per device,
// with the kernel's defaults, by slashed key under /proc/sys.
var nsSysctls = map[string]string{
	"net/ipv4/ip_default_ttl":                "64",
	"net/ipv4/ip_local_port_range":           "32768\t60999",
	"net/ipv4/ping_group_range":              "1\t0",
	"net/ipv4/ip_nonlocal_bind":              "0",
	"net/ipv4/icmp_echo_ignore_all":          "0",
	"net/ipv4/icmp_echo_ignore_broadcasts":   "1",
	"net/ipv4/tcp_syncookies":                "1",
	"net/ipv4/tcp_ecn":                       "2",
	"net/ipv6/ip_nonlocal_bind":              "0",
	"net/core/somaxconn":                     "4096",
	"net/ipv4/conf/all/accept_redirects":     "1",
	"net/ipv4/conf/default/accept_redirects": "1",
}

// confSysctls are the per-device sysctls (net/ipv4/conf/DEV/KEY and
// net/ipv6/conf/DEV/KEY) with the kernel's defaults, which all, default
// and every link have. A new link copies default's.
var confSysctls = map[string]string{
	"ipv4/forwarding":     "0",
	"ipv4/rp_filter":      "0",
	"ipv4/proxy_arp":      "0",
	"ipv4/accept_local":   "0",
	"ipv4/route_localnet": "0",
	"ipv4/send_redirects": "1",
	"ipv4/arp_ignore":     "0",
	"ipv4/arp_announce":   "0",
	"ipv4/log_martians":   "0",
	"ipv6/forwarding":     "0",
	"ipv6/disable_ipv6":   "0",
	"ipv6/accept_ra":      "1",
	"ipv6/autoconf":       "1",
	"ipv6/accept_dad":     "1",
}

// Keys returns the sysctls a new namespace of the model has, dotted and
// sorted (per-device ones for all and default): those whose defaults a
// machine may change (Options.Sysctls).
func Keys() []string {
	var out []string
	for k := range nsSysctls {
		out = append(out, k)
	}
	for k := range confSysctls {
		fam, key, _ := strings.Cut(k, "/")
		for _, dev := range []string{"all", "default"} {
			out = append(out, "net/"+fam+"/conf/"+dev+"/"+key)
		}
	}
	for i, k := range out {
		out[i] = strings.ReplaceAll(k, "/", ".")
	}
	sort.Strings(out)
	return out
}

// slashed returns a key as its path under /proc/sys.
func slashed(key string) string { return strings.TrimPrefix(kernel.SysctlPath(key), "/proc/sys/") }

// initSysctls gives a new namespace its sysctls.
func (n *netns) initSysctls() {
	n.sysctl = map[string]string{}
	for k, v := range nsSysctls {
		n.sysctl[k] = v
	}
	for k, v := range confSysctls {
		fam, key, _ := strings.Cut(k, "/")
		n.sysctl["net/"+fam+"/conf/all/"+key] = v
		n.sysctl["net/"+fam+"/conf/default/"+key] = v
	}
	for k, v := range n.k.opts.Sysctls {
		if v == "" {
			delete(n.sysctl, slashed(k))
		} else {
			n.sysctl[slashed(k)] = strings.Join(strings.Fields(v), "\t")
		}
	}
}

// deviceConf returns the per-device sysctls of a new link: default's.
func (n *netns) deviceConf() map[string]string {
	c := map[string]string{}
	for k := range confSysctls {
		fam, key, _ := strings.Cut(k, "/")
		c[k] = n.sysctl["net/"+fam+"/conf/default/"+key]
	}
	return c
}

// conf returns a per-device sysctl of l ("ipv6/disable_ipv6").
func (n *netns) conf(l *link, key string) string { return l.conf[key] }

// resolve finds where a slashed key lives: the namespace's table (key),
// or a link's conf (l and its conf key). ok is false for an unknown key.
func (n *netns) resolve(key string) (nsKey string, l *link, confKey string, ok bool) {
	if key == "net/ipv4/ip_forward" {
		key = "net/ipv4/conf/all/forwarding"
	}
	if _, ok := n.sysctl[key]; ok {
		return key, nil, "", true
	}
	f := strings.Split(key, "/")
	if len(f) == 5 && f[0] == "net" && (f[1] == "ipv4" || f[1] == "ipv6") && f[2] == "conf" {
		if m := n.byName(f[3]); m != nil {
			ck := f[1] + "/" + f[4]
			if _, ok := m.conf[ck]; ok {
				return "", m, ck, true
			}
		}
	}
	return "", nil, "", false
}

// isDir reports whether key names a directory of /proc/sys.
func (n *netns) isDir(key string) bool {
	for k := range n.sysctl {
		if strings.HasPrefix(k, key+"/") {
			return true
		}
	}
	for _, l := range n.links {
		for _, fam := range []string{"net/ipv4/conf/", "net/ipv6/conf/"} {
			if d := fam + l.name; d == key || strings.HasPrefix(d, key+"/") {
				return true
			}
		}
	}
	return key == "net"
}

// ReadSysctl implements kernel.Namespace; an unknown key fails as opening
// its file does.
func (v *view) ReadSysctl(key string) (string, error) {
	v.k.mu.Lock()
	defer v.k.mu.Unlock()
	n, err := v.live()
	if err != nil {
		return "", err
	}
	path := kernel.SysctlPath(key)
	sk := slashed(key)
	nk, l, ck, ok := n.resolve(sk)
	switch {
	case ok && l != nil:
		return l.conf[ck], nil
	case ok:
		return n.sysctl[nk], nil
	case n.isDir(sk):
		return "", &os.PathError{Op: "read", Path: path, Err: syscall.EISDIR}
	}
	return "", &os.PathError{Op: "open", Path: path, Err: syscall.ENOENT}
}

// WriteSysctl implements kernel.Namespace. Values are integers, as many
// as the key has; forwarding of all (and ip_forward) is also that of
// default and of every link, as in the kernel.
func (v *view) WriteSysctl(key, value string) error {
	v.k.mu.Lock()
	defer v.k.mu.Unlock()
	n, err := v.live()
	if err != nil {
		return err
	}
	path := kernel.SysctlPath(key)
	sk := slashed(key)
	nk, l, ck, ok := n.resolve(sk)
	if !ok {
		if n.isDir(sk) {
			return &os.PathError{Op: "open", Path: path, Err: syscall.EISDIR}
		}
		return &os.PathError{Op: "open", Path: path, Err: syscall.ENOENT}
	}
	old := n.sysctl[nk]
	if l != nil {
		old = l.conf[ck]
	}
	f := strings.Fields(value)
	if len(f) != len(strings.Fields(old)) {
		return &os.PathError{Op: "write", Path: path, Err: syscall.EINVAL}
	}
	for i, x := range f {
		v, err := strconv.Atoi(x)
		if err != nil {
			return &os.PathError{Op: "write", Path: path, Err: syscall.EINVAL}
		}
		f[i] = strconv.Itoa(v)
	}
	nv := strings.Join(f, "\t")
	if l != nil {
		l.conf[ck] = nv
		return nil
	}
	n.sysctl[nk] = nv
	for _, fam := range []string{"ipv4", "ipv6"} {
		if nk == "net/"+fam+"/conf/all/forwarding" {
			n.sysctl["net/"+fam+"/conf/default/forwarding"] = nv
			for _, m := range n.links {
				m.conf[fam+"/forwarding"] = nv
			}
			if fam == "ipv4" {
				n.sysctl["net/ipv4/conf/all/accept_redirects"] = map[bool]string{true: "1", false: "0"}[nv == "0"]
			}
		}
	}
	return nil
}
