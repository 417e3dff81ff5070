package ops_test

import (
	"errors"
	"os"
	"strings"
	"testing"

	"github.com/nshlab/nsh/builtins/ops"
	"github.com/nshlab/nsh/builtins/sys/model"
)

// TestContainerInModel applies a container to the model: a namespace and
// a record that runs nothing, which undo removes.
func TestContainerInModel(t *testing.T) {
	k := model.New(model.Options{})
	n := &ops.NetnsAdd{Name: "c1", Lo: true}
	c := &ops.ContainerAdd{Name: "c1", NS: "c1", Hostname: "In Namespace", PID: true, UTS: true, IPC: true, Mount: true, Pidfile: "/nonexistent/c1.pid", Logfile: "/nonexistent/c1.log"}
	for _, op := range []ops.Op{n, c, &ops.ProcSpawn{NS: "c1", Container: "c1", Enter: c.Pidfile, Argv: []string{"sleep", "1"}, Pidfile: "/nonexistent/p", Logfile: "/nonexistent/l"}} {
		if err := op.Apply(k); err != nil {
			t.Fatalf("%s: %v", op.Kind(), err)
		}
	}
	if got := k.Containers(); got["c1"] != "c1" || len(got) != 1 {
		t.Errorf("containers after apply: %v", got)
	}
	if err := c.Apply(k); !errors.Is(err, os.ErrExist) {
		t.Errorf("a second container c1: %v", err)
	}
	bad := &ops.ContainerAdd{Name: "c2", NS: "nope"}
	if err := bad.Apply(k); err == nil || !strings.HasPrefix(err.Error(), `failed to add container "c2": no such namespace`) {
		t.Errorf("container in a missing namespace: %v", err)
	}
	for _, op := range []ops.Op{c, c, n} {
		if err := op.Revert(k); err != nil {
			t.Fatalf("revert %s: %v", op.Kind(), err)
		}
	}
	if got := k.Containers(); len(got) != 0 {
		t.Errorf("containers after revert: %v", got)
	}
}
