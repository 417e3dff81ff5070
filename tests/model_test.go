package tests

import (
	"encoding/json"
	"fmt"
	"io"
	"os"
	"path/filepath"
	"reflect"
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
	"go.starlark.net/starlarkstruct"
)

// modelRun is what running a script left in its session's journal, with
// what differs between two kernels by nature (the sandbox's random name,
// the pin's mount ID) made the same.
type modelRun struct {
	ops   []string // kind, state and arguments of each operation
	cmds  []string // the --explain text, in order
	fails []string // the messages of fail(), which does not stop the script
	err   string   // how the script ended
}

// modelStubs replace what the model cannot do (run processes, probes)
// with values that are the same whatever the kernel, and fail() with a
// recorder, so that a script runs to its end on either kernel and takes
// the same path through its checks on both.
func modelStubs(pre starlark.StringDict, fails *[]string) {
	rec := func(name string, fields starlark.StringDict) *starlark.Builtin {
		return starlark.NewBuiltin(name, func(*starlark.Thread, *starlark.Builtin, starlark.Tuple, []starlark.Tuple) (starlark.Value, error) {
			return starlarkstruct.FromStringDict(starlark.String(name), fields), nil
		})
	}
	pre["ping"] = rec("ping", starlark.StringDict{"ok": starlark.True, "sent": starlark.MakeInt(1), "received": starlark.MakeInt(1), "rtt_ms": starlark.Float(0)})
	pre["pingall"] = rec("pingall", starlark.StringDict{"ok": starlark.True, "sent": starlark.MakeInt(0), "received": starlark.MakeInt(0), "failed": starlark.NewList(nil), "matrix": starlark.String("")})
	pre["connect"] = rec("connection", starlark.StringDict{"ok": starlark.True, "local": starlark.String(""), "reply": starlark.String(""), "error": starlark.String("")})
	pre["exec_in"] = rec("result", starlark.StringDict{"ok": starlark.True, "code": starlark.MakeInt(0), "stdout": starlark.String(""), "stderr": starlark.String("")})
	pre["serve"] = rec("process", starlark.StringDict{})
	pre["spawn"] = rec("process", starlark.StringDict{})
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
	modelStubs(in.Predeclared, &r.fails)
	thread := in.Thread("run " + file)
	s.StartStep("run "+file, file)
	if _, err := in.ExecFile(thread, filepath.Join(dir, file)); err != nil {
		r.err = interp.FormatError(err)
	}
	st, err := session.Inspect(name)
	if err != nil {
		t.Fatal(err)
	}
	for _, step := range st.Steps {
		for _, e := range step.Entries {
			if o, ok := e.Op.(*ops.NetnsAdd); ok {
				o.Pin = 0
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
	for i := range r.ops {
		r.ops[i] = strings.ReplaceAll(r.ops[i], sandbox, "SANDBOX")
	}
	for i := range r.cmds {
		r.cmds[i] = strings.ReplaceAll(r.cmds[i], sandbox, "SANDBOX")
	}
	return r
}

// TestScriptsModel runs each lab of scripts/ against the model and, as
// root, against the machine's kernel too, with the same stubs for probes
// and commands, and checks that both journal the same operations (kind,
// outcome, learned state such as link indexes), explain them with the
// same commands, and take the same path through the script's checks.
// Scripts that run commands through netns.exec are left out: a method
// cannot be stubbed from a script's names.
func TestScriptsModel(t *testing.T) {
	dir := filepath.Join(repoRoot, "scripts")
	ents, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	real := os.Geteuid() == 0
	opts := model.Options{}
	if real {
		opts = machineOptions(t)
	}
	covered, skipped := 0, 0
	for _, e := range ents {
		if !strings.HasSuffix(e.Name(), ".star") {
			continue
		}
		src, err := os.ReadFile(filepath.Join(dir, e.Name()))
		if err != nil {
			t.Fatal(err)
		}
		if strings.Contains(string(src), ".exec(") {
			skipped++
			continue
		}
		covered++
		t.Run(strings.TrimSuffix(e.Name(), ".star"), func(t *testing.T) {
			name := uniq("m")
			saved := session.RunDir
			session.RunDir = t.TempDir()
			m := runOn(t, model.New(opts), dir, e.Name(), name)
			session.RunDir = saved
			if m.err != "" {
				t.Errorf("against the model: %s", m.err)
			}
			if len(m.ops) == 0 {
				t.Fatalf("against the model: no operation journaled")
			}
			if !real {
				return
			}
			downAtEnd(t, name)
			k := runOn(t, nil, dir, e.Name(), name)
			for _, c := range []struct {
				what       string
				model, got any
			}{
				{"operations", m.ops, k.ops},
				{"explain", m.cmds, k.cmds},
				{"fail() calls", m.fails, k.fails},
				{"outcome", m.err, k.err},
			} {
				if !reflect.DeepEqual(c.model, c.got) {
					mj, _ := json.MarshalIndent(c.model, "", " ")
					kj, _ := json.MarshalIndent(c.got, "", " ")
					t.Errorf("%s differ:\nmodel:\n%s\nkernel:\n%s", c.what, mj, kj)
				}
			}
		})
	}
	t.Logf("%d scripts compared, %d left out (netns.exec)", covered, skipped)
	if covered < 10 {
		t.Errorf("only %d scripts covered", covered)
	}
}

// machineOptions describes this machine to the model: the link kinds its
// kernel has, the iptables binary, and the sysctls of a new namespace.
func machineOptions(t *testing.T) model.Options {
	t.Helper()
	o := model.Options{Sysctls: map[string]string{}}
	for _, kind := range []string{"veth", "bridge", "dummy", "macvlan"} {
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
