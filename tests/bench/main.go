//go:build linux

// Command bench measures how fast nsh builds and tears down a star lab
// (N namespaces, each with lo up, a veth to one bridge in a hub namespace,
// an address and a default route via the bridge), against the same lab
// built by a bash script of ip commands (ip: as the tutorials write it,
// with `ip netns exec`; ipn: every command with -n) and by a minimal Go
// program of direct netlink calls (the floor), and profiles nsh's build
// and teardown.
//
//	sudo go run ./tests/bench [-n 50,200,1000] [-ways nsh,ip,ipn,floor] [-count 1]
//	                          [-nsh PATH] [-profile-n 1000] [-cpuprofile F]
//	                          [-allpairs 50,100] [-slowmax 50] [-ipv6cost 1000] [-exec 200]
//
// Then it checks all pairs of a star (allpairs_linux.go): nsh's pingall()
// against a loop of `ip netns exec … ping -c1` and Mininet's pingAll,
// each where it is installed (and only up to -slowmax namespaces: they
// take minutes); and it times running `true` in a namespace
// (exec_linux.go): exec_in against `ip netns exec` and nsenter.
//
// Everything happens in namespaces the bench creates, and the bench itself
// runs in a private network namespace, so the machine's own links, routes
// and firewall are never touched. Teardown is timed twice: until the
// command returns, and until the lab is really gone (every hub-side veth
// end destroyed by the kernel, which destroys namespaces asynchronously).
// docs/performance.md has the method and the figures.
//
// It is a tool, not a layer: it may import any nsh package
// (docs/architecture.md).
package main

import (
	"crypto/rand"
	"encoding/hex"
	"flag"
	"fmt"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"runtime"
	"runtime/pprof"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"
)

const innerEnv = "NSHBENCH_INNER"

// ipv6Sizes are the sizes of -ipv6cost.
var ipv6Sizes []int

// execK is the number of calls of -exec.
var execK int

func main() {
	ns := flag.String("n", "50,200,1000", "lab sizes, comma-separated (empty: no build ways)")
	ipv6 := flag.String("ipv6cost", "", "star sizes at which to measure what a finished lab costs with and without IPv6, comma-separated (empty: none)")
	flag.IntVar(&execK, "exec", 200, "calls of `true` in a namespace for the exec ways (nsh exec_in, ip netns exec, nsenter; exec_linux.go); 0: none")
	allPairs := flag.String("allpairs", "50,100", "star sizes for the all-pairs ways (pingall, ping loop, Mininet), comma-separated (empty: none)")
	ways := flag.String("ways", "nsh,ip,ipn,floor", "ways to build the lab, comma-separated: nsh, ip (the tutorials' ip netns exec), ipn (ip -n), floor")
	count := flag.Int("count", 1, "runs of each way at each size; the median is reported")
	nshPath := flag.String("nsh", "", "nsh binary to measure (default: go build ./cmd/nsh into a temp dir)")
	profN := flag.Int("profile-n", -1, "lab size for the in-process nsh profile (default: the largest -n; 0: no profile)")
	profHz := flag.Int("profile-hz", 1000, "CPU profile sampling rate for the in-process nsh profile")
	profDir := flag.String("profile-dir", "", "where to write the nsh build/teardown profiles (default: a temp dir, kept)")
	cpuprofile := flag.String("cpuprofile", "", "write a CPU profile of the whole bench process (floor included) to this file")
	timeout := flag.Duration("timeout", 5*time.Minute, "how long to wait for a lab to be gone")
	verbose := flag.Bool("v", false, "show the output of nsh and the ip scripts")
	flag.Parse()

	if os.Geteuid() != 0 {
		fatal("must run as root (sudo go run ./tests/bench): it creates network namespaces")
	}
	if os.Getenv(innerEnv) == "" {
		os.Exit(reexecInPrivateNetns())
	}
	sizes, err := parseSizes(*ns)
	if err != nil {
		fatal(err.Error())
	}
	pairSizes, err := parseSizes(*allPairs)
	if err != nil {
		fatal(err.Error())
	}
	if ipv6Sizes, err = parseSizes(*ipv6); err != nil {
		fatal(err.Error())
	}
	wayList := strings.Split(*ways, ",")
	for _, w := range wayList {
		if _, ok := wayTags[w]; !ok {
			fatal("unknown way " + w)
		}
	}
	if !inMachineMountNS() {
		fatal("run the bench in the machine's own mount namespace (not under ip netns exec or unshare -m): namespace pins made elsewhere are invisible")
	}

	tmp, err := os.MkdirTemp("", "nshbench-")
	if err != nil {
		fatal(err.Error())
	}
	id := randomID()
	reg := &registry{id: id}
	reg.addDir(tmp)
	r := &runner{id: id, tmp: tmp, timeout: *timeout, reg: reg, verbose: *verbose}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	go func() {
		sig := <-sigs
		fmt.Fprintf(os.Stderr, "\nbench: %v: cleaning up\n", sig)
		reg.cleanup()
		os.Exit(130)
	}()
	code := 0
	func() {
		defer func() {
			if p := recover(); p != nil {
				fmt.Fprintf(os.Stderr, "bench: panic: %v\n", p)
				code = 2
			}
			reg.cleanup()
			if left := leftovers(reg); left != "" {
				fmt.Fprintln(os.Stderr, "bench: LEFT BEHIND:", left)
				code = 2
			}
		}()
		code = bench(r, sizes, pairSizes, wayList, *count, *nshPath, *profN, *profHz, *profDir, *cpuprofile)
	}()
	os.Exit(code)
}

func bench(r *runner, sizes, pairSizes []int, wayList []string, count int, nshPath string, profN, profHz int, profDir, cpuprofile string) int {
	if nshPath == "" {
		bin := filepath.Join(r.tmp, "nsh")
		fmt.Fprintln(os.Stderr, "bench: go build -o", bin, "./cmd/nsh")
		c := exec.Command("go", "build", "-o", bin, "./cmd/nsh")
		c.Dir = repoRoot()
		c.Stdout, c.Stderr = os.Stderr, os.Stderr
		if err := c.Run(); err != nil {
			fmt.Fprintln(os.Stderr, "bench: failed to build nsh:", err)
			return 1
		}
		nshPath = bin
	}
	r.nsh, r.reg.nsh = nshPath, nshPath
	if cpuprofile != "" {
		f, err := os.Create(cpuprofile)
		if err == nil {
			pprof.StartCPUProfile(f)
			defer func() { pprof.StopCPUProfile(); f.Close() }()
		}
	}
	printMachine()
	fmt.Printf("run id %s; nsh %s; %d run(s) per cell, median shown\n\n", r.id, nshPath, count)

	results := map[string]result{} // way/n: the median
	runs := map[string][]result{}  // way/n: every run, in rep order
	failed := false
	for _, n := range sizes {
		// The ways take turns, in an order that rotates with each run, so
		// that none always runs right after the same other: the kernel's
		// state after a lab (its namespaces are destroyed asynchronously)
		// is spread over all three alike.
		rs := map[string][]result{}
		broken := map[string]bool{}
		for rep := 0; rep < count; rep++ {
			for i := range wayList {
				way := wayList[(i+rep)%len(wayList)]
				if broken[way] {
					continue
				}
				settle()
				res := r.run(way, n, rep)
				if res.err != nil {
					fmt.Fprintf(os.Stderr, "bench: %s N=%d: %v\n", way, n, res.err)
					failed = true
					broken[way] = true
					r.reg.cleanupLabs()
					continue
				}
				fmt.Fprintf(os.Stderr, "bench: N=%-5d %-5s build %8.3fs  teardown %8.3fs returned %8.3fs gone  rss %s\n",
					n, way, res.build.Seconds(), res.returned.Seconds(), res.gone.Seconds(), rss(res))
				rs[way] = append(rs[way], res)
			}
		}
		for way, list := range rs {
			runs[key(way, n)] = list
			results[key(way, n)] = median(append([]result(nil), list...))
		}
	}
	if len(sizes) > 0 {
		printTable(results, sizes, wayList)
	}
	var pairs []allPairsResult
	for _, n := range pairSizes {
		settle()
		res, err := r.allPairs(n)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: all pairs N=%d: %v\n", n, err)
			failed = true
			r.reg.cleanupLabs()
			continue
		}
		fmt.Fprintf(os.Stderr, "bench: all pairs N=%-4d pingall %.3fs (%d/%d)  ping loop %s  mininet %s\n", n,
			res.pingall.Seconds(), res.received, res.sent, orSkip(res.loopSkip, res.loop), orSkip(res.mininetSkip, res.mininet))
		pairs = append(pairs, res)
	}
	pairsOK := printAllPairs(pairs)
	var ex *execResult
	if execK > 0 {
		res, err := r.execCalls(execK)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: exec: %v\n", err)
			failed = true
			r.reg.cleanupLabs()
		} else {
			ex = &res
		}
	}
	execOK := printExec(ex)
	var costs []ipv6CostResult
	for _, n := range ipv6Sizes {
		res, err := r.ipv6Cost(n)
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: IPv6 cost N=%d: %v\n", n, err)
			failed = true
			r.reg.cleanupLabs()
			continue
		}
		costs = append(costs, res)
	}
	printIPv6Cost(costs)
	var pr *profileResult
	if profN < 0 && len(sizes) > 0 {
		profN = sizes[len(sizes)-1]
	}
	if profN > 0 {
		if profDir == "" {
			d, err := os.MkdirTemp("", "nshbench-profiles-")
			if err != nil {
				fmt.Fprintln(os.Stderr, err)
				return 1
			}
			profDir = d
		}
		r.profDir = profDir
		settle()
		fmt.Fprintf(os.Stderr, "bench: profiling nsh in process at N=%d\n", profN)
		var err error
		pr, err = r.profileNsh(profN, profHz)
		if err != nil {
			fmt.Fprintln(os.Stderr, "bench: profile:", err)
			failed = true
		} else {
			printProfile(pr)
		}
	}
	if !printTargets(results, runs, pr) || !pairsOK || !execOK || failed {
		return 1
	}
	return 0
}

// settle lets the kernel finish destroying earlier namespaces (the hub
// the watcher held) before the next measurement.
// settle waits until the machine is quiet before a run: the kernel
// destroys the namespaces of the previous lab on its own workqueue, for
// up to seconds after they are gone from /run/netns, and a run made
// meanwhile would pay for it. Quiet is less than 10 % of the CPUs busy
// over 100 ms; settle gives up waiting after 20 s.
func settle() {
	runtime.GC()
	time.Sleep(100 * time.Millisecond)
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		if cpuBusy(100*time.Millisecond) < 0.10 {
			return
		}
	}
}

// cpuBusy returns the share of all CPUs' time that was not idle over d,
// from /proc/stat (0 if it cannot be read).
func cpuBusy(d time.Duration) float64 {
	read := func() (busy, total uint64) {
		b, err := os.ReadFile("/proc/stat")
		if err != nil {
			return 0, 0
		}
		line, _, _ := strings.Cut(string(b), "\n")
		f := strings.Fields(line) // cpu user nice system idle iowait irq softirq steal ...
		for i, v := range f[1:] {
			n, _ := strconv.ParseUint(v, 10, 64)
			total += n
			if i != 3 && i != 4 { // idle, iowait
				busy += n
			}
		}
		return busy, total
	}
	b0, t0 := read()
	time.Sleep(d)
	b1, t1 := read()
	if t1 <= t0 {
		return 0
	}
	return float64(b1-b0) / float64(t1-t0)
}

func key(way string, n int) string { return fmt.Sprintf("%s/%d", way, n) }

func median(rs []result) result {
	sort.Slice(rs, func(i, j int) bool { return rs[i].build < rs[j].build })
	m := rs[len(rs)/2]
	// teardown medians are taken on their own
	ret := make([]time.Duration, len(rs))
	gone := make([]time.Duration, len(rs))
	for i, x := range rs {
		ret[i], gone[i] = x.returned, x.gone
	}
	sort.Slice(ret, func(i, j int) bool { return ret[i] < ret[j] })
	sort.Slice(gone, func(i, j int) bool { return gone[i] < gone[j] })
	m.returned, m.gone = ret[len(ret)/2], gone[len(gone)/2]
	return m
}

func rss(r result) string {
	if r.rssKB == 0 {
		return "-"
	}
	return fmt.Sprintf("%.1f MB", float64(r.rssKB)/1024)
}

func ratio(a, b time.Duration) string {
	if b == 0 || a == 0 {
		return "-"
	}
	return fmt.Sprintf("%.2fx", a.Seconds()/b.Seconds())
}

func printTable(res map[string]result, sizes []int, ways []string) {
	fmt.Println("Times in seconds, medians. teardown: until the command returned / until the lab was gone.")
	fmt.Println("Ratios: build, teardown(gone) against the floor, the ip script (ip netns exec, as the tutorials) and the ip -n script;")
	fmt.Println("build CPU = user+sys of the build process(es).")
	fmt.Printf("%6s %-6s %9s %9s %9s %9s %13s %13s %13s %9s\n", "N", "way", "build", "td.ret", "td.gone", "build.cpu", "vs floor", "vs ip", "vs ipn", "peak RSS")
	for _, n := range sizes {
		for _, w := range ways {
			r, ok := res[key(w, n)]
			if !ok {
				fmt.Printf("%6d %-6s %9s\n", n, w, "FAILED")
				continue
			}
			vs := func(other string) string {
				o, ok := res[key(other, n)]
				if !ok || other == w {
					return "-"
				}
				return ratio(r.build, o.build) + "," + ratio(r.gone, o.gone)
			}
			fmt.Printf("%6d %-6s %9.3f %9.3f %9.3f %9.3f %13s %13s %13s %9s\n", n, w,
				r.build.Seconds(), r.returned.Seconds(), r.gone.Seconds(), r.cpuBuild.Seconds(), vs("floor"), vs("ip"), vs("ipn"), rss(r))
		}
	}
	fmt.Println()
}

func printProfile(pr *profileResult) {
	fmt.Printf("In-process nsh profile at N=%d (same calls as nsh run --sandbox / nsh down):\n", pr.n)
	fmt.Printf("  build %.3fs, teardown (returned) %.3fs\n", pr.build.Seconds(), pr.down.Seconds())
	fmt.Printf("  journal, CPU profile: %.1f%% of build samples, %.1f%% of teardown samples under session.(*journal).append\n", pr.journalCPUBuild, pr.journalCPUDown)
	fmt.Printf("  journal, wall clock with no kernel work (%d records): build %.3fs (%.1f%% of the build), teardown %.3fs (%.1f%% of the teardown)\n",
		pr.records, pr.journalWallBuild.Seconds(), 100*pr.journalWallBuild.Seconds()/pr.build.Seconds(),
		pr.journalWallDown.Seconds(), 100*pr.journalWallDown.Seconds()/pr.down.Seconds())
	fmt.Printf("  the same journal records on tmpfs (/dev/shm): build %.3fs, teardown %.3fs\n", pr.shmWallBuild.Seconds(), pr.shmWallDown.Seconds())
	fmt.Printf("  profiles: %s %s\n\n", pr.buildProf, pr.downProf)
	fmt.Println("Build, top 25 by cumulative CPU:")
	fmt.Println(indent(top(pr.buildProf, 25)))
	fmt.Println("Teardown, top 25 by cumulative CPU:")
	fmt.Println(indent(top(pr.downProf, 25)))
	for _, p := range []struct{ what, file string }{{"Build", pr.buildProf}, {"Teardown", pr.downProf}} {
		sp, err := syscallProfile(p.file)
		if err != nil {
			fmt.Printf("%s, time blocked in system calls: %v\n", p.what, err)
			continue
		}
		fmt.Printf("%s, wall time blocked in system calls (execution trace), top 30 by cumulative:\n", p.what)
		fmt.Println(indent(top(sp, 30)))
	}
}

func indent(s string) string {
	return "    " + strings.ReplaceAll(strings.TrimRight(s, "\n"), "\n", "\n    ")
}

// paired returns the median, over the runs, of a's time over b's time in
// the same round (the ways take turns within a round), and the lowest and
// highest of those ratios. Pairing runs made within seconds of each other
// cancels the machine's drift over a bench, which is larger than the
// differences measured (docs/performance.md).
func paired(a, b []result, f func(result) time.Duration) (med, lo, hi float64) {
	var rs []float64
	for i := 0; i < len(a) && i < len(b); i++ {
		if f(b[i]) > 0 {
			rs = append(rs, f(a[i]).Seconds()/f(b[i]).Seconds())
		}
	}
	if len(rs) == 0 {
		return 0, 0, 0
	}
	sort.Float64s(rs)
	return rs[len(rs)/2], rs[0], rs[len(rs)-1]
}

func build(r result) time.Duration     { return r.build }
func gone(r result) time.Duration      { return r.gone }
func returned(r result) time.Duration  { return r.returned }
func buildGone(r result) time.Duration { return r.build + r.gone }

func printTargets(res map[string]result, runs map[string][]result, pr *profileResult) bool {
	fmt.Println("Targets (ratios: median over rounds of the ratio within a round; range in brackets):")
	ok := true
	line := func(pass bool, format string, a ...any) {
		verdict := "PASS"
		if !pass {
			verdict = "FAIL"
			ok = false
		}
		fmt.Printf("  %s  %s\n", verdict, fmt.Sprintf(format, a...))
	}
	for _, n := range []int{200, 1000} {
		ns, fl := runs[key("nsh", n)], runs[key("floor", n)]
		if len(ns) == 0 || len(fl) == 0 {
			continue
		}
		b, blo, bhi := paired(ns, fl, build)
		line(b <= 1.25, "N=%d nsh build within 1.25x of the floor: %.2fx [%.2f-%.2f] (medians %.3fs vs %.3fs)",
			n, b, blo, bhi, res[key("nsh", n)].build.Seconds(), res[key("floor", n)].build.Seconds())
		t, tlo, thi := paired(ns, fl, gone)
		line(t <= 1.25, "N=%d nsh teardown (until gone) within 1.25x of the floor: %.2fx [%.2f-%.2f] (medians %.3fs vs %.3fs)",
			n, t, tlo, thi, res[key("nsh", n)].gone.Seconds(), res[key("floor", n)].gone.Seconds())
		bg, bglo, bghi := paired(ns, fl, buildGone)
		if n == 1000 {
			line(bg <= 0.6, "N=%d nsh build + destruction (until gone) at most 0.6x the floor: %.2fx [%.2f-%.2f] (medians %.3fs vs %.3fs)",
				n, bg, bglo, bghi, (res[key("nsh", n)].build + res[key("nsh", n)].gone).Seconds(), (res[key("floor", n)].build + res[key("floor", n)].gone).Seconds())
		} else {
			fmt.Printf("        (N=%d build + destruction (until gone): %.2fx the floor [%.2f-%.2f])\n", n, bg, bglo, bghi)
		}
		r, _, _ := paired(ns, fl, returned)
		fmt.Printf("        (teardown until the command returned: %.2fx, medians %.3fs vs %.3fs)\n",
			r, res[key("nsh", n)].returned.Seconds(), res[key("floor", n)].returned.Seconds())
	}
	ns := runs[key("nsh", 200)]
	if ip := runs[key("ip", 200)]; len(ns) > 0 && len(ip) > 0 {
		x, xlo, xhi := paired(ip, ns, build)
		line(x >= 10, "N=200 nsh build at least 10x faster than the ip script (ip netns exec, as the tutorials): %.1fx [%.1f-%.1f] (medians %.3fs vs %.3fs)",
			x, xlo, xhi, res[key("nsh", 200)].build.Seconds(), res[key("ip", 200)].build.Seconds())
	}
	// For comparison: the floor against the same script, and both against
	// the fastest script of ip commands.
	against := func(way, script, what string) {
		a, b := runs[key(script, 200)], runs[key(way, 200)]
		if len(a) > 0 && len(b) > 0 {
			x, lo, hi := paired(a, b, build)
			fmt.Printf("        (N=200 %s build against %s: %.1fx faster [%.1f-%.1f])\n", way, what, x, lo, hi)
		}
	}
	against("floor", "ip", "the ip netns exec script")
	against("nsh", "ipn", "the ip -n script")
	against("floor", "ipn", "the ip -n script")
	if nr, okN := res[key("nsh", 1000)]; okN {
		line(nr.rssKB < 100*1024, "N=1000 nsh run peak RSS under 100 MB: %s", rss(nr))
	}
	if pr != nil {
		share := 100 * pr.journalWallBuild.Seconds() / pr.build.Seconds()
		line(share < 10 && pr.journalCPUBuild < 10, "N=%d journal share of build time under 10%%: %.1f%% wall (no-kernel replay), %.1f%% of CPU samples", pr.n, share, pr.journalCPUBuild)
	}
	return ok
}

func printMachine() {
	cpu := "?"
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if strings.HasPrefix(l, "model name") {
				cpu = strings.TrimSpace(strings.SplitN(l, ":", 2)[1])
				break
			}
		}
	}
	var u syscall.Utsname
	syscall.Uname(&u)
	rel := utsString(u.Release[:])
	var si syscall.Sysinfo_t
	syscall.Sysinfo(&si)
	fmt.Printf("machine: %d CPUs (%s), kernel %s, %.1f GB RAM, %s\n", runtime.NumCPU(), cpu, rel, float64(si.Totalram)*float64(si.Unit)/(1<<30), runtime.Version())
}

func utsString(b []int8) string {
	var s []byte
	for _, c := range b {
		if c == 0 {
			break
		}
		s = append(s, byte(c))
	}
	return string(s)
}

// orSkip shows a measured time, or why it was not measured.
func orSkip(skip string, d time.Duration) string {
	if skip != "" {
		return skip
	}
	return fmt.Sprintf("%.3fs", d.Seconds())
}

func parseSizes(s string) ([]int, error) {
	var out []int
	if strings.TrimSpace(s) == "" {
		return nil, nil
	}
	for _, f := range strings.Split(s, ",") {
		n, err := strconv.Atoi(strings.TrimSpace(f))
		if err != nil || n < 1 || n > 60000 {
			return nil, fmt.Errorf("bad lab size %q", f)
		}
		out = append(out, n)
	}
	return out, nil
}

func randomID() string {
	var b [2]byte
	rand.Read(b[:])
	return hex.EncodeToString(b[:])
}

// repoRoot finds the module root from the working directory.
func repoRoot() string {
	dir, _ := os.Getwd()
	for d := dir; d != "/"; d = filepath.Dir(d) {
		if _, err := os.Stat(filepath.Join(d, "go.mod")); err == nil {
			return d
		}
	}
	return dir
}

// reexecInPrivateNetns runs the bench again in a new network namespace of
// its own, so that nothing it does can reach the machine's links, routes
// or firewall even by mistake. Namespace pins still go to /run/netns: the
// mount namespace is the machine's.
func reexecInPrivateNetns() int {
	exe, err := os.Executable()
	if err != nil {
		fatal(err.Error())
	}
	c := exec.Command(exe, os.Args[1:]...)
	c.Env = append(os.Environ(), innerEnv+"=1")
	c.Stdin, c.Stdout, c.Stderr = os.Stdin, os.Stdout, os.Stderr
	c.SysProcAttr = &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWNET}
	sigs := make(chan os.Signal, 4)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	if err := c.Start(); err != nil {
		fatal(err.Error())
	}
	go func() {
		for sig := range sigs { // the child cleans up
			c.Process.Signal(sig)
		}
	}()
	if err := c.Wait(); err != nil {
		if ee, ok := err.(*exec.ExitError); ok {
			return ee.ExitCode()
		}
		fmt.Fprintln(os.Stderr, "bench:", err)
		return 1
	}
	return 0
}

// leftovers lists this run's namespaces and sessions still present.
func leftovers(reg *registry) string {
	var left []string
	ents, _ := os.ReadDir(netnsDir)
	for _, e := range ents {
		if reg.ours(e.Name()) {
			left = append(left, netnsDir+"/"+e.Name())
		}
	}
	for _, s := range reg.sessions {
		if _, err := os.Stat(filepath.Join("/run/nsh", s)); err == nil {
			left = append(left, "/run/nsh/"+s)
		}
	}
	return strings.Join(left, " ")
}

func fatal(msg string) {
	fmt.Fprintln(os.Stderr, "bench:", msg)
	os.Exit(1)
}
