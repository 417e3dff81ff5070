package nsexec

import (
	"errors"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"strconv"
	"strings"
	"syscall"

	"github.com/nshlab/nsh/builtins/sys/kernel"
)

// Interactive runs c in ns with the given standard streams (typically the
// terminal), as `ip netns exec` does, and returns its exit status. While
// it runs, nsh ignores SIGINT and SIGQUIT, so that Ctrl-C reaches the
// command as it would in a shell.
func Interactive(ns kernel.Namespace, c Cmd, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	return interactive(netnsPlace{ns}, c, stdin, stdout, stderr)
}

// InteractiveIn runs c in every namespace of the container t, as
// Interactive does in a network namespace.
func InteractiveIn(t Target, c Cmd, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	return interactive(t, c, stdin, stdout, stderr)
}

func interactive(p place, c Cmd, stdin io.Reader, stdout, stderr io.Writer) (int, error) {
	if len(c.Argv) == 0 {
		return 0, errors.New("failed to run a command: the command is empty")
	}
	cmd := exec.Command(selfExe)
	cmd.Args = childArgs(p, "", "", c.Argv)
	cmd.Env = c.environ(os.Environ)
	cmd.Stdin, cmd.Stdout, cmd.Stderr = stdin, stdout, stderr
	cmd.SysProcAttr = &syscall.SysProcAttr{Cloneflags: p.cloneflags()}
	cg, err := inCgroup(cmd.SysProcAttr, p.cgroup())
	if err != nil {
		return 0, fmt.Errorf("failed to start %q in %s: %w", c, p, err)
	}
	defer cg.Close()
	signal.Ignore(syscall.SIGINT, syscall.SIGQUIT)
	defer signal.Reset(syscall.SIGINT, syscall.SIGQUIT)
	if err := p.do(cmd, cmd.Start); err != nil {
		return 0, fmt.Errorf("failed to start %q in %s: %w", c, p, err)
	}
	err = cmd.Wait()
	var ee *exec.ExitError
	if err != nil && !errors.As(err, &ee) {
		return 0, fmt.Errorf("failed to wait for %q: %w", c, err)
	}
	return exitCode(cmd.ProcessState), nil
}

// ExitCode returns the exit status that the nsh which started a process
// with Start recorded when the process ended, if it did.
func ExitCode(pidfile string) (int, bool) {
	b, err := os.ReadFile(pidfile + ".exit")
	if err != nil {
		return 0, false
	}
	n, err := strconv.Atoi(strings.TrimSpace(string(b)))
	return n, err == nil
}
