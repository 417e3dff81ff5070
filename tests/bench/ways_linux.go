package main

import (
	"bytes"
	"encoding/json"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"time"
)

// result is one build and teardown of one lab by one way.
type result struct {
	way      string
	n        int
	build    time.Duration
	returned time.Duration // the teardown command's own time
	gone     time.Duration // until the lab is really gone
	rssKB    int64         // peak RSS of the build process (nsh, bash tree), KB
	cpuBuild time.Duration // user+sys of the build
	err      error
}

// recordBuild records a build process's wall time, peak RSS and CPU.
func (res *result) recordBuild(d time.Duration, st *os.ProcessState) {
	res.build = d
	if st != nil {
		ru := st.SysUsage().(*syscall.Rusage)
		res.rssKB = ru.Maxrss
		res.cpuBuild = cpu(ru)
	}
}

// runner holds what every way shares.
type runner struct {
	id      string // unique per bench run
	nsh     string // nsh binary
	tmp     string
	timeout time.Duration
	reg     *registry
	verbose bool
	profDir string
}

// wayTags tells the ways' namespaces apart.
var wayTags = map[string]string{"nsh": "s", "ip": "i", "ipn": "n", "floor": "f"}

func (r *runner) labFor(way string, n, rep int) *lab {
	tag := fmt.Sprintf("%s%s%d-%d", r.id, wayTags[way], n, rep)
	return &lab{n: n, prefix: "nb-" + tag + "-", hub: "nshbench-host-" + tag}
}

func (r *runner) run(way string, n, rep int) result {
	l := r.labFor(way, n, rep)
	res := result{way: way, n: n}
	r.reg.addLab(l)
	switch way {
	case "floor":
		res.err = r.floor(l, &res)
	case "ip":
		res.err = r.ip(l, l.ipBuild(), &res)
	case "ipn":
		res.err = r.ip(l, l.ipnBuild(), &res)
	case "nsh":
		res.err = r.nshWay(l, &res)
	default:
		res.err = fmt.Errorf("unknown way %q", way)
	}
	return res
}

// teardown times fn (the teardown), then waits until the lab is gone.
func (r *runner) teardown(l *lab, res *result, fn func() error) error {
	w, err := watchHub(l.hub, l.n)
	if err != nil {
		return err
	}
	defer w.close()
	start := time.Now()
	if err := fn(); err != nil {
		return fmt.Errorf("teardown: %w", err)
	}
	res.returned = time.Since(start)
	if left := pinsLeft(append(l.names(), l.hub)); len(left) > 0 {
		return fmt.Errorf("teardown returned with %d pins left in %s (first %s)", len(left), netnsDir, left[0])
	}
	last, err := w.wait(r.timeout)
	if err != nil {
		return err
	}
	res.gone = last.Sub(start)
	if res.gone < res.returned {
		res.gone = res.returned
	}
	return nil
}

func (r *runner) floor(l *lab, res *result) error {
	var before, after syscall.Rusage
	syscall.Getrusage(syscall.RUSAGE_SELF, &before)
	start := time.Now()
	err := floorBuild(l)
	res.build = time.Since(start)
	syscall.Getrusage(syscall.RUSAGE_SELF, &after)
	res.cpuBuild = cpu(&after) - cpu(&before)
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	return r.teardown(l, res, func() error { return floorTeardown(l) })
}

func (r *runner) ip(l *lab, script string, res *result) error {
	build := filepath.Join(r.tmp, "build-"+filepath.Base(l.hub)+".sh")
	down := filepath.Join(r.tmp, "down-"+filepath.Base(l.hub)+".sh")
	if err := os.WriteFile(build, []byte(script), 0o755); err != nil {
		return err
	}
	if err := os.WriteFile(down, []byte(l.ipTeardown()), 0o755); err != nil {
		return err
	}
	d, st, err := r.cmd("bash", build)
	res.recordBuild(d, st)
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	return r.teardown(l, res, func() error { _, _, err := r.cmd("bash", down); return err })
}

func (r *runner) nshWay(l *lab, res *result) error {
	script := filepath.Join(r.tmp, "lab-"+filepath.Base(l.hub)+".star")
	if err := os.WriteFile(script, []byte(l.starScript()), 0o644); err != nil {
		return err
	}
	sess := "bench" + strings.TrimPrefix(l.hub, "nshbench-host-")
	r.reg.addSession(sess)
	d, st, err := r.cmd(r.nsh, "run", script, "--sandbox", "--session", sess)
	res.recordBuild(d, st)
	if err != nil {
		return fmt.Errorf("build: %w", err)
	}
	hub, err := sandboxOf(sess)
	if err != nil {
		return err
	}
	l.hub = hub
	r.reg.addLab(l)
	return r.teardown(l, res, func() error {
		_, _, err := r.cmd(r.nsh, "down", "--session", sess)
		return err
	})
}

// sandboxOf reads a session's sandbox namespace from its journal header.
func sandboxOf(sess string) (string, error) {
	f, err := os.ReadFile(filepath.Join("/run/nsh", sess, "journal"))
	if err != nil {
		return "", err
	}
	line, _, _ := bytes.Cut(f, []byte("\n"))
	var rec struct {
		Meta struct {
			Sandbox string `json:"sandbox"`
		} `json:"meta"`
	}
	if err := json.Unmarshal(line, &rec); err != nil || rec.Meta.Sandbox == "" {
		return "", fmt.Errorf("session %s: no sandbox in its journal header (%v)", sess, err)
	}
	return rec.Meta.Sandbox, nil
}

// cmd runs a command and returns its wall time and state.
func (r *runner) cmd(name string, args ...string) (time.Duration, *os.ProcessState, error) {
	c := exec.Command(name, args...)
	var out bytes.Buffer
	c.Stdout, c.Stderr = &out, &out
	c.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	start := time.Now()
	if err := c.Start(); err != nil {
		return 0, nil, err
	}
	r.reg.setChild(c.Process)
	err := c.Wait()
	d := time.Since(start)
	r.reg.setChild(nil)
	if r.verbose && out.Len() > 0 {
		fmt.Fprintf(os.Stderr, "[%s %s] %s", filepath.Base(name), strings.Join(args, " "), out.String())
	}
	if err != nil {
		o := out.String()
		if len(o) > 2000 {
			o = o[len(o)-2000:]
		}
		return d, c.ProcessState, fmt.Errorf("%s %s: %v\n%s", filepath.Base(name), strings.Join(args, " "), err, o)
	}
	return d, c.ProcessState, nil
}

func cpu(ru *syscall.Rusage) time.Duration {
	return time.Duration(ru.Utime.Nano() + ru.Stime.Nano())
}
