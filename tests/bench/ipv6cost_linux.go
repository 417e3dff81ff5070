package main

import (
	"fmt"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// What a finished lab costs: after nsh has built a star, every new IPv6
// link of it still sends duplicate address detection, multicast listener
// reports and router solicitations for seconds, and the bridge floods
// each to every port. ipv6Cost builds the star with nsh twice, nodes with
// IPv6 (the default) and with netns(ipv6=False), and measures the CPU
// time the kernel spends in softirq (/proc/stat, all CPUs) in the
// seconds after nsh returns, against the same window with no lab.

// ipv6CostWindow is how long after the build the softirq time is taken:
// router solicitations go out 4 s apart, three times, after a delay of up
// to 1 s, and multicast listener reports are repeated.
const ipv6CostWindow = 15 * time.Second

type ipv6CostResult struct {
	n                 int
	build             [2]time.Duration // [0] with IPv6, [1] without
	softirq, busy     [2]time.Duration // in the window after the build
	baseSoft, baseAll time.Duration    // in a window with no lab
}

// cpuTimes returns the softirq time and the busy time (all but idle and
// iowait) of all CPUs so far, from /proc/stat.
func cpuTimes() (softirq, busy time.Duration) {
	b, err := os.ReadFile("/proc/stat")
	if err != nil {
		return 0, 0
	}
	line, _, _ := strings.Cut(string(b), "\n")
	f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
	tick := time.Second / 100 // USER_HZ
	for i, v := range f[1:] {
		n, _ := strconv.ParseInt(v, 10, 64)
		if i != 3 && i != 4 {
			busy += time.Duration(n) * tick
		}
		if i == 6 {
			softirq = time.Duration(n) * tick
		}
	}
	return softirq, busy
}

// window returns the softirq and busy time of the next d.
func window(d time.Duration) (softirq, busy time.Duration) {
	s0, b0 := cpuTimes()
	time.Sleep(d)
	s1, b1 := cpuTimes()
	return s1 - s0, b1 - b0
}

func (r *runner) ipv6Cost(n int) (ipv6CostResult, error) {
	res := ipv6CostResult{n: n}
	settle()
	res.baseSoft, res.baseAll = window(ipv6CostWindow)
	for k, six := range []bool{true, false} {
		settle()
		l := r.labFor("nsh", n, 950+k)
		l.prefix = strings.Replace(l.prefix, "nb-", "n6-", 1)
		script := l.starScript()
		if !six {
			script = strings.Replace(script, "n = netns(", "n = netns(ipv6 = False, name = ", 1)
		}
		path := filepath.Join(r.tmp, "ipv6cost-"+filepath.Base(l.prefix)+".star")
		if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
			return res, err
		}
		sess := fmt.Sprintf("bench6%s%d%d", r.id, n, k)
		r.reg.addSession(sess)
		d, _, err := r.cmd(r.nsh, "run", path, "--sandbox", "--session", sess)
		res.build[k] = d
		if err != nil {
			return res, err
		}
		res.softirq[k], res.busy[k] = window(ipv6CostWindow)
		if _, _, err := r.cmd(r.nsh, "down", "--session", sess); err != nil {
			return res, err
		}
	}
	return res, nil
}

func printIPv6Cost(rs []ipv6CostResult) {
	if len(rs) == 0 {
		return
	}
	fmt.Printf("What a finished star costs: CPU seconds (all CPUs) in the %v after nsh run returned; no lab: the same window before.\n", ipv6CostWindow)
	fmt.Printf("%6s %-22s %9s %12s %12s\n", "N", "nodes", "build", "softirq", "busy")
	for _, r := range rs {
		fmt.Printf("%6d %-22s %9s %12.2f %12.2f\n", r.n, "no lab", "-", r.baseSoft.Seconds(), r.baseAll.Seconds())
		for k, what := range []string{"with IPv6 (default)", "netns(ipv6=False)"} {
			fmt.Printf("%6d %-22s %9.3f %12.2f %12.2f\n", r.n, what, r.build[k].Seconds(), r.softirq[k].Seconds(), r.busy[k].Seconds())
		}
	}
	fmt.Println()
}
