package ops

import (
	"reflect"
	"testing"

	"github.com/nshlab/nsh/builtins/sys/nsexec"
)

func TestContainerExplain(t *testing.T) {
	for _, c := range []struct {
		op   Op
		want []string
	}{
		{&ContainerAdd{Name: "c1", NS: "c1", Hostname: "In Namespace", PID: true, UTS: true, IPC: true, Mount: true},
			[]string{`ip netns exec c1 unshare --fork --pid --mount-proc --uts --ipc sh -c 'hostname '\''In Namespace'\''; exec sleep infinity' &`}},
		{&ContainerAdd{Name: "c2", NS: "host", Mount: true, User: true, UID: 1000, GID: 100, Rootfs: "/srv/root"},
			[]string{`unshare --mount --user --map-user=1000 --map-group=100 --root=/srv/root sh -c 'exec sleep infinity' &`}},
		{&ContainerAdd{Name: "c3", NS: "n", PID: true, Limits: nsexec.Limits{Memory: 64 << 20, Pids: 20, CPU: 0.5}, Cgroup: "/sys/fs/cgroup/nsh/s.c3"},
			[]string{"mkdir /sys/fs/cgroup/nsh/s.c3",
				"echo '50000 100000' > /sys/fs/cgroup/nsh/s.c3/cpu.max",
				"echo 67108864 > /sys/fs/cgroup/nsh/s.c3/memory.max",
				"echo 20 > /sys/fs/cgroup/nsh/s.c3/pids.max",
				"echo $$ > /sys/fs/cgroup/nsh/s.c3/cgroup.procs; ip netns exec n unshare --fork --pid sh -c 'exec sleep infinity' &"}},
		{&ProcSpawn{NS: "c1", Container: "c1", Enter: "/run/nsh/s/ctr/c1.pid", Argv: []string{"sleep", "9"}},
			[]string{`nsenter --target "$(cut -d' ' -f1 /run/nsh/s/ctr/c1.pid)" --all sleep 9 &`}},
	} {
		if got := c.op.Explain(""); !reflect.DeepEqual(got, c.want) {
			t.Errorf("%T.Explain() =\n%q, want\n%q", c.op, got, c.want)
		}
	}
}
