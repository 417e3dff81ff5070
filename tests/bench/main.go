//go:build linux

// Command bench measures how fast nsh builds and tears down a star lab
// (N namespaces, each with lo up, a veth to one bridge in a hub namespace,
// an address and a default route via the bridge), against the same lab
// built by a bash script of ip commands and by a minimal Go program of
// direct netlink calls (the floor), and profiles nsh's build and teardown.
//
//	sudo go run ./tests/bench [-n 50,200,1000] [-ways nsh,ip,floor] [-count 1]
//	                          [-nsh PATH] [-profile-n 1000] [-cpuprofile F]
//
// Everything happens in namespaces the bench creates, and the bench itself
// runs in a private network namespace, so the machine's own links, routes
// and firewall are never touched. Teardown is timed twice: until the
// command returns, and until the lab is really gone (every hub-side veth
// end destroyed by the kernel, which destroys namespaces asynchronously).
// docs/performance.md has the method and the figures.
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

func main() {
	ns := flag.String("n", "50,200,1000", "lab sizes, comma-separated")
	ways := flag.String("ways", "nsh,ip,floor", "ways to build the lab, comma-separated: nsh, ip, floor")
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
	wayList := strings.Split(*ways, ",")
	for _, w := range wayList {
		if w != "nsh" && w != "ip" && w != "floor" {
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
		code = bench(r, sizes, wayList, *count, *nshPath, *profN, *profHz, *profDir, *cpuprofile)
	}()
	os.Exit(code)
}

func bench(r *runner, sizes []int, wayList []string, count int, nshPath string, profN, profHz int, profDir, cpuprofile string) int {
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

	results := map[string]result{} // way/n
	failed := false
	for _, n := range sizes {
		for _, way := range wayList {
			var rs []result
			for rep := 0; rep < count; rep++ {
				settle()
				res := r.run(way, n, rep)
				if res.err != nil {
					fmt.Fprintf(os.Stderr, "bench: %s N=%d: %v\n", way, n, res.err)
					failed = true
					r.reg.cleanupLabs()
					break
				}
				fmt.Fprintf(os.Stderr, "bench: N=%-5d %-5s build %8.3fs  teardown %8.3fs returned %8.3fs gone  rss %s\n",
					n, way, res.build.Seconds(), res.returned.Seconds(), res.gone.Seconds(), rss(res))
				rs = append(rs, res)
			}
			if len(rs) > 0 {
				results[key(way, n)] = median(rs)
			}
		}
	}
	printTable(results, sizes, wayList)
	var pr *profileResult
	if profN < 0 {
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
	if !printTargets(results, pr) || failed {
		return 1
	}
	return 0
}

// settle lets the kernel finish destroying earlier namespaces (the hub
// the watcher held) before the next measurement.
func settle() {
	runtime.GC()
	time.Sleep(300 * time.Millisecond)
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
	fmt.Println("Times in seconds. teardown: until the command returned / until the lab was gone.")
	fmt.Println("Ratios: build, teardown(gone) against the floor and against the ip script; build CPU = user+sys of the build process(es).")
	fmt.Printf("%6s %-6s %9s %9s %9s %9s %13s %13s %9s\n", "N", "way", "build", "td.ret", "td.gone", "build.cpu", "vs floor", "vs ip", "peak RSS")
	for _, n := range sizes {
		fl, hasF := res[key("floor", n)]
		ip, hasI := res[key("ip", n)]
		for _, w := range ways {
			r, ok := res[key(w, n)]
			if !ok {
				fmt.Printf("%6d %-6s %9s\n", n, w, "FAILED")
				continue
			}
			vf, vi := "-", "-"
			if hasF && w != "floor" {
				vf = ratio(r.build, fl.build) + "," + ratio(r.gone, fl.gone)
			}
			if hasI && w != "ip" {
				vi = ratio(r.build, ip.build) + "," + ratio(r.gone, ip.gone)
			}
			fmt.Printf("%6d %-6s %9.3f %9.3f %9.3f %9.3f %13s %13s %9s\n", n, w,
				r.build.Seconds(), r.returned.Seconds(), r.gone.Seconds(), r.cpuBuild.Seconds(), vf, vi, rss(r))
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

func printTargets(res map[string]result, pr *profileResult) bool {
	fmt.Println("Targets:")
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
		nr, okN := res[key("nsh", n)]
		fr, okF := res[key("floor", n)]
		if okN && okF {
			b := nr.build.Seconds() / fr.build.Seconds()
			line(b <= 1.25, "N=%d nsh build within 1.25x of the floor: %.2fx (%.3fs vs %.3fs)", n, b, nr.build.Seconds(), fr.build.Seconds())
			t := nr.gone.Seconds() / fr.gone.Seconds()
			line(t <= 1.25, "N=%d nsh teardown (until gone) within 1.25x of the floor: %.2fx (%.3fs vs %.3fs)", n, t, nr.gone.Seconds(), fr.gone.Seconds())
			t2 := nr.returned.Seconds() / fr.returned.Seconds()
			fmt.Printf("        (teardown until the command returned: %.2fx, %.3fs vs %.3fs)\n", t2, nr.returned.Seconds(), fr.returned.Seconds())
		}
	}
	if nr, okN := res[key("nsh", 200)]; okN {
		if ir, okI := res[key("ip", 200)]; okI {
			x := ir.build.Seconds() / nr.build.Seconds()
			line(x >= 10, "N=200 nsh build at least 10x faster than the ip script: %.1fx (%.3fs vs %.3fs)", x, nr.build.Seconds(), ir.build.Seconds())
			y := ir.gone.Seconds() / nr.gone.Seconds()
			fmt.Printf("        (teardown until gone: %.1fx faster, %.3fs vs %.3fs)\n", y, nr.gone.Seconds(), ir.gone.Seconds())
		}
	}
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

func parseSizes(s string) ([]int, error) {
	var out []int
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
