package builtins

import (
	"errors"
	"fmt"
	"math"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"

	"github.com/nshlab/nsh/builtins/ops"
	"github.com/nshlab/nsh/builtins/session"
	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/nshlab/nsh/builtins/sys/nsexec"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

func init() {
	extra["container"] = starlark.NewBuiltin("container", containerBuiltin)
}

// Container is a container: a network namespace and the other namespaces
// that its init process holds (see ops.ContainerAdd). It can be used
// wherever a netns can; exec_in and spawn enter all its namespaces.
type Container struct {
	env *Env
	op  *ops.ContainerAdd
}

var (
	_ starlark.HasAttrs   = (*Container)(nil)
	_ starlark.Comparable = (*Container)(nil)
)

func (c *Container) String() string        { return fmt.Sprintf("container(%q)", c.op.Name) }
func (c *Container) Type() string          { return "container" }
func (c *Container) Freeze()               {}
func (c *Container) Truth() starlark.Bool  { return true }
func (c *Container) Hash() (uint32, error) { return starlark.String(c.op.Name).Hash() }

// CompareSameType implements starlark.Comparable: two values of the same
// container are equal.
func (c *Container) CompareSameType(op syntax.Token, y starlark.Value, depth int) (bool, error) {
	return compareNames(op, c.op.Name, y.(*Container).op.Name)
}

// containerMethods are the container's own methods; the other methods of
// its network namespace (sysctl, route, link, links, addrs, routes) are
// the netns's.
var containerMethods = map[string]*starlark.Builtin{
	"exec": starlark.NewBuiltin("exec", containerExec),
}

// Attr implements starlark.HasAttrs.
func (c *Container) Attr(name string) (starlark.Value, error) {
	switch name {
	case "name":
		return starlark.String(c.op.Name), nil
	case "ns":
		return c.env.netns(c.op.NS), nil
	case "hostname":
		if !c.op.UTS {
			return starlark.None, nil
		}
		return starlark.String(c.op.Hostname), nil
	case "pid":
		if _, model := c.env.kern().(ops.ContainerModel); model {
			// A plan starts no container: a pid would be made up.
			c.env.unknown++
			return nil, fmt.Errorf("container %q has no pid in a plan, which starts no process", c.op.Name)
		}
		pid, _ := nsexec.Running(c.op.Pidfile)
		return starlark.MakeInt(pid), nil
	case "rootfs":
		if c.op.Rootfs == "" {
			return starlark.None, nil
		}
		return starlark.String(c.op.Rootfs), nil
	case "cgroup":
		if c.op.Cgroup == "" {
			return starlark.None, nil
		}
		return starlark.String(c.op.Cgroup), nil
	}
	if m, ok := containerMethods[name]; ok {
		return m.BindReceiver(c), nil
	}
	if m, ok := netnsMethods[name]; ok {
		return m.BindReceiver(c.env.netns(c.op.NS)), nil
	}
	return nil, nil
}

// AttrNames implements starlark.HasAttrs.
func (c *Container) AttrNames() []string {
	names := []string{"cgroup", "hostname", "name", "ns", "pid", "rootfs"}
	for k := range netnsMethods {
		names = append(names, k)
	}
	sort.Strings(names)
	return names
}

// running returns nil if the container's init process runs (or the
// kernel is a model, where nothing runs), and an error that says the
// container is gone otherwise.
func (c *Container) running() error {
	if _, model := c.env.kern().(ops.ContainerModel); model {
		return nil
	}
	if _, ok := nsexec.Running(c.op.Pidfile); !ok {
		return fmt.Errorf("container %q: %v (it was undone or torn down)", c.op.Name, nsexec.ErrNotRunning)
	}
	return nil
}

// containerExec is container.exec(cmd, ...) = exec_in(self, cmd, ...).
func containerExec(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	ns := b.Receiver()
	return execCommon(thread, b, args, kwargs, &ns)
}

// containerBuiltin implements container(name, hostname=None, pid=True,
// uts=True, ipc=True, mount=True, user=False, rootfs=None, ns=None,
// memory=None, pids=None, cpu=None).
func containerBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	var hostnameV, rootfsV, nsV, memoryV, pidsV, cpuV starlark.Value = starlark.None, starlark.None, starlark.None, starlark.None, starlark.None, starlark.None
	pid, uts, ipc, mount, user := true, true, true, true, false
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name, "hostname?", &hostnameV,
		"pid?", &pid, "uts?", &uts, "ipc?", &ipc, "mount?", &mount, "user?", &user,
		"rootfs?", &rootfsV, "ns?", &nsV, "memory?", &memoryV, "pids?", &pidsV, "cpu?", &cpuV); err != nil {
		return nil, err
	}
	env, err := envOf(thread)
	if err != nil {
		return nil, err
	}
	if err := kernel.ValidateNetnsName(name); err != nil {
		return nil, fmt.Errorf("bad container name: %w", err)
	}
	op := &ops.ContainerAdd{Name: name, PID: pid, UTS: uts, IPC: ipc, Mount: mount, User: user}

	// The network namespace: its own, named as the container, or one
	// that exists.
	makeNS := nsV == starlark.None
	if makeNS {
		op.NS = name
		if env.kern().Exists(name) {
			return nil, env.namespaceExists(name)
		}
	} else {
		if _, ok := nsV.(*Container); ok {
			return nil, fmt.Errorf("for parameter ns: got container, want netns: two containers cannot share a network namespace here; give their namespace, %s.ns", nsV)
		}
		if op.NS, err = env.nsName(nsV, "ns"); err != nil {
			return nil, err
		}
	}
	if c, who, ok := session.FindContainer(name); ok {
		return nil, fmt.Errorf("container %q already exists: session %q made it (in namespace %q); pick another name", c.Name, who, c.NS)
	}

	h, err := optString(hostnameV, "hostname")
	if err != nil {
		return nil, err
	}
	switch {
	case h != nil && !uts:
		return nil, fmt.Errorf("hostname %q needs uts=True: without a UTS namespace of its own the container has the host's hostname", *h)
	case h != nil:
		op.Hostname = *h
	case uts:
		op.Hostname = name
	}
	if err := checkHostname(op.Hostname); err != nil {
		return nil, err
	}

	r, err := optString(rootfsV, "rootfs")
	if err != nil {
		return nil, err
	}
	if r != nil {
		if !mount {
			return nil, fmt.Errorf("rootfs %q needs mount=True: the container pivots into it in a mount namespace of its own", *r)
		}
		if op.Rootfs, err = checkRootfs(*r); err != nil {
			return nil, err
		}
	}
	if user {
		if err := nsexec.UserNSAllowed(); err != nil {
			return nil, fmt.Errorf("container %q with user=True: %w", name, err)
		}
		op.UID, op.GID = invokingUser()
	}
	if op.Limits, err = containerLimits(memoryV, pidsV, cpuV); err != nil {
		return nil, err
	}
	if !op.Limits.Zero() {
		if err := nsexec.CgroupCheck(op.Limits); err != nil {
			return nil, fmt.Errorf("container %q with limits: %w", name, err)
		}
		if op.Cgroup, err = nsexec.CgroupDir(env.Session.Name + "." + name); err != nil {
			return nil, err
		}
	}

	// A plan runs nothing: its pidfile is named where a run's is.
	if err := env.Barrier(); err != nil {
		return nil, err
	}
	dir := filepath.Join(env.Session.RunDir, "ctr")
	if _, model := env.kern().(ops.ContainerModel); !model {
		if err := os.MkdirAll(dir, 0o755); err != nil {
			return nil, fmt.Errorf("failed to create %s: %w", dir, err)
		}
	}
	op.Pidfile = filepath.Join(dir, name+".pid")
	op.Logfile = filepath.Join(dir, name+".log")

	err = env.Session.Atomic(func() error {
		if makeNS {
			if err := env.apply(&ops.NetnsAdd{Name: name, Lo: true}); err != nil {
				return err
			}
		}
		return env.apply(op)
	})
	if err != nil {
		return nil, err
	}
	return &Container{env: env, op: op}, nil
}

// checkHostname checks a hostname for sethostname(2).
func checkHostname(h string) error {
	if len(h) > nsexec.HostNameMax {
		return fmt.Errorf("hostname %q is %d bytes: the kernel takes at most %d (HOST_NAME_MAX)", h, len(h), nsexec.HostNameMax)
	}
	if strings.ContainsRune(h, 0) {
		return fmt.Errorf("hostname %q contains a NUL byte", h)
	}
	return nil
}

// checkRootfs checks that a rootfs is a directory with a /bin/sh, and
// returns its absolute path.
func checkRootfs(dir string) (string, error) {
	abs, err := filepath.Abs(dir)
	if err != nil {
		return "", fmt.Errorf("bad rootfs %q: %w", dir, err)
	}
	fi, err := os.Stat(abs)
	if err != nil {
		return "", fmt.Errorf("bad rootfs %q: %w", dir, unwrapPath(err))
	}
	if !fi.IsDir() {
		return "", fmt.Errorf("bad rootfs %q: it is not a directory", dir)
	}
	sh, err := inRoot(abs, "/bin/sh")
	if err == nil {
		fi, err = os.Stat(sh)
	}
	if err != nil || fi.IsDir() || fi.Mode()&0o111 == 0 {
		why := "it is not an executable file"
		if err != nil {
			why = unwrapPath(err).Error()
		}
		return "", fmt.Errorf("bad rootfs %q: it has no /bin/sh (%s); a busybox tree makes one: busybox --install -s %s/bin", dir, why, dir)
	}
	return abs, nil
}

// unwrapPath drops the path from an *os.PathError, which the message
// already names.
func unwrapPath(err error) error {
	var pe *os.PathError
	if errors.As(err, &pe) {
		return pe.Err
	}
	return err
}

// inRoot resolves path as a process whose root is root would: symbolic
// links, absolute ones included, stay inside root (a merged /usr makes
// /bin a link to usr/bin).
func inRoot(root, path string) (string, error) {
	parts := strings.Split(strings.Trim(path, "/"), "/")
	cur := root
	for hops := 0; len(parts) > 0; {
		p := parts[0]
		parts = parts[1:]
		switch p {
		case "", ".":
			continue
		case "..":
			if cur != root {
				cur = filepath.Dir(cur)
			}
			continue
		}
		next := filepath.Join(cur, p)
		fi, err := os.Lstat(next)
		if err != nil {
			return "", err
		}
		if fi.Mode()&os.ModeSymlink == 0 {
			cur = next
			continue
		}
		if hops++; hops > 40 {
			return "", fmt.Errorf("too many symbolic links in %s", path)
		}
		target, err := os.Readlink(next)
		if err != nil {
			return "", err
		}
		if strings.HasPrefix(target, "/") {
			cur = root
		}
		parts = append(strings.Split(strings.Trim(target, "/"), "/"), parts...)
	}
	return cur, nil
}

// invokingUser returns the user who ran nsh: the one sudo names, or the
// process's own.
func invokingUser() (uid, gid int) {
	uid, gid = os.Getuid(), os.Getgid()
	if u, err := strconv.Atoi(os.Getenv("SUDO_UID")); err == nil && u >= 0 {
		uid = u
		if g, err := strconv.Atoi(os.Getenv("SUDO_GID")); err == nil && g >= 0 {
			gid = g
		}
	}
	return uid, gid
}

// containerLimits unpacks memory= (bytes, or a string with a K, M or G
// suffix), pids= and cpu= (a number of CPUs).
func containerLimits(memoryV, pidsV, cpuV starlark.Value) (nsexec.Limits, error) {
	var l nsexec.Limits
	if memoryV != starlark.None {
		m, err := byteSize(memoryV)
		if err != nil {
			return l, err
		}
		l.Memory = m
	}
	if pidsV != starlark.None {
		n, ok := pidsV.(starlark.Int)
		v, exact := n.Int64()
		if !ok || !exact || v < 1 {
			return l, fmt.Errorf("for parameter pids: want a positive number of processes, got %s", pidsV)
		}
		l.Pids = v
	}
	if cpuV != starlark.None {
		f, ok := starlark.AsFloat(cpuV)
		if !ok || f <= 0 || f > 1e6 || math.IsNaN(f) {
			return l, fmt.Errorf("for parameter cpu: want a positive number of CPUs (0.5 is half of one), got %s", cpuV)
		}
		l.CPU = f
	}
	return l, nil
}

// byteSize unpacks a memory size: an int of bytes, or "64M", "1G", "512K".
func byteSize(v starlark.Value) (int64, error) {
	bad := fmt.Errorf(`for parameter memory: want a positive number of bytes or a size such as "64M" or "1G", got %s`, v)
	if n, ok := v.(starlark.Int); ok {
		b, exact := n.Int64()
		if !exact || b < 1 {
			return 0, bad
		}
		return b, nil
	}
	s, ok := starlark.AsString(v)
	if !ok || s == "" {
		return 0, bad
	}
	mult := int64(1)
	switch strings.ToUpper(s[len(s)-1:]) {
	case "K":
		mult = 1 << 10
	case "M":
		mult = 1 << 20
	case "G":
		mult = 1 << 30
	}
	if mult > 1 {
		s = s[:len(s)-1]
	}
	n, err := strconv.ParseInt(s, 10, 64)
	if err != nil || n < 1 || n > math.MaxInt64/mult {
		return 0, bad
	}
	return n * mult, nil
}
