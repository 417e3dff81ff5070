package tests

import (
	"bufio"
	"bytes"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"syscall"
	"testing"
	"time"
)

// system is what a container could leave behind besides the network:
// processes, mounts, namespaces and nsh's cgroups.
type system struct {
	procs  []string // "PID COMM" of every process that has not exited
	mounts []string // mount points and types of the test's mount namespace
	nss    []string // "KIND:[INODE]" of every namespace some process is in
	cgs    []string // directories under nsh's cgroup
}

// systemSnapshot takes a system.
func systemSnapshot(t *testing.T) system {
	t.Helper()
	var s system
	ents, _ := os.ReadDir("/proc")
	seen := map[string]bool{}
	selfPID, _ := os.Readlink("/proc/self/ns/pid")
	selfNet, _ := os.Readlink("/proc/self/ns/net")
	for _, e := range ents {
		pid, err := strconv.Atoi(e.Name())
		if err != nil || !procAlive(pid) || pid == os.Getpid() {
			continue
		}
		// A process a lab could leave is nsh's, or runs in another PID
		// or network namespace than the test: the machine's own
		// processes (kernel threads, a shell) come and go meanwhile.
		dir := filepath.Join("/proc", e.Name())
		pidNS, _ := os.Readlink(filepath.Join(dir, "ns", "pid"))
		netNS, _ := os.Readlink(filepath.Join(dir, "ns", "net"))
		exe, _ := os.Readlink(filepath.Join(dir, "exe"))
		if pidNS == selfPID && netNS == selfNet && strings.TrimSuffix(exe, " (deleted)") != nshBin {
			continue
		}
		comm, _ := os.ReadFile(filepath.Join(dir, "comm"))
		s.procs = append(s.procs, e.Name()+" "+strings.TrimSpace(string(comm)))
		for _, kind := range []string{"pid", "uts", "ipc", "mnt", "net", "user", "cgroup"} {
			if l, err := os.Readlink(filepath.Join("/proc", e.Name(), "ns", kind)); err == nil && !seen[l] {
				seen[l] = true
				s.nss = append(s.nss, l)
			}
		}
	}
	f, err := os.Open("/proc/self/mountinfo")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		fields := strings.Fields(sc.Text())
		// /run/netns is made a shared mount by the first namespace nsh
		// (or ip netns) adds, once, as iproute2 does.
		if i := slices.Index(fields, "-"); i > 0 && len(fields) > 4 && i+1 < len(fields) && fields[4] != "/run/netns" {
			s.mounts = append(s.mounts, fields[4]+" "+fields[i+1])
		}
	}
	if root := cgroup2Root(); root != "" {
		filepath.WalkDir(filepath.Join(root, "nsh"), func(path string, d os.DirEntry, err error) error {
			if err == nil && d.IsDir() {
				s.cgs = append(s.cgs, path)
			}
			return nil
		})
	}
	for _, l := range [][]string{s.procs, s.mounts, s.nss, s.cgs} {
		slices.Sort(l)
	}
	return s
}

// cgroup2Root is where cgroup v2 is mounted, or "".
func cgroup2Root() string {
	b, _ := os.ReadFile("/proc/self/mountinfo")
	for _, line := range strings.Split(string(b), "\n") {
		f := strings.Fields(line)
		if i := slices.Index(f, "-"); i > 0 && i+1 < len(f) && f[i+1] == "cgroup2" {
			return f[4]
		}
	}
	return ""
}

// assertSystem fails the test if the system holds processes, mounts,
// namespaces or cgroups that it did not hold before. The processes of
// the test itself (its nsh commands) are gone by then.
func assertSystem(t *testing.T, before system) {
	t.Helper()
	var after system
	// The kernel frees a namespace a moment after its last process.
	waitFor(5*time.Second, func() bool {
		after = systemSnapshot(t)
		return len(extra(before.procs, after.procs))+len(extra(before.nss, after.nss)) == 0
	})
	for _, c := range []struct {
		what          string
		before, after []string
	}{
		{"processes", before.procs, after.procs},
		{"mounts", before.mounts, after.mounts},
		{"namespaces", before.nss, after.nss},
		{"cgroups", before.cgs, after.cgs},
	} {
		if x := extra(c.before, c.after); len(x) > 0 {
			t.Errorf("left behind: %s: %v", c.what, x)
		}
	}
}

func extra(before, after []string) []string {
	var x []string
	for _, a := range after {
		if !slices.Contains(before, a) {
			x = append(x, a)
		}
	}
	return x
}

// containerLab makes a container and reports what it sees, for the Go
// side to compare with the host.
const containerLab = `
c = container("{C}", hostname = "In Namespace")
print("PID", c.pid)
print("HOSTNAME", exec_in(c, "hostname", check = True).stdout.strip())
print("PS", exec_in(c, ["ps", "-e", "-o", "pid=,comm="], check = True).stdout.replace("\n", ";"))
for kind in ("pid", "uts", "ipc", "mnt", "net"):
    print("NS", kind, exec_in(c, "readlink /proc/self/ns/" + kind, check = True).stdout.strip())
exec_in(c, "mount -t tmpfs nsh-test {DIR} && echo secret > {DIR}/inside", check = True)
print("INSIDE", exec_in(c, "cat {DIR}/inside", check = True).stdout.strip())
print("SANDBOXNET", exec_in(host, "readlink /proc/self/ns/net", check = True).stdout.strip())
`

// lines returns the values of the lines of out that begin with key.
func lines(out, key string) []string {
	var v []string
	for _, l := range strings.Split(out, "\n") {
		if rest, ok := strings.CutPrefix(l, key+" "); ok {
			v = append(v, rest)
		}
	}
	return v
}

// TestContainer checks what a container isolates: its hostname, its
// processes (ps lists only them, PID 1 is nsh's init), its namespaces, a
// mount made inside; and that down leaves nothing of it.
func TestContainer(t *testing.T) {
	requireRoot(t)
	before, sys := snapshot(t), systemSnapshot(t)
	session, c := uniq("t"), uniq("c")
	dir := t.TempDir()
	r := mustNsh(t, "run", writeLab(t, "container", lab(containerLab, map[string]string{"C": c, "DIR": dir})), "--sandbox", "--session", session)
	t.Cleanup(func() { nsh(t, "down", "--session", session) })
	out := r.stdout

	if h := lines(out, "HOSTNAME"); len(h) != 1 || h[0] != "In Namespace" {
		t.Errorf("hostname inside: %q", h)
	}
	ps := strings.Split(strings.Trim(lines(out, "PS")[0], ";"), ";")
	if strings.Join(strings.Fields(ps[0]), " ") != "1 nsh-init" {
		t.Errorf("PID 1 inside is %q, want nsh's init:\n%s", ps[0], strings.Join(ps, "\n"))
	}
	// init, the process nsh runs ps under, and ps: nothing of the host.
	if len(ps) > 3 {
		t.Errorf("ps inside lists %d processes, want its own only:\n%s", len(ps), strings.Join(ps, "\n"))
	}
	sandboxNet := lines(out, "SANDBOXNET")[0]
	for _, l := range lines(out, "NS") {
		kind, inside, _ := strings.Cut(l, " ")
		outside, _ := os.Readlink("/proc/self/ns/" + kind)
		if inside == outside || inside == sandboxNet || !strings.HasPrefix(inside, kind+":[") {
			t.Errorf("%s namespace inside is %s; outside %s (the sandbox's net %s)", kind, inside, outside, sandboxNet)
		}
	}
	if v := lines(out, "INSIDE"); len(v) != 1 || v[0] != "secret" {
		t.Errorf("file in the tmpfs mounted inside, read inside: %q", v)
	}
	if _, err := os.Stat(filepath.Join(dir, "inside")); err == nil {
		t.Errorf("the file mounted inside is visible outside")
	}

	// nsh exec enters it as exec_in does.
	r = mustNsh(t, "exec", c, "--", "sh", "-c", "hostname; echo $$")
	if f := strings.Fields(r.stdout); len(f) != 3 || f[0] != "In" || f[2] == "" {
		t.Errorf("nsh exec %s: %q", c, r.stdout)
	}

	pid := pidFrom(t, out, "PID")
	mustNsh(t, "down", "--session", session)
	if !waitGone(pid) {
		t.Errorf("the container's init %d survived down", pid)
	}
	assertClean(t, before)
	assertSystem(t, sys)
}

// crashContainerLab builds containers step by step, with processes in
// them, then waits, so that nsh can be killed at any point.
const crashContainerLab = `
for i in range(3):
    step("s%d" % i)
    c = container("{N}c%d" % i, hostname = "c%d" % i)
    a, b = veth("{N}a%d" % i, "{N}b%d" % i, peer_ns = c)
    a.addr("10.71.%d.1/24" % i).up()
    b.addr("10.71.%d.2/24" % i).up()
    spawn(c, "sleep 600")
    exec_in(c, "mount -t tmpfs x /mnt")
step("wait")
print("READY")
spawn(c, ["sleep", "601"]).wait()
`

// TestContainerSIGKILL kills nsh with SIGKILL while it builds containers
// (after a growing number of operations) and once they are built, and
// checks that nsh down from another process leaves no process, mount,
// namespace or cgroup behind.
func TestContainerSIGKILL(t *testing.T) {
	requireRoot(t)
	for _, after := range []int{2, 3, 5, 8, 11, -1} {
		name := fmt.Sprintf("after_%d_ops", after)
		if after < 0 {
			name = "idle_at_end"
		}
		t.Run(name, func(t *testing.T) {
			before, sys := snapshot(t), systemSnapshot(t)
			session, n := uniq("t"), uniq("k")
			script := writeLab(t, "crash", lab(crashContainerLab, map[string]string{"N": n}))
			cmd, out := startNsh(t, "run", script, "--sandbox", "--session", session)
			if after > 0 {
				if !waitFor(30*time.Second, func() bool { return journalOps(session) >= after }) {
					t.Fatalf("the journal never reached %d operations:\n%s", after, out)
				}
			} else if !waitFor(30*time.Second, func() bool { return strings.Contains(out.String(), "READY") }) {
				t.Fatalf("the lab never got to its end:\n%s", out)
			}
			cmd.Process.Signal(syscall.SIGKILL)
			cmd.Wait()
			if r := nsh(t, "down", "--session", session); r.code != 0 {
				t.Fatalf("down after SIGKILL at %d operations: %s", journalOps(session), r)
			}
			assertClean(t, before)
			assertSystem(t, sys)
		})
	}
}

// TestContainerBadInput checks the errors of container() for bad input:
// each names the problem and the script position, and changes nothing.
func TestContainerBadInput(t *testing.T) {
	requireRoot(t)
	notDir := filepath.Join(t.TempDir(), "file")
	os.WriteFile(notDir, []byte("x"), 0o644)
	noSh := t.TempDir()
	os.MkdirAll(filepath.Join(noSh, "bin"), 0o755)
	cases := []badCase{
		{"hostname too long", `container("{N}c", hostname = "` + strings.Repeat("h", 65) + `")`,
			[]string{"container:", "is 65 bytes", "at most 64"}},
		{"hostname without uts", `container("{N}c", hostname = "x", uts = False)`, []string{"container:", "needs uts=True"}},
		{"rootfs not a directory", `container("{N}c", rootfs = "` + notDir + `")`, []string{"container:", "bad rootfs", "not a directory"}},
		{"rootfs missing", `container("{N}c", rootfs = "` + notDir + `-no")`, []string{"container:", "bad rootfs", "no such file or directory"}},
		{"rootfs without /bin/sh", `container("{N}c", rootfs = "` + noSh + `")`, []string{"container:", "bad rootfs", "has no /bin/sh"}},
		{"rootfs without mount", `container("{N}c", rootfs = "` + noSh + `", mount = False)`, []string{"container:", "needs mount=True"}},
		{"name taken", `container("{N}pre")`, []string{"container:", `namespace "{N}pre" already exists`}},
		{"bad memory", `container("{N}c", memory = "lots")`, []string{"container:", "for parameter memory"}},
		{"bad pids", `container("{N}c", pids = 0)`, []string{"container:", "for parameter pids"}},
		{"exec in a stopped container", `c = container("{N}c")
undo()
exec_in(c, "true")`, []string{"exec_in:", `container "{N}c"`, "not running"}},
	}
	if err := cgroupHolds("memory"); err != nil {
		cases = append(cases, badCase{"memory without cgroup v2", `container("{N}c", memory = "64M")`,
			[]string{"container:", "cgroup v2 cannot hold the limits"}})
	}
	runBadCases(t, cases)
}

// cgroupHolds returns nil if the machine's cgroup v2 can limit with
// controller, and why not otherwise.
func cgroupHolds(controller string) error {
	root := cgroup2Root()
	if root == "" {
		return fmt.Errorf("no cgroup2")
	}
	for _, f := range []string{"cgroup.controllers", "cgroup.subtree_control"} {
		b, err := os.ReadFile(filepath.Join(root, f))
		if err != nil || !slices.Contains(strings.Fields(string(b)), controller) {
			return fmt.Errorf("%s lacks %s", f, controller)
		}
	}
	return nil
}

// TestContainerLimits gives a container cgroup v2 limits where the
// machine can hold them, and checks them inside and their removal; where
// it cannot, that the error says so and nothing is made.
func TestContainerLimits(t *testing.T) {
	requireRoot(t)
	before, sys := snapshot(t), systemSnapshot(t)
	session, c := uniq("t"), uniq("c")
	src := fmt.Sprintf(`c = container(%q, memory = "64M", pids = 50)
print("CG", c.cgroup)
print("MEM", exec_in(c, "cat /proc/self/cgroup", check = True).stdout.strip())
`, c)
	r := nsh(t, "run", writeLab(t, "limits", src), "--sandbox", "--session", session)
	t.Cleanup(func() { nsh(t, "down", "--session", session) })
	if err := cgroupHolds("memory"); err != nil {
		// This machine: the error, and nothing made.
		if r.code == 0 || !strings.Contains(r.stderr, "limits.star:1:") || !strings.Contains(r.stderr, "cgroup v2 cannot hold the limits") {
			t.Fatalf("limits where cgroup v2 cannot hold them (%v): %s", err, r)
		}
	} else {
		if r.code != 0 {
			t.Fatalf("run: %s", r)
		}
		cg := lines(r.stdout, "CG")[0]
		b, err := os.ReadFile(filepath.Join(cg, "memory.max"))
		if err != nil || strings.TrimSpace(string(b)) != strconv.Itoa(64<<20) {
			t.Errorf("memory.max of %s: %q, %v", cg, b, err)
		}
		if in := lines(r.stdout, "MEM")[0]; !strings.HasSuffix(cg, strings.TrimPrefix(in, "0::")) {
			t.Errorf("a command in the container is in cgroup %q, want %s", in, cg)
		}
		mustNsh(t, "down", "--session", session)
		if _, err := os.Stat(cg); err == nil {
			t.Errorf("cgroup %s survived down", cg)
		}
	}
	mustNsh(t, "down", "--session", session)
	assertClean(t, before)
	assertSystem(t, sys)
}

// minimalRootfs makes a root file system of the machine's own /bin/sh, ls
// and cat, with the libraries ldd names, as a busybox tree would be.
func minimalRootfs(t *testing.T) string {
	t.Helper()
	root := t.TempDir()
	for _, bin := range []string{"/bin/sh", "/bin/ls", "/bin/cat"} {
		files := []string{bin}
		out, err := exec.Command("ldd", bin).Output()
		if err != nil {
			t.Fatalf("ldd %s: %v", bin, err)
		}
		for _, f := range strings.Fields(string(out)) {
			if strings.HasPrefix(f, "/") {
				files = append(files, f)
			}
		}
		for _, f := range files {
			real, err := filepath.EvalSymlinks(f)
			if err != nil {
				t.Fatal(err)
			}
			b, err := os.ReadFile(real)
			if err != nil {
				t.Fatal(err)
			}
			dst := filepath.Join(root, f)
			os.MkdirAll(filepath.Dir(dst), 0o755)
			if err := os.WriteFile(dst, b, 0o755); err != nil {
				t.Fatal(err)
			}
		}
	}
	return root
}

// TestContainerRootfs pivots a container into a minimal root and checks
// that its commands see that root, with /proc of its own.
func TestContainerRootfs(t *testing.T) {
	requireRoot(t)
	before, sys := snapshot(t), systemSnapshot(t)
	root := minimalRootfs(t)
	os.WriteFile(filepath.Join(root, "marker"), []byte("in the rootfs\n"), 0o644)
	session, c := uniq("t"), uniq("c")
	src := fmt.Sprintf(`c = container(%q, rootfs = %q)
print("ROOT", exec_in(c, "cd / && echo *", check = True).stdout.strip())
print("MARK", exec_in(c, "cat /marker", check = True).stdout.strip())
print("INIT", exec_in(c, "cat /proc/1/comm", check = True).stdout.strip())
`, c, root)
	r := mustNsh(t, "run", writeLab(t, "rootfs", src), "--sandbox", "--session", session)
	t.Cleanup(func() { nsh(t, "down", "--session", session) })
	if m := lines(r.stdout, "MARK"); len(m) != 1 || m[0] != "in the rootfs" {
		t.Errorf("/marker inside: %q\n%s", m, r)
	}
	if got := lines(r.stdout, "ROOT"); len(got) != 1 || strings.Contains(got[0], "home") || !strings.Contains(got[0], "marker") {
		t.Errorf("/ inside lists %q, want the rootfs", got)
	}
	if got := lines(r.stdout, "INIT"); len(got) != 1 || got[0] != "nsh-init" {
		t.Errorf("/proc/1/comm inside: %q", got)
	}
	mustNsh(t, "down", "--session", session)
	assertClean(t, before)
	assertSystem(t, sys)
}

// TestContainerUser gives a container a user namespace, which maps root
// inside to the invoking user outside.
func TestContainerUser(t *testing.T) {
	requireRoot(t)
	before, sys := snapshot(t), systemSnapshot(t)
	session, c := uniq("t"), uniq("c")
	src := fmt.Sprintf(`c = container(%q, user = True)
print("PID", c.pid)
print("UIDMAP", exec_in(c, "cat /proc/self/uid_map", check = True).stdout.strip())
print("ID", exec_in(c, "id -u; id -g", check = True).stdout.replace("\n", " ").strip())
print("USERNS", exec_in(c, "readlink /proc/self/ns/user", check = True).stdout.strip())
p = spawn(c, "sleep 600")
print("SPAWNED", p.pid)
`, c)
	r := mustNsh(t, "run", writeLab(t, "user", src), "--sandbox", "--session", session)
	t.Cleanup(func() { nsh(t, "down", "--session", session) })
	pid := pidFrom(t, r.stdout, "PID")
	inner, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", pid))
	outer, _ := os.Readlink("/proc/self/ns/user")
	machineMap, _ := os.ReadFile("/proc/self/uid_map")

	// exec_in, spawn and nsh exec enter its user namespace too, as
	// nsenter --all does: the command sees the container's mapping, is
	// root there, and its user namespace is the container's.
	if m := lines(r.stdout, "UIDMAP"); len(m) != 1 || strings.Join(strings.Fields(m[0]), " ") != "0 "+strconv.Itoa(os.Getuid())+" 1" {
		t.Errorf("uid_map seen by exec_in: %q, want the container's; the machine's is %q", m, strings.TrimSpace(string(machineMap)))
	}
	if id := lines(r.stdout, "ID"); len(id) != 1 || id[0] != "0 0" {
		t.Errorf("id -u; id -g inside: %q, want 0 0", id)
	}
	if u := lines(r.stdout, "USERNS"); len(u) != 1 || u[0] != inner || u[0] == outer {
		t.Errorf("user namespace of exec_in's command %q, want the container's %q (the machine's is %q)", u, inner, outer)
	}
	spawned := pidFrom(t, r.stdout, "SPAWNED")
	if u, _ := os.Readlink(fmt.Sprintf("/proc/%d/ns/user", spawned)); u != inner {
		t.Errorf("user namespace of the spawned process %d: %q, want the container's %q", spawned, u, inner)
	}
	r = mustNsh(t, "exec", c, "--", "sh", "-c", "readlink /proc/self/ns/user; id -u")
	if f := strings.Fields(r.stdout); len(f) != 2 || f[0] != inner || f[1] != "0" {
		t.Errorf("nsh exec %s: %q, want its user namespace %s and uid 0", c, r.stdout, inner)
	}
	uidMap, _ := os.ReadFile(fmt.Sprintf("/proc/%d/uid_map", pid))
	if f := strings.Fields(string(uidMap)); len(f) != 3 || f[0] != "0" || f[1] != strconv.Itoa(os.Getuid()) || f[2] != "1" {
		t.Errorf("uid_map of the container's init: %q, want root inside as uid %d outside", uidMap, os.Getuid())
	}
	if inner == "" || inner == outer {
		t.Errorf("user namespace of the init %q, of the test %q", inner, outer)
	}
	// Its /sys is the sysfs of its network namespace, which nsh made for it.
	r = mustNsh(t, "exec", c, "--", "ls", "/sys/class/net")
	if strings.Fields(r.stdout)[0] != "lo" || len(strings.Fields(r.stdout)) != 1 {
		t.Errorf("/sys/class/net in the container: %q", r.stdout)
	}
	mustNsh(t, "down", "--session", session)
	assertClean(t, before)
	assertSystem(t, sys)
}

// TestContainerScripts runs the container labs of scripts/ under
// --sandbox --rm, and checks that they pass their own checks and leave
// the system as it was.
func TestContainerScripts(t *testing.T) {
	requireRoot(t)
	dir := filepath.Join(repoRoot, "scripts")
	for _, name := range []string{"seed000-6-clone.star", "seed001-3-containers.star", "seed003-1-pid.star"} {
		t.Run(strings.TrimSuffix(name, ".star"), func(t *testing.T) {
			src, err := os.ReadFile(filepath.Join(dir, name))
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Contains(src, []byte("container(")) {
				t.Fatalf("%s makes no container", name)
			}
			before, sys := snapshot(t), systemSnapshot(t)
			r := nshIn(t, dir, "run", name, "--sandbox", "--rm", "--session", uniq("t"))
			if r.code != 0 || strings.Contains(r.stdout, "fail") {
				t.Fatalf("%s: %s", name, r)
			}
			if !strings.Contains(r.stdout, "ok: ") {
				t.Errorf("%s printed no check:\n%s", name, r)
			}
			assertClean(t, before)
			assertSystem(t, sys)
		})
	}
}

// TestContainerREPL attaches a REPL to a session whose container an
// earlier run made: lookup() gives the container back, and commands enter
// all its namespaces.
func TestContainerREPL(t *testing.T) {
	requireRoot(t)
	session, c := uniq("t"), uniq("c")
	downAtEnd(t, session)
	mustNsh(t, "run", writeLab(t, "replc", fmt.Sprintf(`container(%q, hostname = "from-run")`, c)), "--sandbox", "--session", session)
	r := nshInput(t, fmt.Sprintf("c = lookup(%q)\nprint(type(c), c.exec(\"hostname\").stdout.strip())\n", c), "repl", "--session", session)
	if !strings.Contains(r.stdout, "container from-run") {
		t.Errorf("repl: %s", r)
	}
}
