package main

// The floor: the same lab built by a minimal Go program of direct netlink
// calls, in process. Namespaces are made the iproute2 way (unshare on a
// locked thread, bind-mount the thread's namespace file into /run/netns),
// but on one thread that steps back into its original namespace after
// each, so no thread is created or thrown away per namespace; the netlink
// socket of a new namespace is opened while the thread is inside it. Then
// one netlink call per ip command, with ifindexes reused where the library
// hands them back:
//
//	lo up (index 1)                1 round trip
//	LinkAdd veth, peer in the hub  2 (the library re-reads the new index)
//	hub end: LinkByName            1
//	hub end: LinkSetMasterByIndex  1
//	hub end: LinkSetUp             1
//	AddrAdd                        1
//	LinkSetUp                      1
//	RouteAdd default               1
//
// 9 round trips per namespace. A hand-written request could do it in 5
// (the veth created up, the hub end's master and up in one RTM_NEWLINK by
// name), but this is the program a person writes with the library.

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"runtime"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

const netnsDir = "/run/netns"

// floorBuild builds the lab. The caller has checked that the process runs
// in the machine's mount namespace.
func floorBuild(l *lab) (err error) {
	errc := make(chan error, 1)
	go func() {
		runtime.LockOSThread()
		orig, err := netns.Get()
		if err != nil {
			errc <- err
			return // the thread stays locked and ends with the goroutine
		}
		defer orig.Close()
		err = floorBuildOnThread(l, orig)
		// The thread is back in orig unless a setns failed, in which case
		// floorBuildOnThread says so and the thread must die with us.
		var bad *threadLost
		if !errors.As(err, &bad) {
			runtime.UnlockOSThread()
		}
		errc <- err
	}()
	return <-errc
}

type threadLost struct{ err error }

func (t *threadLost) Error() string {
	return "failed to return to the original namespace: " + t.err.Error()
}

// newNamed creates a named namespace on the calling (locked) thread, opens
// a netlink socket inside it, and returns to orig.
func newNamed(name string, orig netns.NsHandle) (h *netlink.Handle, fd int, err error) {
	path := filepath.Join(netnsDir, name)
	f, err := os.OpenFile(path, os.O_RDONLY|os.O_CREATE|os.O_EXCL, 0)
	if err != nil {
		return nil, -1, err
	}
	f.Close()
	if err := unix.Unshare(unix.CLONE_NEWNET); err != nil {
		os.Remove(path)
		return nil, -1, err
	}
	back := func() error {
		if err := netns.Set(orig); err != nil {
			return &threadLost{err}
		}
		return nil
	}
	if err := unix.Mount("/proc/thread-self/ns/net", path, "none", unix.MS_BIND, ""); err != nil {
		os.Remove(path)
		return nil, -1, errors.Join(err, back())
	}
	fd, err = unix.Open("/proc/thread-self/ns/net", unix.O_RDONLY|unix.O_CLOEXEC, 0)
	if err != nil {
		return nil, -1, errors.Join(err, back())
	}
	h, err = netlink.NewHandle(unix.NETLINK_ROUTE) // in the thread's namespace: the new one
	if err != nil {
		unix.Close(fd)
		return nil, -1, errors.Join(err, back())
	}
	if err := back(); err != nil {
		h.Close()
		unix.Close(fd)
		return nil, -1, err
	}
	return h, fd, nil
}

func floorBuildOnThread(l *lab, orig netns.NsHandle) error {
	if err := ensureRunDir(); err != nil {
		return err
	}
	hh, hubFd, err := newNamed(l.hub, orig)
	if err != nil {
		return fmt.Errorf("hub: %w", err)
	}
	defer hh.Close()
	defer unix.Close(hubFd)
	lo := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: 1, Name: "lo"}}
	if err := hh.LinkSetUp(lo); err != nil {
		return fmt.Errorf("hub lo up: %w", err)
	}
	br := &netlink.Bridge{LinkAttrs: netlink.NewLinkAttrs()}
	br.Name = bridgeName
	if err := hh.LinkAdd(br); err != nil {
		return fmt.Errorf("bridge: %w", err)
	}
	a, _ := netlink.ParseAddr(bridgeCIDR)
	if err := hh.AddrAdd(br, a); err != nil {
		return fmt.Errorf("bridge addr: %w", err)
	}
	if err := hh.LinkSetUp(br); err != nil {
		return fmt.Errorf("bridge up: %w", err)
	}
	_, dflt, _ := net.ParseCIDR("0.0.0.0/0")
	gw := net.ParseIP(gateway)
	for i := 1; i <= l.n; i++ {
		if err := floorOne(l, i, orig, hh, hubFd, br.Index, dflt, gw); err != nil {
			return err
		}
	}
	return nil
}

func floorOne(l *lab, i int, orig netns.NsHandle, hh *netlink.Handle, hubFd, brIndex int, dflt *net.IPNet, gw net.IP) error {
	name := l.ns(i)
	h, fd, err := newNamed(name, orig)
	if err != nil {
		return fmt.Errorf("netns %s: %w", name, err)
	}
	defer h.Close()
	unix.Close(fd) // kept only by the pin from here on
	lo := &netlink.Device{LinkAttrs: netlink.LinkAttrs{Index: 1, Name: "lo"}}
	if err := h.LinkSetUp(lo); err != nil {
		return fmt.Errorf("%s lo up: %w", name, err)
	}
	v := &netlink.Veth{LinkAttrs: netlink.NewLinkAttrs(), PeerName: hubEnd(i), PeerNamespace: netlink.NsFd(hubFd)}
	v.Name = inner(i)
	if err := h.LinkAdd(v); err != nil {
		return fmt.Errorf("%s veth: %w", name, err)
	}
	p, err := hh.LinkByName(hubEnd(i))
	if err != nil {
		return fmt.Errorf("%s hub end: %w", name, err)
	}
	if err := hh.LinkSetMasterByIndex(p, brIndex); err != nil {
		return fmt.Errorf("%s master: %w", name, err)
	}
	if err := hh.LinkSetUp(p); err != nil {
		return fmt.Errorf("%s hub end up: %w", name, err)
	}
	a, _ := netlink.ParseAddr(addr(i))
	if err := h.AddrAdd(v, a); err != nil {
		return fmt.Errorf("%s addr: %w", name, err)
	}
	if err := h.LinkSetUp(v); err != nil {
		return fmt.Errorf("%s up: %w", name, err)
	}
	if err := h.RouteAdd(&netlink.Route{Dst: dflt, Gw: gw}); err != nil {
		return fmt.Errorf("%s route: %w", name, err)
	}
	return nil
}

// floorTeardown removes the pins, namespaces first, the hub last, as
// ip netns del does: umount2(MNT_DETACH) and unlink. Nothing else holds
// the namespaces (the build closed its sockets), so the kernel destroys
// them, asynchronously.
func floorTeardown(l *lab) error {
	var errs []error
	for _, name := range append(l.names(), l.hub) {
		if err := unpin(name); err != nil {
			errs = append(errs, err)
		}
	}
	return errors.Join(errs...)
}

func unpin(name string) error {
	path := filepath.Join(netnsDir, name)
	if err := unix.Unmount(path, unix.MNT_DETACH); err != nil && err != unix.EINVAL && err != unix.ENOENT {
		return fmt.Errorf("umount %s: %w", path, err)
	}
	if err := os.Remove(path); err != nil && !errors.Is(err, os.ErrNotExist) {
		return err
	}
	return nil
}

// ensureRunDir makes /run/netns a shared mount, as ip netns add does.
func ensureRunDir() error {
	if err := os.MkdirAll(netnsDir, 0o755); err != nil {
		return err
	}
	bound := false
	for {
		err := unix.Mount("", netnsDir, "none", unix.MS_SHARED|unix.MS_REC, "")
		if err == nil {
			return nil
		}
		if err != unix.EINVAL || bound {
			return fmt.Errorf("make %s shared: %w", netnsDir, err)
		}
		if err := unix.Mount(netnsDir, netnsDir, "none", unix.MS_BIND|unix.MS_REC, ""); err != nil {
			return fmt.Errorf("bind %s: %w", netnsDir, err)
		}
		bound = true
	}
}

// inMachineMountNS reports whether this process runs in PID 1's mount
// namespace, where pins must be made to be visible to everyone.
func inMachineMountNS() bool {
	var self, init unix.Stat_t
	if unix.Stat("/proc/self/ns/mnt", &self) != nil || unix.Stat("/proc/1/ns/mnt", &init) != nil {
		return true // cannot tell; assume so, as ip does
	}
	return self.Ino == init.Ino && self.Dev == init.Dev
}
