// The probes' stress test: ping and connect with their default arguments
// (a timeout of 1 second) must succeed at once in a lab whose links have
// just come up, every time, on an idle machine and on a busy one. See
// docs/probes.md for why they used not to.
package tests

import (
	"regexp"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// stressLabs is the number of fresh labs of each kind, per load.
const stressLabs = 200

// stressPerRun is the number of labs one nsh run builds, one after the
// other, each a step undone before the next.
const stressPerRun = 50

// vethStress builds {N} labs of two namespaces joined by a veth pair, and
// probes right after the second end comes up: ping first in half the
// labs, connect first in the other half, each end up first in half.
const vethStress = `
N = {N}
failed = []
for i in range(N):
    step("lab%d" % i)
    a = netns("{TAG}a")
    b = netns("{TAG}b")
    e, n = veth("e", "n", ns = a, peer_ns = b)
    e.addr("10.10.0.10/24")
    n.addr("10.10.0.20/24")
    serve(b, "10.10.0.20:8080")
    if i % 2 == 0:
        e.up()
        n.up()
    else:
        n.up()
        e.up()
    for what in (["ping", "connect"] if i % 4 < 2 else ["connect", "ping"]):
        if what == "ping":
            r = ping(a, "10.10.0.20")
            if not r.ok:
                failed.append("lab %d: ping 10.10.0.20: %d of %d answered" % (i, r.received, r.sent))
        else:
            c = connect(a, "10.10.0.20:8080")
            if not c.ok or not c.reply.startswith("10.10.0.10:"):
                failed.append("lab %d: connect 10.10.0.20:8080: ok=%s reply=%r error=%r" % (i, c.ok, c.reply, c.error))
    undo()
for f in failed:
    print("FAIL " + f)
print("stress: %d probes failed in %d labs" % (len(failed), N))
`

// natStress builds {N} labs of a namespace behind a new bridge in host
// (the sandbox), which forwards and masquerades to an "internet"
// namespace on 203.0.113.0/24, and probes right after the last link
// comes up: ping the bridge's address, connect to a server in the
// internet, in both orders, with the links up in two orders.
const natStress = `
ip_forward(host)
masquerade("10.10.0.0/24", out = "{TAG}u")
N = {N}
failed = []
for i in range(N):
    step("lab%d" % i)
    internet = netns("{TAG}i")
    lan = netns("{TAG}l")
    up, wan = veth("{TAG}u", "eth0", peer_ns = internet)
    up.addr("203.0.113.1/24")
    wan.addr("203.0.113.254/24")
    serve(internet, "203.0.113.254:80")
    br = bridge("{TAG}b")
    br.addr("10.10.0.1/24")
    h, eth = veth("{TAG}h", "eth0", peer_ns = lan)
    h.master(br)
    eth.addr("10.10.0.10/24")
    if i % 2 == 0:
        wan.up()
        up.up()
        br.up()
        h.up()
        eth.up()
    else:
        eth.up()
        h.up()
        br.up()
        up.up()
        wan.up()
    lan.route("default", via = "10.10.0.1")
    for what in (["ping", "connect"] if i % 4 < 2 else ["connect", "ping"]):
        if what == "ping":
            r = ping(lan, "10.10.0.1")
            if not r.ok:
                failed.append("lab %d: ping 10.10.0.1: %d of %d answered" % (i, r.received, r.sent))
        else:
            c = connect(lan, "203.0.113.254:80")
            if not c.ok or not c.reply.startswith("203.0.113.1:"):
                failed.append("lab %d: connect 203.0.113.254:80: ok=%s reply=%r error=%r" % (i, c.ok, c.reply, c.error))
    undo()
for f in failed:
    print("FAIL " + f)
print("stress: %d probes failed in %d labs" % (len(failed), N))
`

var stressRE = regexp.MustCompile(`(?m)^stress: (\d+) probes failed in (\d+) labs$`)

// TestProbeStress runs stressLabs fresh labs of each kind with the machine
// idle and again with both CPUs kept busy, and allows no failed probe.
func TestProbeStress(t *testing.T) {
	requireRoot(t)
	for _, kind := range []struct{ name, src string }{{"veth", vethStress}, {"nat", natStress}} {
		for _, busy := range []bool{false, true} {
			load := "idle"
			if busy {
				load = "busy"
			}
			t.Run(kind.name+"-"+load, func(t *testing.T) {
				if busy {
					defer keepBusy(2, 5*time.Minute)()
				}
				failed, labs := 0, 0
				for run := 0; labs < stressLabs; run++ {
					n := min(stressPerRun, stressLabs-labs)
					f, l := stressRun(t, kind.src, n)
					failed += f
					labs += l
				}
				t.Logf("%s, machine %s: %d of %d probes failed in %d fresh labs", kind.name, load, failed, 2*labs, labs)
				if failed > 0 {
					t.Errorf("%d of %d probes failed in %d fresh %s labs (machine %s)", failed, 2*labs, labs, kind.name, load)
				}
			})
		}
	}
}

// stressRun runs one nsh script of n labs under --sandbox and returns the
// number of failed probes and of labs built, as the script reports them.
func stressRun(t *testing.T, src string, n int) (failed, labs int) {
	t.Helper()
	session := uniq("pst")
	downAtEnd(t, session)
	tag := uniq("ps")
	src = strings.NewReplacer("{N}", strconv.Itoa(n), "{TAG}", tag).Replace(src)
	p := writeLab(t, "stress", src)
	r := nsh(t, "run", "--sandbox", "--rm", "--session", session, p)
	for _, l := range strings.Split(r.stdout, "\n") {
		if strings.HasPrefix(l, "FAIL ") {
			t.Log(l)
		}
	}
	m := stressRE.FindStringSubmatch(r.stdout)
	if r.code != 0 || m == nil {
		t.Fatalf("stress run of %d labs: %s", n, r)
	}
	failed, _ = strconv.Atoi(m[1])
	labs, _ = strconv.Atoi(m[2])
	if labs != n {
		t.Fatalf("stress run built %d labs, want %d", labs, n)
	}
	return failed, labs
}

// keepBusy keeps n CPUs busy with spinning goroutines until the returned
// function is called or max passes, whichever comes first.
func keepBusy(n int, max time.Duration) func() {
	done := make(chan struct{})
	var once sync.Once
	end := func() { once.Do(func() { close(done) }) }
	timer := time.AfterFunc(max, end)
	var wg sync.WaitGroup
	for range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			x := 0
			for {
				for range 1 << 16 {
					x = x*31 + 7
				}
				select {
				case <-done:
					busySink.Store(int64(x))
					return
				default:
				}
			}
		}()
	}
	return func() {
		timer.Stop()
		end()
		wg.Wait()
	}
}

// busySink keeps the busy loops' work from being optimised away.
var busySink atomic.Int64
