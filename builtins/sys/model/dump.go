package model

import (
	"fmt"
	"sort"
	"strings"
)

// Dump describes the state of every namespace, one line per fact, in a
// stable order: for tests that compare the model before and after.
// Namespaces are named by their /run/netns name ("" for the machine's
// own); link indexes and MAC addresses are left out.
func (k *Kernel) Dump() string {
	k.mu.Lock()
	defer k.mu.Unlock()
	var lines []string
	add := func(f string, a ...any) { lines = append(lines, fmt.Sprintf(f, a...)) }
	nss := []*netns{k.own}
	var names []string
	for name := range k.named {
		names = append(names, name)
	}
	sort.Strings(names)
	for _, name := range names {
		nss = append(nss, k.named[name])
	}
	for _, n := range nss {
		add("netns %q", n.name)
		for _, l := range n.sortedLinks() {
			s := fmt.Sprintf("  link %s %s up=%v mtu=%d", l.name, l.kind, l.up, l.mtu)
			if l.master != nil {
				s += " master=" + l.master.name
			}
			if l.peer != nil {
				s += fmt.Sprintf(" peer=%s@%q", l.peer.name, l.peer.ns.name)
			}
			add("%s", s)
			for _, a := range l.addrs {
				add("    addr %s", a)
			}
		}
		for _, r := range n.routes {
			s := "  route " + r.dst.String()
			if r.gw != nil {
				s += " via " + r.gw.String()
			}
			add("%s dev %s metric %d", s, r.dev.name, r.priority)
		}
		var keys []string
		for key, v := range n.sysctl {
			keys = append(keys, key+"="+v)
		}
		for _, l := range n.sortedLinks() {
			for ck, v := range l.conf {
				fam, key, _ := strings.Cut(ck, "/")
				keys = append(keys, "net/"+fam+"/conf/"+l.name+"/"+key+"="+v)
			}
		}
		sort.Strings(keys)
		for _, kv := range keys {
			add("  sysctl %s", kv)
		}
		var tables []string
		for t := range n.ipt {
			tables = append(tables, t)
		}
		sort.Strings(tables)
		for _, t := range tables {
			add("  table %s", t)
			var chains []string
			for c := range n.ipt[t].chains {
				chains = append(chains, c)
			}
			sort.Strings(chains)
			for _, c := range chains {
				for _, r := range n.ipt[t].chains[c] {
					add("    -A %s %s", c, strings.Join(r, " "))
				}
			}
		}
	}
	return strings.Join(lines, "\n") + "\n"
}
