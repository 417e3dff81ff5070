package nsexec

import (
	"context"
	"errors"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/nshlab/nsh/builtins/sys/kernel"
)

// startContainer starts a container in a new namespace, stopped when the
// test ends.
func startContainer(t *testing.T, spec ContainerSpec) (kernel.Namespace, Target) {
	t.Helper()
	_, ns := newNamespace(t)
	dir := t.TempDir()
	spec.Name, spec.Netns = "c", ns.Name()
	spec.Pidfile, spec.Logfile = filepath.Join(dir, "init.pid"), filepath.Join(dir, "init.log")
	if _, err := StartContainer(ns, spec); err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := Stop(spec.Pidfile, syscall.SIGTERM, 2*time.Second); err != nil {
			t.Error(err)
		}
	})
	return ns, Target{Name: "c", Pidfile: spec.Pidfile}
}

func runIn(t *testing.T, tg Target, c Cmd) Result {
	t.Helper()
	res, err := RunIn(context.Background(), tg, c)
	if err != nil {
		t.Fatal(err)
	}
	return res
}

func TestContainer(t *testing.T) {
	_, tg := startContainer(t, ContainerSpec{Hostname: "In Namespace", PID: true, UTS: true, IPC: true, Mount: true})
	if res := runIn(t, tg, Command("hostname")); res.Stdout != "In Namespace\n" {
		t.Errorf("hostname in the container: %+v", res)
	}
	res := runIn(t, tg, Shell("ps -e -o pid=,comm="))
	lines := strings.Split(strings.TrimSpace(res.Stdout), "\n")
	if len(lines) == 0 || strings.Fields(lines[0])[0] != "1" {
		t.Errorf("ps -e in the container:\n%s", res.Stdout)
	}
	if len(lines) > 4 {
		t.Errorf("ps -e in the container lists %d processes, want init, sh, supervisor and ps at most:\n%s", len(lines), res.Stdout)
	}
	for _, ns := range []string{"pid", "uts", "ipc", "mnt", "net"} {
		res := runIn(t, tg, Command("readlink", "/proc/self/ns/"+ns))
		own, _ := os.Readlink("/proc/1/ns/" + ns) // the machine's (the test's)
		if res.Stdout == "" || strings.TrimSpace(res.Stdout) == own {
			t.Errorf("%s namespace in the container %q, outside %q", ns, res.Stdout, own)
		}
	}
}

func TestContainerStopped(t *testing.T) {
	_, ns := newNamespace(t)
	dir := t.TempDir()
	spec := ContainerSpec{Name: "c", PID: true, Mount: true, Pidfile: filepath.Join(dir, "p"), Logfile: filepath.Join(dir, "l")}
	pid, err := StartContainer(ns, spec)
	if err != nil {
		t.Fatal(err)
	}
	tg := Target{Name: "c", Pidfile: spec.Pidfile}
	sleeper, err := StartIn(tg, Command("sleep", "1000"), filepath.Join(dir, "s.pid"), filepath.Join(dir, "s.log"))
	if err != nil {
		t.Fatal(err)
	}
	if err := Stop(spec.Pidfile, syscall.SIGTERM, 2*time.Second); err != nil {
		t.Fatal(err)
	}
	for _, p := range []int{pid, sleeper} {
		if _, err := readProcStat(p); err == nil {
			if st, _ := readProcStat(p); !exited(st.state) {
				t.Errorf("process %d survived the container's stop", p)
			}
		}
	}
	if _, err := RunIn(context.Background(), tg, Command("true")); !errors.Is(err, ErrNotRunning) {
		t.Errorf("RunIn a stopped container: %v", err)
	}
}

func TestUserNSAllowed(t *testing.T) {
	f := filepath.Join(t.TempDir(), "max")
	os.WriteFile(f, []byte("0\n"), 0o644)
	if err := userNSAllowed(f); !errors.Is(err, ErrUserNS) || !strings.Contains(err.Error(), "user.max_user_namespaces is 0") {
		t.Errorf("with 0: %v", err)
	}
	os.WriteFile(f, []byte("100\n"), 0o644)
	if err := userNSAllowed(f); err != nil {
		t.Errorf("with 100: %v", err)
	}
	if err := userNSAllowed(f + "-missing"); !errors.Is(err, ErrUserNS) {
		t.Errorf("missing: %v", err)
	}
}
