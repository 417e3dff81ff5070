package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"time"
)

// The exec ways: what it costs to run a command in a namespace, in ms per
// call over K calls of `true` in one namespace, each way timed inside its
// own loop so that no process start-up is counted but the calls':
//
//   - nsh: a script run by `nsh run` creates the namespace, then times K
//     exec_in(n, ["true"]) with the time module, the first call (which
//     starts the namespace's warm helper) included;
//   - ip: a bash loop of `ip netns exec NS true`, timed with date +%s%N;
//   - nsenter: a bash loop of `nsenter --net=/run/netns/NS true`.
//
// The ways alternate, rounds times, and each way's median round is shown.

// execRounds is how many times each exec way runs.
const execRounds = 3

// execResult holds the ms per call of each exec way, by way, one per round.
type execResult struct {
	k      int
	rounds map[string][]float64
}

// execWays are the exec ways, in the order they run in each round.
var execWays = []string{"nsh", "ip", "nsenter"}

// execStar is the nsh way's script: NAME, K.
const execStar = `
n = netns(%q)
t0 = time.now()
for i in range(%d):
    exec_in(n, ["true"], check=True)
print("EXEC_NS", (time.now() - t0).nanoseconds)
`

// execBash is the loop of the ip and nsenter ways: K, the command.
const execBash = `
s=$(date +%%s%%N)
for i in $(seq %d); do %s true || exit 1; done
e=$(date +%%s%%N)
echo EXEC_NS $((e - s))
`

// execCalls measures the exec ways with k calls each.
func (r *runner) execCalls(k int) (execResult, error) {
	res := execResult{k: k, rounds: map[string][]float64{}}
	ns := "nb-" + r.id + "-exec"
	if _, err := r.output("ip", "netns", "add", ns); err != nil {
		return res, err
	}
	defer r.output("ip", "netns", "delete", ns)
	for round := 0; round < execRounds; round++ {
		for _, way := range execWays {
			settle()
			var out string
			var err error
			switch way {
			case "nsh":
				sess := fmt.Sprintf("benchx%s%d", r.id, round)
				r.reg.addSession(sess)
				script := filepath.Join(r.tmp, fmt.Sprintf("exec-%d.star", round))
				src := fmt.Sprintf(execStar, fmt.Sprintf("nb-%s-x%d", r.id, round), k)
				if err = os.WriteFile(script, []byte(src), 0o644); err != nil {
					return res, err
				}
				out, err = r.output(r.nsh, "run", script, "--sandbox", "--session", sess)
				if _, derr := r.output(r.nsh, "down", "--session", sess); err == nil {
					err = derr
				}
			case "ip":
				out, err = r.output("bash", "-c", fmt.Sprintf(execBash, k, "ip netns exec "+ns))
			case "nsenter":
				if _, lerr := exec.LookPath("nsenter"); lerr != nil {
					continue
				}
				out, err = r.output("bash", "-c", fmt.Sprintf(execBash, k, "nsenter --net="+filepath.Join(netnsDir, ns)))
			}
			if err != nil {
				return res, fmt.Errorf("exec way %s: %w", way, err)
			}
			ms, err := execMs(out, k)
			if err != nil {
				return res, fmt.Errorf("exec way %s: %w", way, err)
			}
			fmt.Fprintf(os.Stderr, "bench: exec K=%d round %d %-7s %.3f ms/call\n", k, round, way, ms)
			res.rounds[way] = append(res.rounds[way], ms)
		}
	}
	return res, nil
}

// execMs reads "EXEC_NS total" from a way's output: ms per call.
func execMs(out string, k int) (float64, error) {
	for _, line := range strings.Split(out, "\n") {
		if s, ok := strings.CutPrefix(strings.TrimSpace(line), "EXEC_NS "); ok {
			ns, err := strconv.ParseInt(s, 10, 64)
			if err != nil {
				return 0, err
			}
			return float64(time.Duration(ns)) / float64(time.Millisecond) / float64(k), nil
		}
	}
	return 0, fmt.Errorf("no EXEC_NS line in %q", out)
}

// medianOf returns the median of xs.
func medianOf(xs []float64) float64 {
	s := append([]float64(nil), xs...)
	sort.Float64s(s)
	return s[len(s)/2]
}

// printExec prints the exec table and the target, and reports whether it
// is met: exec_in at most half of ip netns exec.
func printExec(res *execResult) bool {
	if res == nil {
		return true
	}
	fmt.Printf("\nRunning `true` in a namespace, ms per call over %d calls (median of %d rounds, ways alternating):\n", res.k, execRounds)
	for _, way := range execWays {
		if xs := res.rounds[way]; len(xs) > 0 {
			name := map[string]string{"nsh": "nsh exec_in", "ip": "ip netns exec", "nsenter": "nsenter --net"}[way]
			fmt.Printf("  %-15s %7.3f\n", name, medianOf(xs))
		}
	}
	nsh, ip := res.rounds["nsh"], res.rounds["ip"]
	if len(nsh) == 0 || len(ip) == 0 {
		return false
	}
	ratio := medianOf(nsh) / medianOf(ip)
	ok := ratio <= 0.5
	mark := "met"
	if !ok {
		mark = "NOT met"
	}
	fmt.Printf("  exec_in / ip netns exec = %.2fx (target <= 0.5x: %s)\n", ratio, mark)
	return ok
}
