package ops

import (
	"errors"
	"fmt"
	"strconv"
	"strings"
	"syscall"

	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/nshlab/nsh/builtins/sys/nsexec"
)

// ContainerAdd starts a container: an init process that nsh starts in the
// network namespace NS and in new PID, UTS, IPC, mount and (optionally)
// user namespaces, which it holds until Revert stops it (see
// nsexec.StartContainer). With limits it runs in a cgroup v2 of its own,
// which Apply creates and Revert removes. The init process is recorded in
// Pidfile, so that Revert stops it from any nsh process, even after the
// nsh that started it was killed.
type ContainerAdd struct {
	Name     string `json:"name"`
	NS       string `json:"ns"`
	Hostname string `json:"hostname,omitempty"`
	PID      bool   `json:"pid"`
	UTS      bool   `json:"uts"`
	IPC      bool   `json:"ipc"`
	Mount    bool   `json:"mount"`
	User     bool   `json:"user,omitempty"`
	// UID and GID are the ids outside to which root inside maps, with
	// User.
	UID    int           `json:"uid,omitempty"`
	GID    int           `json:"gid,omitempty"`
	Rootfs string        `json:"rootfs,omitempty"`
	Limits nsexec.Limits `json:"limits,omitzero"`
	// Cgroup is the container's cgroup directory, "" without limits.
	Cgroup  string `json:"cgroup,omitempty"`
	Pidfile string `json:"pidfile"`
	Logfile string `json:"logfile"`
}

func init() { Register("container.add", func() Op { return new(ContainerAdd) }) }

// ContainerModel is implemented by a kernel that keeps a record of
// containers without running them (package model): a container there is
// its network namespace and a name.
type ContainerModel interface {
	AddContainer(name, ns string) error
	DeleteContainer(name string)
}

// Kind implements Op.
func (o *ContainerAdd) Kind() string { return "container.add" }

// Target returns where commands run in the container.
func (o *ContainerAdd) Target() nsexec.Target {
	return nsexec.Target{Name: o.Name, Pidfile: o.Pidfile, Cgroup: o.Cgroup}
}

// Apply implements Op.
func (o *ContainerAdd) Apply(k kernel.Kernel) error {
	what := fmt.Sprintf("add container %q", o.Name)
	if m, ok := k.(ContainerModel); ok {
		if _, err := k.Namespace(o.NS); err != nil {
			return failed(what, err)
		}
		return m.AddContainer(o.Name, o.NS)
	}
	ns, err := k.Namespace(o.NS)
	if err != nil {
		return failed(what, err)
	}
	if o.Cgroup != "" {
		if err := nsexec.CgroupCreate(o.Cgroup, o.Limits); err != nil {
			return fmt.Errorf("failed to %s: %w", what, err)
		}
	}
	_, err = nsexec.StartContainer(ns, nsexec.ContainerSpec{
		Name: o.Name, Netns: netnsOf(o.NS), Hostname: o.Hostname,
		PID: o.PID, UTS: o.UTS, IPC: o.IPC, Mount: o.Mount, User: o.User,
		UID: o.UID, GID: o.GID, Rootfs: o.Rootfs, Cgroup: o.Cgroup,
		Pidfile: o.Pidfile, Logfile: o.Logfile,
	})
	if err != nil {
		if o.Cgroup != "" {
			nsexec.CgroupRemove(o.Cgroup)
		}
		return err
	}
	return nil
}

// netnsOf returns the /run/netns name of a namespace for /etc/netns, or ""
// for host.
func netnsOf(ns string) string {
	if isHost(ns) {
		return ""
	}
	return ns
}

// Revert implements Op: it stops the init process, which takes every
// process of the container's PID namespace with it, and removes the
// cgroup.
func (o *ContainerAdd) Revert(k kernel.Kernel) error {
	if m, ok := k.(ContainerModel); ok {
		m.DeleteContainer(o.Name)
		return nil
	}
	var errs []error
	if err := nsexec.Stop(o.Pidfile, syscall.SIGTERM, StopGrace); err != nil {
		errs = append(errs, err)
	}
	if o.Cgroup != "" {
		if err := nsexec.CgroupRemove(o.Cgroup); err != nil {
			errs = append(errs, err)
		}
	}
	if err := errors.Join(errs...); err != nil {
		return fmt.Errorf("failed to stop container %q: %w", o.Name, err)
	}
	return nil
}

// UnshareFlags returns the options of unshare(1) that make the same
// namespaces as the container.
func (o *ContainerAdd) UnshareFlags() []string {
	var f []string
	if o.PID {
		f = append(f, "--fork", "--pid")
		if o.Mount {
			f = append(f, "--mount-proc")
		}
	}
	if o.Mount && !o.PID {
		f = append(f, "--mount")
	}
	if o.UTS {
		f = append(f, "--uts")
	}
	if o.IPC {
		f = append(f, "--ipc")
	}
	if o.User {
		f = append(f, "--user", "--map-user="+strconv.Itoa(o.UID), "--map-group="+strconv.Itoa(o.GID))
	}
	if o.Rootfs != "" {
		f = append(f, "--root="+shellQuote(o.Rootfs))
	}
	return f
}

// Explain implements Op.
func (o *ContainerAdd) Explain(host string) []string {
	var cmds []string
	if o.Cgroup != "" {
		cmds = append(cmds, "mkdir "+shellQuote(o.Cgroup))
		for _, f := range o.Limits.Files() {
			cmds = append(cmds, fmt.Sprintf("echo %s > %s/%s", shellQuote(f[1]), shellQuote(o.Cgroup), f[0]))
		}
	}
	inner := "exec sleep infinity"
	if o.UTS && o.Hostname != "" {
		inner = "hostname " + shellQuote(o.Hostname) + "; " + inner
	}
	cmd := nsExec(o.NS, host) + "unshare " + strings.Join(o.UnshareFlags(), " ") + " sh -c " + shellQuote(inner) + " &"
	if o.Cgroup != "" {
		cmd = "echo $$ > " + shellQuote(o.Cgroup) + "/cgroup.procs; " + cmd
	}
	return append(cmds, cmd)
}

// NsenterCmd returns the nsenter(1) command that runs argv in every
// namespace of the container: its init's ID is in its pidfile.
func (o *ContainerAdd) NsenterCmd(argv []string) string {
	return NsenterCmd(PidfileRef(o.Pidfile), argv)
}

// PidfileRef returns the shell expression that reads the PID of a
// container's init from nsh's pidfile of it.
func PidfileRef(pidfile string) string {
	return fmt.Sprintf("$(cut -d' ' -f1 %s)", shellQuote(pidfile))
}

// NsenterCmd returns the nsenter(1) command that runs argv in every
// namespace of the process whose PID the shell expression pid gives (it
// is written in double quotes).
func NsenterCmd(pid string, argv []string) string {
	return fmt.Sprintf("nsenter --target \"%s\" --all %s", pid, ShellJoin(argv))
}

// PidRef names the PID of a container's init in a command: nil for
// nsh's own pidfile of it (PidfileRef); a standalone script of the lab
// (nsh export) keeps the PID in a file of its own.
type PidRef func(container, pidfile string) string

func (r PidRef) of(container, pidfile string) string {
	if r == nil {
		return PidfileRef(pidfile)
	}
	return r(container, pidfile)
}
