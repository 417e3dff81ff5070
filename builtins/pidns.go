package builtins

import (
	"fmt"

	"go.starlark.net/starlark"
)

func init() {
	extra["netns_of"] = starlark.NewBuiltin("netns_of", netnsOf)
}

// netns_of(process) returns the namespace a process is in: a process of
// spawn() or serve(), or any process by its pid. The value is the
// namespace's own (host, or a named one) and is accepted wherever a
// namespace is; link.move() and veth(peer_ns=) given it name the
// namespace by the pid, as `ip link set X netns PID` does.
func netnsOf(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var p starlark.Value
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "process", &p); err != nil {
		return nil, err
	}
	env, err := envOf(thread)
	if err != nil {
		return nil, err
	}
	if pr, ok := p.(*Process); ok && pr.planned {
		// A plan starts no process, but knows where it would run.
		return env.netns(pr.op.NS), nil
	}
	pid, err := pidOf(p, "process")
	if err != nil {
		return nil, err
	}
	return env.netnsOfPid(pid)
}

// netnsOfPid returns the namespace of process pid, which must have a name.
func (e *Env) netnsOfPid(pid int) (*Netns, error) {
	if err := e.Barrier(); err != nil {
		return nil, err
	}
	name, err := e.kern().NameOfPid(pid)
	if err != nil {
		return nil, fmt.Errorf("netns_of(%d): %w; nsh works in host and in the namespaces of /run/netns (give one a name with ip netns attach NAME %d)", pid, err, pid)
	}
	return &Netns{env: e, name: name, pid: pid}, nil
}

// pidOf unpacks a process argument: a process value or a pid.
func pidOf(v starlark.Value, param string) (int, error) {
	switch v := v.(type) {
	case *Process:
		if v.pid <= 0 {
			return 0, fmt.Errorf("for parameter %s: %s has no pid", param, v)
		}
		return v.pid, nil
	case starlark.Int:
		pid, ok := v.Int64()
		if !ok || pid <= 0 || pid > 1<<22 {
			return 0, fmt.Errorf("for parameter %s: bad pid %s", param, v)
		}
		return int(pid), nil
	}
	return 0, fmt.Errorf("for parameter %s: got %s, want process or int (a pid)", param, v.Type())
}

// nsRef resolves a namespace argument that may also be given by a
// process (a process value, a pid, or a netns_of value): it returns the
// namespace's name, and the pid where a process gave it.
func (e *Env) nsRef(v starlark.Value, param string) (string, int, error) {
	switch v := v.(type) {
	case *Netns:
		if v.pid > 0 {
			return v.name, v.pid, nil
		}
	case *Process, starlark.Int:
		if pr, ok := v.(*Process); ok && pr.planned {
			// A plan starts no process: the namespace by its name.
			return pr.op.NS, 0, nil
		}
		pid, err := pidOf(v, param)
		if err != nil {
			return "", 0, err
		}
		n, err := e.netnsOfPid(pid)
		if err != nil {
			return "", 0, err
		}
		return n.name, pid, nil
	}
	name, err := e.nsName(v, param)
	return name, 0, err
}
