package ops

import (
	"fmt"
	"syscall"
	"time"

	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/nshlab/nsh/builtins/sys/nsexec"
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

// Explain implements Op.
func (o *ProcSpawn) Explain() []string {
	cmd := ShellJoin(o.Argv) + " &"
	if o.Container != "" {
		c := &ContainerAdd{Pidfile: o.Enter}
		return []string{c.NsenterCmd(o.Argv) + " &"}
	}
	if !isHost(o.NS) {
		cmd = "ip netns exec " + shellQuote(o.NS) + " " + cmd
	}
	return []string{cmd}
}
