package builtins

import (
	"errors"
	"fmt"
	"regexp"
	"runtime"
	"sync"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"go.starlark.net/starlark"
	"golang.org/x/sys/unix"
)

func init() {
	extra["has_driver"] = starlark.NewBuiltin("has_driver", hasDriverBuiltin)
}

var driverKind = regexp.MustCompile(`^[a-z][a-z0-9_]{0,30}$`)

// has_driver(kind) -> bool reports whether the kernel can create links of
// a kind ("veth", "bridge", "dummy", "vxlan", ...). It changes nothing.
func hasDriverBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var kind string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "kind", &kind); err != nil {
		return nil, err
	}
	if !driverKind.MatchString(kind) {
		return nil, fmt.Errorf("bad link kind %q: want a word such as \"veth\" or \"dummy\"", kind)
	}
	ok, err := HasDriver(kind)
	if err != nil {
		return nil, err
	}
	return starlark.Bool(ok), nil
}

var drivers struct {
	sync.Mutex
	known map[string]bool
}

// HasDriver reports whether the kernel can create links of kind. It asks
// the kernel, as `ip link add probe type KIND` would (which also loads the
// driver's module if there is one), in a throwaway network namespace that
// dies with the probe, so no namespace of the machine or of a session is
// touched. The answer is cached for the life of the process.
func HasDriver(kind string) (bool, error) {
	drivers.Lock()
	defer drivers.Unlock()
	if ok, seen := drivers.known[kind]; seen {
		return ok, nil
	}
	type answer struct {
		ok  bool
		err error
	}
	c := make(chan answer, 1)
	go func() {
		// The thread enters a new network namespace and is never
		// unlocked: it ends with the goroutine, and the namespace with it.
		runtime.LockOSThread()
		ns, err := netns.New()
		if err != nil {
			c <- answer{err: fmt.Errorf("has_driver(%q): failed to make a namespace to probe in: %w", kind, err)}
			return
		}
		defer ns.Close()
		h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
		if err != nil {
			c <- answer{err: fmt.Errorf("has_driver(%q): %w", kind, err)}
			return
		}
		defer h.Close()
		attrs := netlink.NewLinkAttrs()
		attrs.Name = "nshprobe0"
		err = h.LinkAdd(&netlink.GenericLink{LinkAttrs: attrs, LinkType: kind})
		// Any answer but "unknown device type" means the driver is there
		// (a kind such as vxlan refuses a link without its parameters).
		c <- answer{ok: !errors.Is(err, unix.EOPNOTSUPP)}
	}()
	a := <-c
	if a.err == nil {
		if drivers.known == nil {
			drivers.known = map[string]bool{}
		}
		drivers.known[kind] = a.ok
	}
	return a.ok, a.err
}
