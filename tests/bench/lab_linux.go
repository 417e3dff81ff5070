package main

import (
	"fmt"
	"strings"
)

// lab names one star lab: a hub namespace holding bridge br0
// (10.0.0.1/16), and n namespaces prefix+i, each with lo up and a veth
// v<i> (inside, 10.0.x.y/16, default route via 10.0.0.1) whose peer
// h<i> sits in the hub, attached to br0 and up.
type lab struct {
	n      int
	prefix string // namespace i is prefix + i
	hub    string // the hub namespace (for nsh: the sandbox, known after the build)
}

const (
	bridgeName = "br0"
	bridgeCIDR = "10.0.0.1/16"
	gateway    = "10.0.0.1"
)

func (l *lab) ns(i int) string  { return fmt.Sprintf("%s%d", l.prefix, i) }
func inner(i int) string        { return fmt.Sprintf("v%d", i) }
func hubEnd(i int) string       { return fmt.Sprintf("h%d", i) }
func isHubEnd(name string) bool { return strings.HasPrefix(name, "h") && name != "" }
func (l *lab) names() []string {
	out := make([]string, 0, l.n)
	for i := 1; i <= l.n; i++ {
		out = append(out, l.ns(i))
	}
	return out
}

// addr is namespace i's address: 10.0.0.1 is the bridge, so i=1 gets
// 10.0.0.2 and i=1000 gets 10.0.3.233, all in 10.0.0.0/16.
func addr(i int) string {
	j := i + 1
	return fmt.Sprintf("10.0.%d.%d/16", j>>8, j&255)
}

// starScript is the nsh way: run with --sandbox, so host is the hub.
func (l *lab) starScript() string {
	return fmt.Sprintf(`# nsh bench: a star lab of %[1]d namespaces around one bridge in host.
N = %[1]d
br = bridge(%[2]q)
br.addr(%[3]q)
br.up()
for i in range(1, N + 1):
    n = netns(%[4]q + str(i))
    v, h = veth("v%%d" %% i, "h%%d" %% i, ns=n, peer_ns=host)
    h.master(br)
    h.up()
    j = i + 1
    v.addr("10.0.%%d.%%d/16" %% (j // 256, j %% 256))
    v.up()
    route(n, "default", via=%[5]q)
`, l.n, bridgeName, bridgeCIDR, l.prefix, gateway)
}

// hubScript starts an ip script: the hub with lo up and its bridge, the
// same in both ip ways.
func (l *lab) hubScript(b *strings.Builder) {
	b.WriteString("#!/bin/bash\nset -e\n")
	fmt.Fprintf(b, "ip netns add %s\n", l.hub)
	fmt.Fprintf(b, "ip -n %s link set lo up\n", l.hub)
	fmt.Fprintf(b, "ip -n %s link add %s type bridge\n", l.hub, bridgeName)
	fmt.Fprintf(b, "ip -n %s addr add %s dev %s\n", l.hub, bridgeCIDR, bridgeName)
	fmt.Fprintf(b, "ip -n %s link set %s up\n", l.hub, bridgeName)
}

// ipBuild is the ip way's build script, in the idiom of the tutorials
// nsh is built from (../shared/seeds, e.g. seed 002's bridge lab): the
// veth is made beside the bridge and its end moved into the namespace,
// and every command inside a namespace goes through `ip netns exec`. The
// tutorials' host is the hub here, so that the machine's own namespace is
// never touched: their plain `ip link ...` is `ip -n HUB link ...`, one
// process as well.
func (l *lab) ipBuild() string {
	var b strings.Builder
	l.hubScript(&b)
	for i := 1; i <= l.n; i++ {
		ns := l.ns(i)
		fmt.Fprintf(&b, "ip netns add %s\n", ns)
		fmt.Fprintf(&b, "ip -n %s link add %s type veth peer name %s\n", l.hub, inner(i), hubEnd(i))
		fmt.Fprintf(&b, "ip -n %s link set %s netns %s\n", l.hub, inner(i), ns)
		fmt.Fprintf(&b, "ip netns exec %s ip addr add %s dev %s\n", ns, addr(i), inner(i))
		fmt.Fprintf(&b, "ip -n %s link set %s master %s\n", l.hub, hubEnd(i), bridgeName)
		fmt.Fprintf(&b, "ip -n %s link set %s up\n", l.hub, hubEnd(i))
		fmt.Fprintf(&b, "ip netns exec %s ip link set dev lo up\n", ns)
		fmt.Fprintf(&b, "ip netns exec %s ip link set dev %s up\n", ns, inner(i))
		fmt.Fprintf(&b, "ip netns exec %s ip route add default via %s\n", ns, gateway)
	}
	return b.String()
}

// ipnBuild is the fastest script of ip commands: one ip process per change
// (8 per namespace), each with -n instead of `ip netns exec`, and the veth
// made with its ends in place.
func (l *lab) ipnBuild() string {
	var b strings.Builder
	l.hubScript(&b)
	for i := 1; i <= l.n; i++ {
		ns := l.ns(i)
		fmt.Fprintf(&b, "ip netns add %s\n", ns)
		fmt.Fprintf(&b, "ip -n %s link set lo up\n", ns)
		fmt.Fprintf(&b, "ip -n %s link add %s type veth peer name %s netns %s\n", ns, inner(i), hubEnd(i), l.hub)
		fmt.Fprintf(&b, "ip -n %s link set %s master %s\n", l.hub, hubEnd(i), bridgeName)
		fmt.Fprintf(&b, "ip -n %s link set %s up\n", l.hub, hubEnd(i))
		fmt.Fprintf(&b, "ip -n %s addr add %s dev %s\n", ns, addr(i), inner(i))
		fmt.Fprintf(&b, "ip -n %s link set %s up\n", ns, inner(i))
		fmt.Fprintf(&b, "ip -n %s route add default via %s\n", ns, gateway)
	}
	return b.String()
}

// ipTeardown deletes the namespaces, the hub last.
func (l *lab) ipTeardown() string {
	var b strings.Builder
	b.WriteString("#!/bin/bash\nset -e\n")
	for i := 1; i <= l.n; i++ {
		fmt.Fprintf(&b, "ip netns del %s\n", l.ns(i))
	}
	fmt.Fprintf(&b, "ip netns del %s\n", l.hub)
	return b.String()
}
