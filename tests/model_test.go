package tests

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
	"regexp"
	"strconv"
	"strings"
	"testing"

	"github.com/nshlab/nsh/builtins"
	"github.com/nshlab/nsh/builtins/ops"
	"github.com/nshlab/nsh/builtins/session"
	"github.com/nshlab/nsh/builtins/sys/ipt"
	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/nshlab/nsh/builtins/sys/kernel/kerneltest"
	"github.com/nshlab/nsh/builtins/sys/model"
	"github.com/nshlab/nsh/interp"
	"go.starlark.net/starlark"
)

// modelRun is what running a script left in its session's journal, with
// what differs between two kernels by nature (the sandbox's random name,
// the pin's mount ID) made the same.
type modelRun struct {
	ops   []string // kind, state and arguments of each operation
	cmds  []string // the --explain text, in order
	fails []string // the messages of fail(), which does not stop the script
	err   string   // how the script ended
	// unknown is set when the script was handed a value that a plan
	// cannot know (a probe's, a command's): see builtins.Env.Unknown.
	unknown bool
}

// recordFail replaces fail() with a recorder, so that a script runs to
// its end on either kernel. Probes, commands and processes are the real
// builtins: on the model, they are not run and say so (a plan's values).
func recordFail(pre starlark.StringDict, fails *[]string) {
	pre["fail"] = starlark.NewBuiltin("fail", func(_ *starlark.Thread, _ *starlark.Builtin, args starlark.Tuple, _ []starlark.Tuple) (starlark.Value, error) {
		*fails = append(*fails, fmt.Sprint(args))
		return starlark.None, nil
	})
}

// runOn runs a script of scripts/ in a new sandboxed session on k (nil:
// the machine's kernel), reads its journal, and tears it down.
func runOn(t *testing.T, k kernel.Kernel, dir, file, name string) modelRun {
	t.Helper()
	var r modelRun
	s, err := session.Open(session.Options{Name: name, Sandbox: true, Script: file, Kernel: k,
		Explain: func(cmds []string) { r.cmds = append(r.cmds, cmds...) }})
	if err != nil {
		t.Fatal(err)
	}
	sandbox := s.Meta().Sandbox
	env := &builtins.Env{Session: s, Out: io.Discard}
	in := interp.New(env)
	in.Stdout = io.Discard
	recordFail(in.Predeclared, &r.fails)
	thread := in.Thread("run " + file)
	s.StartStep("run "+file, file)
	if _, err := in.ExecFile(thread, filepath.Join(dir, file)); err != nil {
		r.err = interp.FormatError(err)
	}
	r.unknown = env.Unknown()
	st, err := session.Inspect(name)
	if err != nil {
		t.Fatal(err)
	}
	// A run names by its PID the namespace of a process that it started
	// (ip link set X netns PID); a model starts none, and names the
	// namespace, whose name the run's operation keeps too.
	pids := map[string]string{}
	for _, step := range st.Steps {
		for _, e := range step.Entries {
			switch o := e.Op.(type) {
			case *ops.LinkMove:
				if o.ToPid > 0 {
					pids[strconv.Itoa(o.ToPid)] = o.ToNS
					o.ToPid = 0
				}
			case *ops.LinkAdd:
				if v, ok := o.Type.(*ops.Veth); ok && v.PeerPid > 0 {
					pids[strconv.Itoa(v.PeerPid)] = v.PeerNS
					v.PeerPid = 0
				}
			case *ops.NetnsAdd:
				o.Pin = 0
			case *ops.NetnsDel:
				o.Pin = 0
			case *ops.ProcSpawn:
				o.Pidfile, o.Logfile = "", "" // named by the time
			}
			b, err := ops.Encode(e.Op)
			if err != nil {
				t.Fatal(err)
			}
			r.ops = append(r.ops, fmt.Sprintf("%s %s %s", e.Op.Kind(), e.State, b))
		}
	}
	if err := s.Down(); err != nil {
		t.Errorf("down: %v", err)
	}
	// Containers keep their pidfiles in the session's directory.
	run := strings.NewReplacer(sandbox, "SANDBOX", session.RunDir+"/", "RUNDIR/")
	for i := range r.ops {
		r.ops[i] = run.Replace(r.ops[i])
	}
	byPid := regexp.MustCompile(` netns ([0-9]+)\b`)
	for i := range r.cmds {
		r.cmds[i] = byPid.ReplaceAllStringFunc(run.Replace(r.cmds[i]), func(m string) string {
			if ns, ok := pids[strings.TrimPrefix(m, " netns ")]; ok {
				return " netns " + run.Replace(ns)
			}
			return m
		})
	}
	return r
}

// TestScriptsModel runs each lab of scripts/ against the model, as nsh
// plan does, and, as root, against the machine's kernel too, and checks
// that both journal the same operations (kind, outcome, learned state
// such as link indexes), explain them with the same commands, and take
// the same path through the script's checks. On the model, probes and
// commands are not run and return values that say so (ok is None): a
// script that used one may fail there, or fail its checks, where it does
// not on the kernel, but it must have journaled and explained the same.
func TestScriptsModel(t *testing.T) {
	dir := filepath.Join(repoRoot, "scripts")
	real := os.Geteuid() == 0
	opts := model.Options{}
	if real {
		opts = machineOptions(t)
	}
	covered, skipped := 0, 0
	for _, e := range labScripts(t) {
		if e.need != "" {
			// A script that needs a machine a test makes
			// (vxlan-site.star needs machine-a or machine-b) has its
			// own test.
			skipped++
			continue
		}
		covered++
		t.Run(e.name, func(t *testing.T) {
			name := uniq("m")
			saved := session.RunDir
			session.RunDir = t.TempDir()
			m := runOn(t, model.New(opts), dir, e.file, name)
			session.RunDir = saved
			if m.err != "" && !m.unknown {
				t.Errorf("against the model: %s", m.err)
			}
			if len(m.ops) == 0 {
				t.Fatalf("against the model: no operation journaled")
			}
			if !real {
				return
			}
			downAtEnd(t, name)
			k := runOn(t, nil, dir, e.file, name)
			cases := []struct {
				what       string
				model, got any
			}{
				{"operations", m.ops, k.ops},
				{"explain", m.cmds, k.cmds},
			}
			if !m.unknown {
				cases = append(cases, []struct {
					what       string
					model, got any
				}{{"fail() calls", m.fails, k.fails}, {"outcome", m.err, k.err}}...)
			} else if k.err != "" {
				t.Errorf("against the kernel: %s", k.err)
			}
			for _, c := range cases {
				if !reflect.DeepEqual(c.model, c.got) {
					mj, _ := json.MarshalIndent(c.model, "", " ")
					kj, _ := json.MarshalIndent(c.got, "", " ")
					t.Errorf("%s differ:\nmodel:\n%s\nkernel:\n%s", c.what, mj, kj)
				}
			}
		})
	}
	t.Logf("%d scripts compared, %d left out (they need a machine of their own)", covered, skipped)
	if covered < 10 {
		t.Errorf("only %d scripts covered", covered)
	}
}

// machineOptions describes this machine to the model: the link kinds its
// kernel has, the iptables binary, and the sysctls of a new namespace.
func machineOptions(t *testing.T) model.Options {
	t.Helper()
	o := model.Options{Sysctls: map[string]string{}}
	for _, kind := range []string{"veth", "bridge", "dummy", "macvlan", "vxlan", "tun", "vlan"} {
		if ok, err := kernel.HasDriver(kind); err == nil && ok {
			o.Drivers = append(o.Drivers, kind)
		}
	}
	if b, err := ipt.Detect(); err == nil {
		o.Iptables, o.Legacy = b.Path, !b.NFT()
	}
	_, ns := kerneltest.Namespace(t, false)
	keys := append(model.Keys(), "net.bridge.bridge-nf-call-iptables", "net.bridge.bridge-nf-call-ip6tables")
	for _, key := range keys {
		v, err := ns.ReadSysctl(key)
		if err != nil {
			v = "" // not in this kernel
		}
		o.Sysctls[key] = v
	}
	return o
}
