package builtins

import (
	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/nshlab/nsh/builtins/sys/nsexec"
	"github.com/nshlab/nsh/builtins/sys/probe"
	"github.com/nshlab/nsh/builtins/sys/userns"
)

// Reexec runs the hidden children that nsh starts by re-executing itself,
// when this process is one of them, and then exits; in any other process
// it returns at once. The children are the set-up of a command run as
// `ip netns exec` runs it (exec_in, spawn, nsh exec: package nsexec), the
// native TCP server of serve() (package probe), the probe of link kinds
// that a plan makes without root (kernel.DriversInit), and the holder of a
// normal user's labs (package userns). In an nsh started by a normal user
// for a command that needs a lab, it re-executes nsh inside the user's own
// namespaces (package userns: nsh without root) and does not return
// either. Every binary that runs
// builtins must call Reexec first thing in main, as cmd/nsh does; it is
// the one hook into the plumbing that the CLI has.
func Reexec() {
	nsexec.Init()
	probe.ServeInit()
	kernel.DriversInit()
	userns.Init()
}
