package builtins

import (
	"context"
	"errors"
	"fmt"
	"math"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nshlab/nsh/builtins/ops"
	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/nshlab/nsh/builtins/sys/nsexec"
	"github.com/nshlab/nsh/builtins/sys/probe"
	"go.starlark.net/starlark"
)

// seconds unpacks a timeout given as int or float seconds.
func seconds(v starlark.Value, param string) (time.Duration, error) {
	if v == nil || v == starlark.None {
		return 0, nil
	}
	f, ok := starlark.AsFloat(v)
	if !ok || f <= 0 || math.IsInf(f, 0) || math.IsNaN(f) {
		return 0, fmt.Errorf("for parameter %s: want a positive number of seconds, got %s", param, v)
	}
	return time.Duration(f * float64(time.Second)), nil
}

func resultValue(code int, stdout, stderr string) starlark.Value {
	return newRecord("result", starlark.StringDict{
		"code":   starlark.MakeInt(code),
		"stdout": starlark.String(stdout),
		"stderr": starlark.String(stderr),
		"ok":     starlark.Bool(code == 0),
	})
}

// exec_in(ns, cmd, check=False, timeout=30, env=None, input=None)
func execIn(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var ns starlark.Value
	return execCommon(thread, b, args, kwargs, &ns, "ns", &ns)
}

// netns.exec(cmd, ...)
func netnsExec(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	ns := b.Receiver()
	return execCommon(thread, b, args, kwargs, &ns)
}

func execCommon(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple, ns *starlark.Value, nsParam ...any) (starlark.Value, error) {
	var cmd, timeoutV, envV, input starlark.Value = nil, starlark.MakeInt(30), starlark.None, starlark.None
	check := false
	pairs := append(nsParam, "cmd", &cmd, "check?", &check, "timeout?", &timeoutV, "env?", &envV, "input?", &input)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, pairs...); err != nil {
		return nil, err
	}
	env, nsName, err := envAndNS(thread, *ns)
	if err != nil {
		return nil, err
	}
	argv, err := stringList(cmd, "cmd")
	if err != nil {
		return nil, err
	}
	timeout, err := seconds(timeoutV, "timeout")
	if err != nil {
		return nil, err
	}
	vars, err := stringDict(envV, "env")
	if err != nil {
		return nil, err
	}
	c := nsexec.Cmd{Argv: argv, ExtraEnv: map[string]string{}}
	for _, kv := range vars {
		k, v, _ := strings.Cut(kv, "=")
		c.ExtraEnv[k] = v
	}
	in, err := optString(input, "input")
	if err != nil {
		return nil, err
	}
	if in != nil {
		c.Stdin = []byte(*in)
	}
	kns, err := env.observe(nsName)
	if err != nil {
		return nil, err
	}
	ctr, _ := (*ns).(*Container)
	label := nsLabel(nsName)
	note := &ops.Exec{NS: nsName, Argv: argv, Env: c.ExtraEnv, Input: in, Check: check}
	if ctr != nil {
		note.Container, note.Enter = ctr.op.Name, ctr.op.Pidfile
	}
	if kernel.RunsNothing(kns) {
		// A plan: the command is explained, not run.
		env.Session.Note(note)
		env.unknown++
		return notRunResult(), nil
	}
	ctx, cancel := context.WithTimeout(env.Ctx, timeout)
	defer cancel()
	var res nsexec.Result
	if ctr != nil {
		// All the container's namespaces, as nsenter --all.
		label = fmt.Sprintf("container %q", ctr.op.Name)
		env.Session.Note(note)
		res, err = nsexec.RunIn(ctx, ctr.op.Target(), c)
	} else {
		env.Session.Note(note)
		res, err = nsexec.Run(ctx, kns, c)
	}
	if kns.Own() {
		// The command may have changed a sysctl that new namespaces copy.
		env.kern().DropSpare()
	}
	if err != nil {
		if ctx.Err() == context.DeadlineExceeded {
			return nil, fmt.Errorf("command %s in %s timed out after %s", ops.ShellJoin(argv), label, timeout)
		}
		return nil, err
	}
	if check && res.Code != 0 {
		msg := strings.TrimSpace(res.Stderr)
		if len(msg) > 2000 {
			msg = msg[:2000] + "…"
		}
		if msg != "" {
			msg = ": " + msg
		}
		return nil, fmt.Errorf("command %s in %s exited with code %d%s", ops.ShellJoin(argv), label, res.Code, msg)
	}
	return resultValue(res.Code, res.Stdout, res.Stderr), nil
}

// notRunResult is what exec_in returns in a plan, where no command runs:
// ok and code are None, stdout and stderr empty, so that a script that
// looks at them goes on (see docs/plan.md).
func notRunResult() starlark.Value {
	return newRecord("result", starlark.StringDict{
		"code":   starlark.None,
		"stdout": starlark.String(""),
		"stderr": starlark.String(""),
		"ok":     starlark.None,
	})
}

// spawn(ns, cmd, env=None) starts a background process, stopped on undo.
func spawnBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var ns, cmd starlark.Value
	var envV starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "ns", &ns, "cmd", &cmd, "env?", &envV); err != nil {
		return nil, err
	}
	env, nsName, err := envAndNS(thread, ns)
	if err != nil {
		return nil, err
	}
	argv, err := stringList(cmd, "cmd")
	if err != nil {
		return nil, err
	}
	vars, err := stringDict(envV, "env")
	if err != nil {
		return nil, err
	}
	extra := map[string]string{}
	for _, kv := range vars {
		k, v, _ := strings.Cut(kv, "=")
		extra[k] = v
	}
	if c, ok := ns.(*Container); ok {
		return env.spawnIn(nsName, c.op, argv, extra)
	}
	return env.spawn(nsName, argv, extra)
}

func (e *Env) spawn(nsName string, argv []string, extra map[string]string) (*Process, error) {
	return e.spawnIn(nsName, nil, argv, extra)
}

// spawnIn starts a process in the network namespace nsName, or, with a
// container, in all the container's namespaces.
func (e *Env) spawnIn(nsName string, ctr *ops.ContainerAdd, argv []string, extra map[string]string) (*Process, error) {
	if err := e.Barrier(); err != nil { // the process sees what came before
		return nil, err
	}
	dir := filepath.Join(e.Session.Dir, "proc")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("failed to create %s: %w", dir, err)
	}
	id := strconv.Itoa(e.Session.Ops()+1) + "-" + strconv.FormatInt(time.Now().UnixNano()%1e6, 10)
	op := &ops.ProcSpawn{
		NS: nsName, Argv: argv, Env: extra,
		Pidfile: filepath.Join(dir, id+".pid"),
		Logfile: filepath.Join(dir, id+".log"),
	}
	if len(op.Env) == 0 {
		op.Env = nil
	}
	if ctr != nil {
		op.Container, op.Enter, op.Cgroup = ctr.Name, ctr.Pidfile, ctr.Cgroup
	}
	if err := e.Session.Apply(op); err != nil {
		return nil, err
	}
	if kns, err := e.kern().Namespace(nsName); err == nil && kernel.RunsNothing(kns) {
		e.unknown++
		return &Process{env: e, op: op, planned: true}, nil
	}
	pid, _ := nsexec.Running(op.Pidfile)
	return &Process{env: e, op: op, pid: pid}, nil
}

// Process is a background process started by spawn() or serve().
type Process struct {
	env *Env
	op  *ops.ProcSpawn
	pid int
	// planned is set in a plan, where the process is not started: its
	// pid is 0, it is not running, and wait() returns a result like
	// exec_in's there.
	planned bool
}

var _ starlark.HasAttrs = (*Process)(nil)

func (p *Process) String() string {
	return fmt.Sprintf("process(pid=%d, ns=%q, cmd=%q)", p.pid, p.op.NS, ops.ShellJoin(p.op.Argv))
}
func (p *Process) Type() string         { return "process" }
func (p *Process) Freeze()              {}
func (p *Process) Truth() starlark.Bool { return true }
func (p *Process) Hash() (uint32, error) {
	return starlark.MakeInt(p.pid).Hash()
}

var processMethods = map[string]*starlark.Builtin{
	"wait":    starlark.NewBuiltin("wait", processWait),
	"stop":    starlark.NewBuiltin("stop", processStop),
	"running": starlark.NewBuiltin("running", processRunning),
}

// Attr implements starlark.HasAttrs.
func (p *Process) Attr(name string) (starlark.Value, error) {
	switch name {
	case "pid":
		return starlark.MakeInt(p.pid), nil
	case "ns":
		return p.env.netns(p.op.NS), nil
	case "cmd":
		out := make([]starlark.Value, len(p.op.Argv))
		for i, a := range p.op.Argv {
			out[i] = starlark.String(a)
		}
		return starlark.NewList(out), nil
	case "log":
		b, _ := os.ReadFile(p.op.Logfile)
		return starlark.String(b), nil
	}
	if m, ok := processMethods[name]; ok {
		return m.BindReceiver(p), nil
	}
	return nil, nil
}

// AttrNames implements starlark.HasAttrs.
func (p *Process) AttrNames() []string {
	return []string{"cmd", "log", "ns", "pid", "running", "stop", "wait"}
}

// wait(timeout=None) waits for the process to exit and returns its result:
// the exit code if known (-1 otherwise) and its output so far.
func processWait(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	p := b.Receiver().(*Process)
	var tv starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "timeout?", &tv); err != nil {
		return nil, err
	}
	timeout, err := seconds(tv, "timeout")
	if err != nil {
		return nil, err
	}
	if p.planned {
		p.env.unknown++
		return notRunResult(), nil
	}
	deadline := time.Now().Add(timeout)
	for {
		if _, running := nsexec.Running(p.op.Pidfile); !running {
			break
		}
		if timeout > 0 && time.Now().After(deadline) {
			return nil, fmt.Errorf("process %d (%s) still running after %s", p.pid, ops.ShellJoin(p.op.Argv), timeout)
		}
		if err := p.env.Ctx.Err(); err != nil {
			return nil, fmt.Errorf("wait for process %d: %w", p.pid, err)
		}
		time.Sleep(20 * time.Millisecond)
	}
	code := -1
	if c, ok := nsexec.ExitCode(p.op.Pidfile); ok {
		code = c
	}
	out, _ := os.ReadFile(p.op.Logfile)
	return resultValue(code, string(out), ""), nil
}

var signals = map[string]syscall.Signal{
	"TERM": syscall.SIGTERM, "KILL": syscall.SIGKILL, "INT": syscall.SIGINT,
	"HUP": syscall.SIGHUP, "QUIT": syscall.SIGQUIT, "USR1": syscall.SIGUSR1, "USR2": syscall.SIGUSR2,
}

// stop(signal="TERM") stops the process: the signal, then SIGKILL after a
// grace period.
func processStop(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	p := b.Receiver().(*Process)
	sig := "TERM"
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "signal?", &sig); err != nil {
		return nil, err
	}
	s, ok := signals[strings.TrimPrefix(strings.ToUpper(sig), "SIG")]
	if !ok {
		return nil, fmt.Errorf("unknown signal %q (want TERM, KILL, INT, HUP, QUIT, USR1 or USR2)", sig)
	}
	if err := nsexec.Stop(p.op.Pidfile, s, ops.StopGrace); err != nil {
		return nil, err
	}
	return starlark.None, nil
}

func processRunning(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	p := b.Receiver().(*Process)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	_, running := nsexec.Running(p.op.Pidfile)
	return starlark.Bool(running), nil
}

// ping(ns, dst, count=1, timeout=1) -> struct(ok, sent, received, rtt_ms)
func pingBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var ns starlark.Value
	var dst string
	count := 1
	var tv starlark.Value = starlark.MakeInt(1)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "ns", &ns, "dst", &dst, "count?", &count, "timeout?", &tv); err != nil {
		return nil, err
	}
	env, nsName, err := envAndNS(thread, ns)
	if err != nil {
		return nil, err
	}
	if err := checkIP(dst, "destination"); err != nil {
		return nil, err
	}
	if count < 1 || count > 100000 {
		return nil, fmt.Errorf("count must be 1 to 100000, got %d", count)
	}
	timeout, err := seconds(tv, "timeout")
	if err != nil {
		return nil, err
	}
	kns, err := env.observe(nsName)
	if err != nil {
		return nil, err
	}
	if kernel.RunsNothing(kns) {
		// A plan sends no packets: ok is None, neither true nor false.
		env.unknown++
		return newRecord("ping", starlark.StringDict{
			"ok":       starlark.None,
			"sent":     starlark.MakeInt(0),
			"received": starlark.MakeInt(0),
			"rtt_ms":   starlark.None,
		}), nil
	}
	r, err := probe.Ping(env.Ctx, env.kern(), kns, dst, count, timeout)
	if err != nil {
		return nil, err
	}
	if env.Ctx.Err() != nil {
		return nil, fmt.Errorf("ping %s from %s: %w", dst, nsLabel(nsName), context.Cause(env.Ctx))
	}
	return newRecord("ping", starlark.StringDict{
		"ok":       starlark.Bool(r.Received > 0),
		"sent":     starlark.MakeInt(r.Sent),
		"received": starlark.MakeInt(r.Received),
		"rtt_ms":   starlark.Float(r.RTTms),
	}), nil
}

// checkAddr checks "ip:port"; listen allows an empty host.
func checkAddr(addr string, listen bool) error {
	host, port, err := net.SplitHostPort(addr)
	if err != nil {
		return fmt.Errorf("bad address %q: want ip:port, e.g. 10.0.0.1:80 or [::1]:80", addr)
	}
	if !(listen && host == "") && net.ParseIP(host) == nil {
		return fmt.Errorf("bad address %q: %q is not an IP address", addr, host)
	}
	p, err := strconv.Atoi(port)
	if err != nil || p < 1 || p > 65535 {
		return fmt.Errorf("bad address %q: port must be 1 to 65535", addr)
	}
	return nil
}

// connect(ns, addr, timeout=1, send=None) -> struct(ok, local, reply, error)
func connectBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var ns starlark.Value
	var addr string
	var tv starlark.Value = starlark.MakeInt(1)
	var send starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "ns", &ns, "addr", &addr, "timeout?", &tv, "send?", &send); err != nil {
		return nil, err
	}
	env, nsName, err := envAndNS(thread, ns)
	if err != nil {
		return nil, err
	}
	if err := checkAddr(addr, false); err != nil {
		return nil, err
	}
	timeout, err := seconds(tv, "timeout")
	if err != nil {
		return nil, err
	}
	s, err := optString(send, "send")
	if err != nil {
		return nil, err
	}
	var data []byte
	if s != nil {
		data = []byte(*s)
	}
	kns, err := env.observe(nsName)
	if err != nil {
		return nil, err
	}
	if kernel.RunsNothing(kns) {
		env.unknown++
		return newRecord("connection", starlark.StringDict{
			"ok":    starlark.None,
			"local": starlark.String(""),
			"reply": starlark.String(""),
			"error": starlark.String("not run: a plan sends no packets"),
		}), nil
	}
	r := probe.Connect(env.Ctx, env.kern(), kns, addr, timeout, data)
	return newRecord("connection", starlark.StringDict{
		"ok":    starlark.Bool(r.OK),
		"local": starlark.String(r.Local),
		"reply": starlark.String(r.Reply),
		"error": starlark.String(r.Error),
	}), nil
}

// serve(ns, addr, reply=None, sink=False) -> process
func serveBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var ns starlark.Value
	var addr string
	var reply starlark.Value = starlark.None
	sink := false
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "ns", &ns, "addr", &addr, "reply?", &reply, "sink?", &sink); err != nil {
		return nil, err
	}
	env, nsName, err := envAndNS(thread, ns)
	if err != nil {
		return nil, err
	}
	if err := checkAddr(addr, true); err != nil {
		return nil, err
	}
	rp, err := optString(reply, "reply")
	if err != nil {
		return nil, err
	}
	argv := probe.ServeArgv(addr, rp)
	if sink {
		if rp != nil {
			return nil, errors.New("reply and sink exclude each other: a sink replies with what it received")
		}
		argv = probe.ServeSinkArgv(addr)
	}
	kns, err := env.observe(nsName)
	if err != nil {
		return nil, err
	}
	if kernel.RunsNothing(kns) {
		// A plan: the server is recorded and explained, not started.
		return env.spawn(nsName, argv, nil)
	}
	// The server counts as started only once it listens, so that a
	// connect() right after serve() does not race it; if it does not,
	// serve() changes nothing.
	var p *Process
	err = env.Session.Atomic(func() error {
		var err error
		if p, err = env.spawn(nsName, argv, nil); err != nil {
			return err
		}
		return p.listening(addr)
	})
	if err != nil {
		return nil, err
	}
	return p, nil
}

// listening waits until the server p, started by serve(), says that it
// listens on addr, and fails if it exits or is still silent after 3s.
func (p *Process) listening(addr string) error {
	deadline := time.Now().Add(3 * time.Second)
	for time.Now().Before(deadline) {
		log, _ := os.ReadFile(p.op.Logfile)
		if strings.Contains(string(log), "listening on") {
			return nil
		}
		if _, running := nsexec.Running(p.op.Pidfile); !running {
			msg := strings.TrimSpace(string(log))
			return fmt.Errorf("server on %s in %s failed: %s", addr, nsLabel(p.op.NS), msg)
		}
		time.Sleep(5 * time.Millisecond)
	}
	return fmt.Errorf("server on %s in %s did not start listening within 3s", addr, nsLabel(p.op.NS))
}
