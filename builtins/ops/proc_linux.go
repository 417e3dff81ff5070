package ops

import (
	"fmt"
	"net"
	"sort"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/nshlab/nsh/builtins/sys/nsexec"
	"github.com/nshlab/nsh/builtins/sys/probe"
)

// ProcSpawn starts a long-running process in a namespace, as
// `ip netns exec NS CMD &`. The process records itself in Pidfile, so that
// Revert can stop it from any nsh process.
//
// With Container, the process enters every namespace of that container's
// init process, recorded in Enter, as `nsenter --target PID --all` does,
// and starts in its cgroup, Cgroup.
type ProcSpawn struct {
	NS        string            `json:"ns"`
	Container string            `json:"container,omitempty"`
	Enter     string            `json:"enter,omitempty"`
	Cgroup    string            `json:"cgroup,omitempty"`
	Argv      []string          `json:"argv"`
	Env       map[string]string `json:"env,omitempty"`
	Pidfile   string            `json:"pidfile"`
	Logfile   string            `json:"logfile"`
}

func init() { Register("proc.spawn", func() Op { return new(ProcSpawn) }) }

// StopGrace is how long a stopped process gets between SIGTERM and SIGKILL.
var StopGrace = 3 * time.Second

// Kind implements Op.
func (o *ProcSpawn) Kind() string { return "proc.spawn" }

// Apply implements Op.
func (o *ProcSpawn) Apply(k kernel.Kernel) error {
	if o.Container != "" {
		t := nsexec.Target{Name: o.Container, Pidfile: o.Enter, Cgroup: o.Cgroup}
		if _, err := k.Namespace(o.NS); err != nil {
			return failed(fmt.Sprintf("start %s in container %q", ShellJoin(o.Argv), o.Container), err)
		}
		if _, ok := k.(ContainerModel); ok {
			return nil // a model runs nothing
		}
		_, err := nsexec.StartIn(t, nsexec.Cmd{Argv: o.Argv, ExtraEnv: o.Env}, o.Pidfile, o.Logfile)
		return err
	}
	ns, err := k.Namespace(o.NS)
	if err != nil {
		return failed(fmt.Sprintf("start %s%s", ShellJoin(o.Argv), inNS(o.NS)), err)
	}
	if kernel.RunsNothing(ns) {
		// A plan: the process is recorded, and explained, but not run.
		return nil
	}
	if _, err := nsexec.Start(ns, nsexec.Cmd{Argv: o.Argv, ExtraEnv: o.Env}, o.Pidfile, o.Logfile); err != nil {
		return err
	}
	return nil
}

// Revert implements Op: it stops the process (SIGTERM, then SIGKILL).
func (o *ProcSpawn) Revert(k kernel.Kernel) error {
	if err := nsexec.Stop(o.Pidfile, syscall.SIGTERM, StopGrace); err != nil {
		return fmt.Errorf("failed to stop %s%s: %w", ShellJoin(o.Argv), inNS(o.NS), err)
	}
	return nil
}

// Explain implements Op: the command in the background, with its
// environment. nsh's own server (serve()) is shown as a comment, with a
// stand-in made of socat, since no standard tool serves as it does; a
// process in a container is entered as nsenter --all enters it.
func (o *ProcSpawn) Explain(host string) []string { return o.ExplainWith(host, nil) }

// ExplainWith is Explain with the PID of a container's init named by pid.
func (o *ProcSpawn) ExplainWith(host string, pid PidRef) []string {
	if o.Container != "" {
		return []string{envPrefix(nil, o.Env) + NsenterCmd(pid.of(o.Container, o.Enter), o.Argv) + " &"}
	}
	if addr, reply, ok := probe.ParseServeArgv(o.Argv); ok {
		return []string{explainServe(o.NS, addr, reply, host)}
	}
	if addr, ok := probe.ParseServeSinkArgv(o.Argv); ok {
		return []string{fmt.Sprintf("# serve(sink=True): nsh's own TCP sink on %s in %s for throughput(), reading each connection to its end and answering with the bytes it read and the time that took; with socat, a sink without the answer: %s",
			addr, nsWhere(o.NS), nsExec(o.NS, host)+"socat -u "+socatListen(addr)+" OPEN:/dev/null &")}
	}
	return []string{explainCmd(o.NS, o.Argv, o.Env, nil, host) + " &"}
}

// explainServe describes the server that serve() starts.
func explainServe(ns, addr string, reply *string, host string) string {
	what := "the peer's address"
	sys := `echo -n "$SOCAT_PEERADDR:$SOCAT_PEERPORT"`
	if reply != nil {
		what = strconv.Quote(*reply)
		esc := strings.NewReplacer(`\`, `\\`, "\n", `\n`).Replace(*reply)
		sys = "printf %b " + shellQuote(esc)
	}
	return fmt.Sprintf("# serve(): nsh's own TCP server on %s in %s, answering each connection with %s; with socat: %s",
		addr, nsWhere(ns), what, nsExec(ns, host)+"socat "+socatListen(addr)+" "+shellQuote("SYSTEM:"+sys)+" &")
}

// socatListen is socat's address that listens where serve() does.
func socatListen(addr string) string {
	ip, port, _ := net.SplitHostPort(addr)
	listen := "TCP-LISTEN:" + port + ",reuseaddr,fork"
	if ip != "" {
		listen = "TCP-LISTEN:" + port + ",bind=" + ip + ",reuseaddr,fork"
	}
	if strings.Contains(ip, ":") {
		listen = strings.Replace(listen, "TCP-LISTEN", "TCP6-LISTEN", 1)
	}
	return listen
}

// nsWhere names a namespace in a comment: host or its name.
func nsWhere(ns string) string {
	if isHost(ns) {
		return "host"
	}
	return ns
}

// explainCmd returns the shell command that runs argv in a namespace,
// with extra environment variables and, unless nil, input on its
// standard input.
func explainCmd(ns string, argv []string, env map[string]string, input *string, host string) string {
	return envPrefix(input, env) + nsExec(ns, host) + ShellJoin(argv)
}

// envPrefix returns what comes before a command for its input and its
// environment: "printf %s INPUT | K=V ".
func envPrefix(input *string, env map[string]string) string {
	var b strings.Builder
	if input != nil {
		b.WriteString("printf %s " + shellQuote(*input) + " | ")
	}
	keys := make([]string, 0, len(env))
	for k := range env {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		b.WriteString(shellQuote(k+"="+env[k]) + " ")
	}
	return b.String()
}

// Exec is a command that runs in a namespace to its end, as exec_in runs
// it. It is not an operation (it changes nothing the journal tracks), but
// --explain shows it, and a script of the lab (nsh export) runs it.
type Exec struct {
	NS   string
	Argv []string
	Env  map[string]string
	// Input is the command's standard input, or nil for none.
	Input *string
	// Check is set when the command must succeed (exec_in's check=True):
	// a script of the lab stops if it fails, and otherwise goes on.
	Check bool
	// Container, if set, is the container the command runs in: it
	// enters every namespace of the container's init, whose PID is in
	// Enter (nsh's pidfile of it), as nsenter --all does.
	Container string
	Enter     string
}

// Explain implements Explainer.
func (e *Exec) Explain(host string) []string { return e.ExplainWith(host, nil) }

// ExplainWith is Explain with the PID of a container's init named by pid.
func (e *Exec) ExplainWith(host string, pid PidRef) []string {
	if e.Container != "" {
		return []string{envPrefix(e.Input, e.Env) + NsenterCmd(pid.of(e.Container, e.Enter), e.Argv)}
	}
	return []string{explainCmd(e.NS, e.Argv, e.Env, e.Input, host)}
}
