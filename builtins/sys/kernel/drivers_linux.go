package kernel

import (
	"bufio"
	"bytes"
	"errors"
	"os"
	"os/exec"
	"strings"
	"syscall"

	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// driversArg is the hidden first argument that makes DriversInit probe
// link kinds: `BINARY __nsh-drivers KIND...`.
const driversArg = "__nsh-drivers"

// UserDrivers reports which of kinds the kernel can create links of, as
// HasDriver does, without root: it runs this binary again in a new user
// and network namespace of its own (where an unprivileged user may make
// links), which tries each kind there and is gone with its namespace.
// It fails where user namespaces are not allowed. The binary must call
// DriversInit first thing (builtins.Reexec does).
func UserDrivers(kinds []string) (map[string]bool, error) {
	exe, err := os.Executable()
	if err != nil {
		return nil, err
	}
	cmd := exec.Command(exe, append([]string{driversArg}, kinds...)...)
	cmd.SysProcAttr = &syscall.SysProcAttr{
		Cloneflags:  syscall.CLONE_NEWUSER | syscall.CLONE_NEWNET,
		UidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Geteuid(), Size: 1}},
		GidMappings: []syscall.SysProcIDMap{{ContainerID: 0, HostID: os.Getegid(), Size: 1}},
	}
	out, err := cmd.Output()
	if err != nil {
		return nil, err
	}
	got := map[string]bool{}
	sc := bufio.NewScanner(bytes.NewReader(out))
	for sc.Scan() {
		kind, ok, _ := strings.Cut(sc.Text(), " ")
		got[kind] = ok == "yes"
	}
	for _, k := range kinds {
		if _, ok := got[k]; !ok {
			return nil, errors.New("the driver probe did not answer for " + k)
		}
	}
	return got, nil
}

// DriversInit runs the probe of UserDrivers, when this process is one,
// and exits; in any other process it returns at once.
func DriversInit() {
	if len(os.Args) < 2 || os.Args[1] != driversArg {
		return
	}
	h, err := netlink.NewHandle(unix.NETLINK_ROUTE)
	if err != nil {
		os.Exit(1)
	}
	for i, kind := range os.Args[2:] {
		attrs := netlink.NewLinkAttrs()
		attrs.Name = "nshprobe" + string(rune('a'+i%26))
		err := h.LinkAdd(&netlink.GenericLink{LinkAttrs: attrs, LinkType: kind})
		ok := "yes"
		if errors.Is(err, unix.EOPNOTSUPP) {
			ok = "no"
		}
		os.Stdout.WriteString(kind + " " + ok + "\n")
	}
	os.Exit(0)
}
