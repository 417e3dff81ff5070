package main

import (
	"bufio"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"time"
)

// The all-pairs ways: how long it takes to check that every namespace of
// a star reaches every other. The lab is the build ways' star, built by
// nsh; then
//
//   - pingall: the same nsh script ends with pingall() of the N namespaces
//     and prints what it found and took (its .ms: settling, sockets,
//     requests);
//   - ping loop: a bash script of `ip netns exec nsI ping -c1 -W1 ADDR` for
//     every ordered pair, one after the other, on the same lab (skipped
//     where there is no ping binary);
//   - mininet: Mininet's pingAll() on Mininet's own star (one Linux bridge,
//     N hosts, no controller), timed around pingAll alone (skipped where
//     Mininet is not installed).

// allPairsResult is one size's measures; a way that did not run has a
// reason in skip.
type allPairsResult struct {
	n                   int
	pingall             time.Duration
	sent, received      int
	loop                time.Duration
	loopOK              int
	loopSkip            string
	mininet             time.Duration
	mininetOK, mininetN int
	mininetSkip         string
}

// mininetPython is the interpreter that has Debian's mininet package.
const mininetPython = "/usr/bin/python3"

// mininetScript times pingAll alone on a single-switch star of N hosts
// with a Linux bridge and no controller, and prints "MININET seconds
// received sent".
const mininetScript = `
import re, sys, time
from mininet.net import Mininet
from mininet.topo import SingleSwitchTopo
from mininet.nodelib import LinuxBridge
from mininet.log import setLogLevel
setLogLevel("output")
n = int(sys.argv[1])
net = Mininet(topo=SingleSwitchTopo(n), switch=LinuxBridge, controller=None)
net.start()
try:
    t = time.time()
    loss = net.pingAll()
    dt = time.time() - t
finally:
    net.stop()
sent = n * (n - 1)
print("MININET %.3f %d %d" % (dt, round(sent * (100 - loss) / 100), sent))
`

// slowMax is the largest star on which the slow all-pairs ways run: the
// ping loop takes about 130 s at N = 50 and 700 s at N = 100.
var slowMax = flag.Int("slowmax", 50, "largest -allpairs size at which to run the ping loop and Mininet (they take minutes)")

// haveMininet says why Mininet cannot run here, or "" if it can.
func haveMininet() string {
	if _, err := exec.LookPath("mnexec"); err != nil {
		return "no mnexec (Mininet is not installed)"
	}
	if err := exec.Command(mininetPython, "-c", "import mininet.net, mininet.nodelib").Run(); err != nil {
		return "no mininet module for " + mininetPython
	}
	return ""
}

// allPairs measures the all-pairs ways on a star of n namespaces.
func (r *runner) allPairs(n int) (allPairsResult, error) {
	res := allPairsResult{n: n}
	l := r.labFor("nsh", n, 900)
	l.prefix = strings.Replace(l.prefix, "nb-", "na-", 1)
	names := make([]string, n)
	for i := range names {
		names[i] = strconv.Quote(l.ns(i + 1))
	}
	script := l.starScript() + fmt.Sprintf(`
nodes = [lookup(name) for name in [%s]]
r = pingall(nodes)
print("PINGALL", r.ms, r.sent, r.received)
if not r.ok:
    print(r.matrix)
`, strings.Join(names, ", "))
	path := filepath.Join(r.tmp, "allpairs-"+filepath.Base(l.prefix)+".star")
	if err := os.WriteFile(path, []byte(script), 0o644); err != nil {
		return res, err
	}
	sess := "benchpa" + r.id + strconv.Itoa(n)
	r.reg.addSession(sess)
	out, err := r.output(r.nsh, "run", path, "--sandbox", "--session", sess)
	if err != nil {
		return res, fmt.Errorf("pingall: %w", err)
	}
	defer r.cmd(r.nsh, "down", "--session", sess)
	if _, err := fmt.Sscanf(field(out, "PINGALL"), "%g %d %d", new(float64), &res.sent, &res.received); err != nil {
		return res, fmt.Errorf("pingall: no result line in:\n%s", out)
	}
	ms, _ := strconv.ParseFloat(strings.Fields(field(out, "PINGALL"))[0], 64)
	res.pingall = time.Duration(ms * float64(time.Millisecond))
	if res.received != res.sent {
		fmt.Fprintf(os.Stderr, "bench: pingall N=%d: %d of %d answered:\n%s\n", n, res.received, res.sent, out)
	}

	if _, err := exec.LookPath("ping"); err != nil {
		res.loopSkip = "skipped: no ping"
	} else if n > *slowMax {
		res.loopSkip = fmt.Sprintf("skipped: N > -slowmax %d", *slowMax)
	} else {
		var b strings.Builder
		b.WriteString("#!/bin/bash\nok=0\n")
		for i := 1; i <= n; i++ {
			for j := 1; j <= n; j++ {
				if i != j {
					a, _, _ := strings.Cut(addr(j), "/")
					fmt.Fprintf(&b, "ip netns exec %s ping -c1 -W1 %s >/dev/null 2>&1 && ok=$((ok+1))\n", l.ns(i), a)
				}
			}
		}
		b.WriteString("echo LOOP $ok\n")
		loop := filepath.Join(r.tmp, "loop-"+filepath.Base(l.prefix)+".sh")
		if err := os.WriteFile(loop, []byte(b.String()), 0o755); err != nil {
			return res, err
		}
		settle()
		start := time.Now()
		out, err := r.output("bash", loop)
		res.loop = time.Since(start)
		if err != nil {
			return res, fmt.Errorf("ping loop: %w", err)
		}
		res.loopOK, _ = strconv.Atoi(strings.TrimSpace(field(out, "LOOP")))
	}

	if why := haveMininet(); why != "" {
		res.mininetSkip = "skipped: " + why
	} else if n > *slowMax {
		res.mininetSkip = fmt.Sprintf("skipped: N > -slowmax %d", *slowMax)
	} else {
		settle()
		// Not mininet.py: Python puts the script's directory first on
		// sys.path, and the script would import itself as "mininet".
		py := filepath.Join(r.tmp, "pingall_mininet.py")
		if err := os.WriteFile(py, []byte(mininetScript), 0o644); err != nil {
			return res, err
		}
		out, err := r.output(mininetPython, py, strconv.Itoa(n))
		if err != nil {
			res.mininetSkip = "failed: " + err.Error()
		} else {
			var secs float64
			if _, err := fmt.Sscanf(field(out, "MININET"), "%g %d %d", &secs, &res.mininetOK, &res.mininetN); err != nil {
				res.mininetSkip = "failed: no result line in: " + out
			}
			res.mininet = time.Duration(secs * float64(time.Second))
		}
	}
	return res, nil
}

// output runs a command as cmd does and returns its output.
func (r *runner) output(name string, args ...string) (string, error) {
	c := exec.Command(name, args...)
	var out strings.Builder
	c.Stdout, c.Stderr = &out, &out
	start := time.Now()
	if err := c.Start(); err != nil {
		return "", err
	}
	r.reg.setChild(c.Process)
	err := c.Wait()
	r.reg.setChild(nil)
	if r.verbose {
		fmt.Fprintf(os.Stderr, "[%s %s] %.3fs %s", filepath.Base(name), strings.Join(args, " "), time.Since(start).Seconds(), out.String())
	}
	if err != nil {
		o := out.String()
		if len(o) > 2000 {
			o = o[len(o)-2000:]
		}
		return o, fmt.Errorf("%s: %v\n%s", filepath.Base(name), err, o)
	}
	return out.String(), nil
}

// field returns the rest of the first line of out that starts with key.
func field(out, key string) string {
	sc := bufio.NewScanner(strings.NewReader(out))
	sc.Buffer(make([]byte, 1<<20), 1<<20)
	for sc.Scan() {
		if rest, ok := strings.CutPrefix(sc.Text(), key+" "); ok {
			return rest
		}
	}
	return ""
}

// printAllPairs prints the all-pairs table and its targets, and reports
// whether they were met.
func printAllPairs(rs []allPairsResult) bool {
	if len(rs) == 0 {
		return true
	}
	fmt.Println("All pairs of a star (N namespaces on one bridge, N*(N-1) requests): seconds, answered/sent.")
	fmt.Printf("%6s %-24s %-28s %-28s\n", "N", "nsh pingall()", "ip netns exec ping loop", "Mininet pingAll")
	for _, r := range rs {
		loop := r.loopSkip
		if loop == "" {
			loop = fmt.Sprintf("%.3f (%d/%d)", r.loop.Seconds(), r.loopOK, r.sent)
		}
		mn := r.mininetSkip
		if mn == "" {
			mn = fmt.Sprintf("%.3f (%d/%d)", r.mininet.Seconds(), r.mininetOK, r.mininetN)
		}
		fmt.Printf("%6d %-24s %-28s %-28s\n", r.n, fmt.Sprintf("%.3f (%d/%d)", r.pingall.Seconds(), r.received, r.sent), loop, mn)
	}
	fmt.Println()
	ok := true
	line := func(pass bool, format string, a ...any) {
		verdict := "PASS"
		if !pass {
			verdict, ok = "FAIL", false
		}
		fmt.Printf("  %s  %s\n", verdict, fmt.Sprintf(format, a...))
	}
	fmt.Println("All-pairs targets:")
	for _, r := range rs {
		line(r.received == r.sent, "N=%d pingall answered every request: %d/%d", r.n, r.received, r.sent)
		if r.n == 100 {
			line(r.pingall < 2*time.Second, "N=100 pingall under 2 s: %.3fs", r.pingall.Seconds())
		}
		if r.n == 50 {
			if r.mininetSkip != "" {
				fmt.Printf("  SKIP  N=50 pingall at least 500x faster than Mininet's pingAll: Mininet %s\n", r.mininetSkip)
			} else {
				x := r.mininet.Seconds() / r.pingall.Seconds()
				line(x >= 500, "N=50 pingall at least 500x faster than Mininet's pingAll: %.0fx (%.3fs vs %.3fs)", x, r.pingall.Seconds(), r.mininet.Seconds())
			}
		}
		if r.loopSkip == "" {
			fmt.Printf("        (N=%d pingall against the ip netns exec ping loop: %.0fx faster)\n", r.n, r.loop.Seconds()/r.pingall.Seconds())
		}
	}
	fmt.Println()
	return ok
}
