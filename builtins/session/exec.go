package session

import (
	"fmt"
	"io"

	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/nshlab/nsh/builtins/sys/nsexec"
)

// Exec runs argv in the network namespace ns as `ip netns exec` does (a
// private mount namespace, /sys remounted, /etc/netns/NS bound over /etc),
// with stdin, stdout and stderr attached, and returns its exit status. If
// name is a session that runs in a sandbox, Host means that sandbox; with
// name "", Host is the machine's own namespace. Exec takes no lock and
// journals nothing: what the command changes is not undone.
//
// If ns names a container of any session (see FindContainer), the command
// enters all its namespaces, as `nsenter --target PID --all` does.
func Exec(name, ns string, argv []string, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if ns != Host {
		if c, _, ok := FindContainer(ns); ok {
			return nsexec.InteractiveIn(c.Target(), nsexec.Cmd{Argv: argv}, stdin, stdout, stderr)
		}
	}
	k, err := kernel.New()
	if err != nil {
		return 0, err
	}
	defer k.Close()
	if name != "" && ns == Host {
		st, err := Inspect(name)
		if err != nil {
			return 0, err
		}
		if st.Meta.Sandbox != "" {
			if err := k.SetHost(st.Meta.Sandbox); err != nil {
				return 0, err
			}
		}
	}
	kns, err := k.Namespace(ns)
	if err != nil {
		return 0, fmt.Errorf("unknown namespace %q", ns)
	}
	return nsexec.Interactive(kns, nsexec.Cmd{Argv: argv}, stdin, stdout, stderr)
}
