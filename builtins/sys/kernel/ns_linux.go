package kernel

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"runtime"
	"strings"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

// NetnsRunDir is where named namespaces are pinned, as with `ip netns add`:
// /run/netns, unless SetPinDir moved it.
var NetnsRunDir = "/run/netns"

// SetPinDir makes nsh pin named namespaces in dir instead of /run/netns,
// and makes the mount namespace nsh runs in the one whose pins count,
// where otherwise it pins in the machine's (that of PID 1). It serves nsh
// without root (package userns), which runs in a mount namespace of the
// user's own: there /run/netns is the machine's, closed to the user, and
// the machine's mount namespace cannot be entered. Call it before the
// first Kernel is made.
func SetPinDir(dir string) {
	NetnsRunDir = dir
	machineMnt = func() int { return -1 }
}

// HostName is the name by which scripts refer to the session's host
// namespace.
const HostName = "host"

// ErrNoNamespace is returned when a named namespace does not exist.
var ErrNoNamespace = errors.New("no such network namespace")

// linuxNamespace is a Namespace of the machine's kernel: the namespace
// nsh started in, or a named one under /run/netns. It holds an open file
// of the namespace and, once asked for, a netlink handle bound to it.
type linuxNamespace struct {
	// name is the name scripts use: "host" or the /run/netns name.
	name string
	// Path is the file that pins the namespace, or "" for the namespace
	// the nsh process started in.
	Path string

	fd     netns.NsHandle
	pin    uint64 // see PinID
	k      *Linux // for the namespace nsh started in: its kernel, whose spare its sysctls concern
	mu     sync.Mutex
	nl     *netlink.Handle
	closed bool
	LinkCache
}

// Name implements Namespace.
func (n *linuxNamespace) Name() string { return n.name }

// Own reports whether n is the namespace the nsh process runs in, so that
// work in it needs no thread switch.
func (n *linuxNamespace) Own() bool { return n.Path == "" }

// Fd returns the namespace's open file descriptor, valid until Close.
func (n *linuxNamespace) Fd() int { return int(n.fd) }

// Netlink returns the namespace's netlink handle, opening it on first use.
func (n *linuxNamespace) Netlink() (Netlink, error) {
	h, err := n.handle()
	if err != nil {
		return nil, err // not a typed nil
	}
	return h, nil
}

// handle returns the namespace's netlink handle, opening it on first use.
func (n *linuxNamespace) handle() (*netlink.Handle, error) {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return nil, fmt.Errorf("namespace %q: %w", n.name, ErrNoNamespace)
	}
	if n.nl != nil {
		return n.nl, nil
	}
	var h *netlink.Handle
	var err error
	if n.Own() {
		h, err = netlink.NewHandle(unix.NETLINK_ROUTE)
	} else {
		h, err = netlink.NewHandleAt(n.fd, unix.NETLINK_ROUTE)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to open netlink in namespace %q: %w", n.name, err)
	}
	n.nl = h
	return h, nil
}

// Do runs fn on an OS thread switched into the namespace, and switches the
// thread back afterwards. A thread that cannot be switched back is never
// reused: it ends with the goroutine. fn must not start goroutines that
// expect to run in the namespace.
func (n *linuxNamespace) Do(fn func() error) error {
	if n.Own() {
		return fn()
	}
	n.mu.Lock()
	closed := n.closed
	n.mu.Unlock()
	if closed {
		return fmt.Errorf("namespace %q: %w", n.name, ErrNoNamespace)
	}
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("failed to open the current namespace: %w", err)
			return
		}
		defer orig.Close()
		if err := netns.Set(n.fd); err != nil {
			runtime.UnlockOSThread()
			errc <- fmt.Errorf("failed to enter namespace %q: %w", n.name, err)
			return
		}
		ferr := fn()
		if err := netns.Set(orig); err != nil {
			// Leave the thread locked: the runtime ends it with this goroutine.
			errc <- errors.Join(ferr, fmt.Errorf("failed to leave namespace %q: %w", n.name, err))
			return
		}
		runtime.UnlockOSThread()
		errc <- ferr
	}()
	return <-errc
}

// Close releases the namespace's file and netlink handle. A named
// namespace whose file is closed and whose pin is removed is freed by the
// kernel.
func (n *linuxNamespace) Close() {
	n.mu.Lock()
	defer n.mu.Unlock()
	if n.closed {
		return
	}
	n.closed = true
	if n.nl != nil {
		n.nl.Close()
		n.nl = nil
	}
	if !n.Own() {
		n.fd.Close()
	}
}

// Linux is the machine's kernel: the Kernel that nsh changes. The host
// namespace is the one nsh started in, or a named sandbox namespace that
// stands in for it.
type Linux struct {
	mu    sync.Mutex
	own   *linuxNamespace
	host  *linuxNamespace
	named map[string]*linuxNamespace

	spare   *spare // the next new namespace, ready or in the making
	created int    // namespaces created by this process
	closed  bool
}

var _ Kernel = (*Linux)(nil)

// New returns the machine's kernel, whose host is the namespace nsh runs
// in.
func New() (*Linux, error) {
	fd, err := netns.Get()
	if err != nil {
		return nil, fmt.Errorf("failed to open nsh's own network namespace: %w", err)
	}
	own := &linuxNamespace{name: HostName, fd: fd}
	k := &Linux{own: own, host: own, named: map[string]*linuxNamespace{}}
	own.k = k
	return k, nil
}

// SetHost implements Kernel: it makes the named namespace stand in for
// host (the sandbox).
func (k *Linux) SetHost(name string) error {
	path := filepath.Join(NetnsRunDir, name)
	fd, err := openPinned(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return fmt.Errorf("sandbox namespace %q: %w", name, ErrNoNamespace)
		}
		return fmt.Errorf("failed to open sandbox namespace %q: %w", name, err)
	}
	k.mu.Lock()
	if k.host != k.own {
		k.host.Close()
	}
	k.host = &linuxNamespace{name: HostName, Path: path, fd: fd}
	k.mu.Unlock()
	return nil
}

// HostGone implements Kernel.
func (k *Linux) HostGone(name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if k.host != k.own {
		k.host.Close()
	}
	k.host = &linuxNamespace{name: HostName, Path: filepath.Join(NetnsRunDir, name), fd: netns.None(), closed: true}
}

// Host returns the session's host namespace.
func (k *Linux) Host() Namespace { return k.hostNS() }

func (k *Linux) hostNS() *linuxNamespace {
	k.mu.Lock()
	defer k.mu.Unlock()
	return k.host
}

// Sandboxed reports whether host is a sandbox namespace rather than the
// namespace nsh started in.
func (k *Linux) Sandboxed() bool { return !k.hostNS().Own() }

// Namespace returns "host" or the named namespace, opening it on first use.
func (k *Linux) Namespace(name string) (Namespace, error) {
	if name == HostName || name == "" {
		return k.Host(), nil
	}
	return k.Named(name)
}

// Named returns the namespace pinned at /run/netns/NAME.
func (k *Linux) Named(name string) (Namespace, error) {
	ns, err := k.named1(name)
	if err != nil {
		return nil, err // not a typed nil
	}
	return ns, nil
}

func (k *Linux) named1(name string) (*linuxNamespace, error) {
	// A name is a file in /run/netns, never a path: "../../proc/self/ns/net"
	// would reach the machine's own namespace from a sandbox.
	if err := ValidateNetnsName(name); err != nil {
		return nil, fmt.Errorf("bad namespace: %w", err)
	}
	k.mu.Lock()
	defer k.mu.Unlock()
	if ns, ok := k.named[name]; ok {
		return ns, nil
	}
	path := filepath.Join(NetnsRunDir, name)
	fd, err := openPinned(path)
	if err != nil {
		if errors.Is(err, os.ErrNotExist) {
			return nil, fmt.Errorf("namespace %q: %w", name, ErrNoNamespace)
		}
		return nil, fmt.Errorf("failed to open namespace %q: %w", name, err)
	}
	ns := &linuxNamespace{name: name, Path: path, fd: fd}
	k.named[name] = ns
	return ns, nil
}

// Exists reports whether /run/netns/NAME exists.
func (k *Linux) Exists(name string) bool {
	_, err := os.Lstat(filepath.Join(NetnsRunDir, name))
	return err == nil
}

// AddNamed creates a new network namespace pinned at /run/netns/NAME, as
// `ip netns add NAME` does, and with lo brings its loopback up. It fails
// with an error wrapping os.ErrExist if the name is taken. The namespace's
// file and netlink handle are opened by the thread that creates it, while
// it is inside, so that no thread has to switch namespaces for them.
//
// When nsh runs in the machine's mount namespace (the usual case), the
// namespace is a spare made ahead of time (see spare), and the next spare
// is started before AddNamed returns.
func (k *Linux) AddNamed(name string, lo bool) (Namespace, error) {
	var ns *linuxNamespace
	var err error
	if machineMnt() < 0 {
		ns, err = k.pinSpare(name, lo)
	} else {
		ns, err = createNamed(name, lo)
	}
	if err != nil {
		return nil, err
	}
	k.mu.Lock()
	if old, ok := k.named[name]; ok {
		old.Close() // a stale entry for a namespace of that name deleted by someone else
	}
	k.named[name] = ns
	k.mu.Unlock()
	k.prepareSpare(lo)
	return ns, nil
}

// pinSpare pins a spare namespace at /run/netns/NAME. The pin's file is
// created while the spare is still being made, if it is.
func (k *Linux) pinSpare(name string, lo bool) (*linuxNamespace, error) {
	path := filepath.Join(NetnsRunDir, name)
	sp := k.takeSpare(lo)
	if err := createPinFile(name, path); err != nil {
		k.keepSpare(sp)
		return nil, err
	}
	if err := sp.wait(); err != nil {
		os.Remove(path)
		return nil, err
	}
	// The spare's file is a descriptor of this process: /proc/self/fd
	// resolves to the namespace itself, as /proc/PID/ns/net does for
	// `ip netns attach`.
	src := fmt.Sprintf("/proc/self/fd/%d", sp.fd)
	if err := unix.Mount(src, path, "none", unix.MS_BIND, ""); err != nil {
		os.Remove(path)
		k.keepSpare(sp)
		return nil, fmt.Errorf("failed to pin namespace %q at %s: %w", name, path, err)
	}
	return &linuxNamespace{name: name, Path: path, fd: sp.fd, nl: sp.nl, pin: pinID(path)}, nil
}

// PinID returns the unique ID of the mount that pins a namespace AddNamed
// created, or 0 where the kernel has none (before Linux 6.8). Unlike an
// inode number, it is never reused while the machine runs, so it tells
// nsh's pin apart from one someone made under the same name since.
func (n *linuxNamespace) PinID() uint64 { return n.pin }

// pinID returns the unique mount ID of the pin at path, or 0.
func pinID(path string) uint64 {
	var stx unix.Statx_t
	if err := unix.Statx(unix.AT_FDCWD, path, 0, unix.STATX_MNT_ID_UNIQUE, &stx); err != nil {
		return 0
	}
	if stx.Mask&unix.STATX_MNT_ID_UNIQUE == 0 {
		return 0
	}
	return stx.Mnt_id
}

// DeleteNamed removes the pin of /run/netns/NAME, as `ip netns delete`
// does, after closing nsh's own references to it. A namespace that is
// already gone is not an error. With pin other than 0 (the PinID of the
// namespace nsh created), a pin that is another mount (someone deleted the
// namespace and made one of the same name since) is left alone, and the
// error wraps ErrReplaced.
func (k *Linux) DeleteNamed(name string, pin uint64) error {
	return k.DeleteNamedAll([]string{name}, []uint64{pin})[0]
}

// ErrReplaced is returned by DeleteNamed for a pin that now holds another
// namespace than the one nsh created under that name.
var ErrReplaced = errors.New("it is not the namespace nsh created")

// Forget closes nsh's references to a named namespace without deleting it.
func (k *Linux) Forget(name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	if ns, ok := k.named[name]; ok {
		ns.Close()
		delete(k.named, name)
	}
}

// Close releases every namespace file and netlink handle.
func (k *Linux) Close() {
	k.mu.Lock()
	defer k.mu.Unlock()
	k.closed = true
	if sp := k.spare; sp != nil {
		k.spare = nil
		sp.wait()
		sp.close()
	}
	for name, ns := range k.named {
		ns.Close()
		delete(k.named, name)
	}
	if k.host != k.own {
		k.host.Close()
		k.host = k.own
	}
	if k.own.nl != nil {
		k.own.nl.Close()
		k.own.nl = nil
	}
}

// machineMnt is the machine's own mount namespace (see machineMountNS),
// opened once: -1 when nsh already runs in it, which is the usual case.
var machineMnt = sync.OnceValue(machineMountNS)

// inMachineMountNS runs fn in the machine's own mount namespace, so that
// /run/netns pins are visible to every process and outlive nsh. When nsh
// already runs there, fn runs on the calling goroutine; otherwise on a
// thread that enters it and is never reused afterwards. fn must not change
// the thread's network namespace: createNamed does that with its own
// thread handling.
func inMachineMountNS(fn func() error) error {
	if machineMnt() < 0 {
		return fn()
	}
	return onDisposableThread(fn)
}

// onDisposableThread runs fn on a locked thread that has entered the
// machine's mount namespace (if nsh is not in it), and that ends with fn:
// fn may leave it in any namespace.
func onDisposableThread(fn func() error) error {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread() // never unlocked: the thread ends with us
		errc <- func() error {
			if fd := machineMnt(); fd >= 0 {
				if err := unix.Unshare(unix.CLONE_FS); err != nil {
					return fmt.Errorf("failed to unshare the thread's fs: %w", err)
				}
				if err := unix.Setns(fd, unix.CLONE_NEWNS); err != nil {
					return fmt.Errorf("failed to enter the machine's mount namespace: %w", err)
				}
			}
			return fn()
		}()
	}()
	return <-errc
}

// inNewNetns runs fn on a locked thread that has entered the machine's
// mount namespace and unshared a new network namespace; the thread is then
// disposed of. It serves an nsh that runs outside the machine's mount
// namespace (under `unshare -m`); otherwise AddNamed uses spares.
func inNewNetns(fn func() error) error {
	return onDisposableThread(func() error {
		if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
			return fmt.Errorf("failed to create a network namespace: %w", err)
		}
		return fn()
	})
}

// machineMountNS opens the machine's own mount namespace: that of PID 1,
// or, where PID 1's namespaces are closed to us (as under some VM and
// container inits), that of the kernel thread kthreadd, which is the
// initial one. It returns -1 if the calling thread (locked to its
// goroutine) already runs in it, or if neither can be read (then nsh can
// only work in its own). Threads that never unshared their fs share the
// process's mount namespace, so the answer holds for the whole process.
func machineMountNS() int {
	var self unix.Stat_t
	if err := unix.Stat("/proc/self/ns/mnt", &self); err != nil {
		return -1
	}
	for _, pid := range []string{"1", "2"} {
		if pid == "2" {
			comm, err := os.ReadFile("/proc/2/comm")
			if err != nil || strings.TrimSpace(string(comm)) != "kthreadd" {
				break
			}
		}
		fd, err := unix.Open("/proc/"+pid+"/ns/mnt", unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			continue
		}
		var st unix.Stat_t
		if err := unix.Fstat(fd, &st); err != nil {
			unix.Close(fd)
			continue
		}
		if st.Ino == self.Ino && st.Dev == self.Dev {
			unix.Close(fd)
			return -1
		}
		return fd
	}
	return -1
}

// openPinned opens a namespace pinned at path as the machine's own mount
// namespace sees it: from a private mount namespace (as under `unshare -m`
// or `ip netns exec`) the pin made there is not visible.
func openPinned(path string) (netns.NsHandle, error) {
	fd := netns.None()
	err := inMachineMountNS(func() error {
		var err error
		fd, err = netns.GetFromPath(path)
		if err != nil {
			return err
		}
		var st unix.Statfs_t
		if err := unix.Fstatfs(int(fd), &st); err != nil || st.Type != unix.NSFS_MAGIC {
			fd.Close()
			fd = netns.None()
			// A file that pins nothing: left by a crash in the middle of
			// a create, or the namespace was deleted.
			return fmt.Errorf("%s pins no namespace: %w", path, os.ErrNotExist)
		}
		return nil
	})
	return fd, err
}

// ensureRunDir makes /run/netns a shared mount point, as iproute2 does, so
// that pins made in it propagate to mount namespaces created later.
func ensureRunDir() error {
	if err := os.MkdirAll(NetnsRunDir, 0o755); err != nil {
		return fmt.Errorf("failed to create %s: %w", NetnsRunDir, err)
	}
	bound := false
	for {
		err := unix.Mount("", NetnsRunDir, "none", unix.MS_SHARED|unix.MS_REC, "")
		if err == nil {
			return nil
		}
		if err != unix.EINVAL || bound {
			return fmt.Errorf("failed to make %s a shared mount: %w", NetnsRunDir, err)
		}
		if err := unix.Mount(NetnsRunDir, NetnsRunDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("failed to bind-mount %s: %w", NetnsRunDir, err)
		}
		bound = true
	}
}

// pinDir is nsh's state of /run/netns: whether it was made a shared mount,
// and the file whose inode nsh's pins share (see createPinFile): the first
// pin file nsh created, or the first since every name of the previous one
// was deleted.
var pinDir struct {
	sync.Mutex
	ready bool
	file  *os.File
}

// createPinFile creates the empty file /run/netns/NAME that a namespace is
// then bind-mounted on, making /run/netns a shared mount first, once.
//
// The file is a new name for the inode of a pin file nsh created before
// (a hard link, made through the file nsh keeps open), or a new file when
// there is none, or when that inode has no name left. A pin file is only a place to mount on: what it holds is
// the mount, and `ip netns del` unmounts, then unlinks its name. Linking
// costs a directory entry; creating costs an inode, which on ext4 means a
// search of the inode bitmap that grows with every inode deleted in the
// last minutes, as the pins of earlier labs were: 0.1 to 0.5 ms per
// namespace on a disk-backed /run (see docs/performance.md), against 10 µs.
func createPinFile(name, path string) error {
	exists := func() error { return fmt.Errorf("namespace %q already exists: %w", name, os.ErrExist) }
	return inMachineMountNS(func() error {
		pinDir.Lock()
		defer pinDir.Unlock()
		if !pinDir.ready {
			if err := ensureRunDir(); err != nil {
				return err
			}
			pinDir.ready = true
		}
		if f := pinDir.file; f != nil {
			err := unix.Linkat(int(f.Fd()), "", unix.AT_FDCWD, path, unix.AT_EMPTY_PATH)
			if err == nil {
				return nil
			}
			if err == unix.EEXIST {
				return exists()
			}
			// The inode has no name left (every pin sharing it was
			// deleted), or is on another mount: start again with a new one.
			f.Close()
			pinDir.file = nil
		}
		f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0)
		if err != nil {
			if errors.Is(err, os.ErrExist) {
				return exists()
			}
			return fmt.Errorf("failed to create %s: %w", path, err)
		}
		pinDir.file = f
		return nil
	})
}

// createNamed creates a namespace pinned at /run/netns/NAME from a thread
// that enters the machine's mount namespace, for an nsh that runs in
// another one.
func createNamed(name string, lo bool) (*linuxNamespace, error) {
	path := filepath.Join(NetnsRunDir, name)
	if err := createPinFile(name, path); err != nil {
		return nil, err
	}
	ns := &linuxNamespace{name: name, Path: path, fd: -1}
	err := inNewNetns(func() error {
		const self = "/proc/thread-self/ns/net"
		if err := unix.Mount(self, path, "none", unix.MS_BIND, ""); err != nil {
			return fmt.Errorf("failed to pin namespace %q at %s: %w", name, path, err)
		}
		ns.pin = pinID(path)
		fd, err := unix.Open(self, unix.O_RDONLY|unix.O_CLOEXEC, 0)
		if err != nil {
			return fmt.Errorf("failed to open namespace %q: %w", name, err)
		}
		ns.fd = netns.NsHandle(fd)
		if ns.nl, err = netlink.NewHandle(unix.NETLINK_ROUTE); err != nil {
			return fmt.Errorf("failed to open netlink in namespace %q: %w", name, err)
		}
		if lo {
			return loUp(ns.nl)
		}
		return nil
	})
	if err != nil {
		if ns.fd >= 0 {
			ns.fd.Close()
		}
		if ns.nl != nil {
			ns.nl.Close()
		}
		deleteNamed(name, 0) // the pin, if it was made, and the file
		return nil, err
	}
	return ns, nil
}

// DeleteNamedAll deletes the pins of several namespaces, as DeleteNamed
// does each, but together: it unmounts them all, deleteWorkers at a time,
// then removes their files. Unmounts overlap well (each waits for an RCU
// grace period after the mount lock is released), while removing a file
// that was a mount point takes that lock too, so doing it after all the
// unmounts keeps the two from contending. It returns one error per name.
func (k *Linux) DeleteNamedAll(names []string, pins []uint64) []error {
	k.mu.Lock()
	for _, name := range names {
		if ns, ok := k.named[name]; ok {
			ns.Close()
			delete(k.named, name)
		}
	}
	k.mu.Unlock()
	errs := make([]error, len(names))
	if machineMnt() >= 0 || len(names) == 1 {
		// Outside the machine's mount namespace every deletion needs a
		// thread that enters it: one at a time.
		for i, name := range names {
			errs[i] = deleteNamed(name, pins[i])
		}
		return errs
	}
	next := make(chan int)
	var wg sync.WaitGroup
	for w := 0; w < min(deleteWorkers, len(names)); w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := range next {
				errs[i] = unmountPin(names[i], pins[i])
			}
		}()
	}
	for i := range names {
		next <- i
	}
	close(next)
	wg.Wait()
	for i, name := range names {
		if errs[i] == nil {
			errs[i] = removePin(name)
		}
	}
	return errs
}

// deleteWorkers bounds how many pins DeleteNamedAll unmounts at once.
const deleteWorkers = 8

func deleteNamed(name string, pin uint64) error {
	return inMachineMountNS(func() error {
		if err := unmountPin(name, pin); err != nil {
			return err
		}
		return removePin(name)
	})
}

// unmountPin unmounts /run/netns/NAME, unless pin is not 0 and the mount
// there is another one (see DeleteNamed). It must run in the machine's
// mount namespace.
func unmountPin(name string, pin uint64) error {
	path := filepath.Join(NetnsRunDir, name)
	if pin != 0 {
		// A file that pins nothing (left by a crash in the middle of a
		// create) is removed, as before; a pin that is another mount is
		// not nsh's.
		var fs unix.Statfs_t
		if unix.Statfs(path, &fs) == nil && fs.Type == unix.NSFS_MAGIC {
			if id := pinID(path); id != 0 && id != pin {
				return fmt.Errorf("left namespace %q alone: %w", name, ErrReplaced)
			}
		}
	}
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
		return fmt.Errorf("failed to unmount %s: %w", path, err)
	}
	return nil
}

// removePin removes the file /run/netns/NAME once it is unmounted. It must
// run in the machine's mount namespace.
func removePin(name string) error {
	path := filepath.Join(NetnsRunDir, name)
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("failed to remove %s: %w", path, err)
	}
	return nil
}
