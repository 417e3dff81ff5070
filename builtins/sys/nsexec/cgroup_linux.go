package nsexec

import (
	"bufio"
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"time"

	"golang.org/x/sys/unix"
)

// Limits are a container's cgroup v2 limits; a zero field sets none.
type Limits struct {
	// Memory is memory.max in bytes.
	Memory int64 `json:"memory,omitempty"`
	// Pids is pids.max.
	Pids int64 `json:"pids,omitempty"`
	// CPU is the share of one CPU (0.5 is half of one, 2 two of them):
	// cpu.max "QUOTA 100000".
	CPU float64 `json:"cpu,omitempty"`
}

// Zero reports whether l sets no limit.
func (l Limits) Zero() bool { return l == Limits{} }

// cpuPeriod is the period of cpu.max, in microseconds (the kernel's
// default).
const cpuPeriod = 100000

// controllers returns the cgroup v2 controllers that l needs.
func (l Limits) controllers() []string {
	var c []string
	if l.CPU != 0 {
		c = append(c, "cpu")
	}
	if l.Memory != 0 {
		c = append(c, "memory")
	}
	if l.Pids != 0 {
		c = append(c, "pids")
	}
	return c
}

// Files returns the interface files of l and their values.
func (l Limits) Files() [][2]string {
	var f [][2]string
	if l.CPU != 0 {
		f = append(f, [2]string{"cpu.max", fmt.Sprintf("%d %d", max(1000, int64(l.CPU*cpuPeriod)), cpuPeriod)})
	}
	if l.Memory != 0 {
		f = append(f, [2]string{"memory.max", strconv.FormatInt(l.Memory, 10)})
	}
	if l.Pids != 0 {
		f = append(f, [2]string{"pids.max", strconv.FormatInt(l.Pids, 10)})
	}
	return f
}

// CgroupParent is the name of the cgroup, under the root of the cgroup v2
// hierarchy, that holds the cgroups of nsh's containers. nsh creates it
// when it needs it, and removes it with its last container.
const CgroupParent = "nsh"

// ErrNoCgroup2 is wrapped by the error for limits on a machine whose
// cgroup v2 cannot hold them.
var ErrNoCgroup2 = errors.New("cgroup v2 cannot hold the limits")

// cgroupMountinfo is where CgroupRoot looks for the cgroup2 mount.
var cgroupMountinfo = "/proc/self/mountinfo"

// CgroupRoot returns the mount point of the cgroup v2 hierarchy
// (/sys/fs/cgroup, or /sys/fs/cgroup/unified on a hybrid machine), or an
// error wrapping ErrNoCgroup2 if none is mounted.
func CgroupRoot() (string, error) {
	f, err := os.Open(cgroupMountinfo)
	if err != nil {
		return "", fmt.Errorf("%w: %v", ErrNoCgroup2, err)
	}
	defer f.Close()
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		// ID PARENT MAJ:MIN ROOT MOUNTPOINT OPTIONS [OPTIONAL...] - FSTYPE SOURCE SUPER
		fields := strings.Fields(sc.Text())
		i := slices.Index(fields, "-")
		if i < 0 || i+1 >= len(fields) || len(fields) < 5 {
			continue
		}
		if fields[i+1] == "cgroup2" {
			return fields[4], nil
		}
	}
	return "", fmt.Errorf("%w: no cgroup2 file system is mounted (the machine runs cgroup v1 only)", ErrNoCgroup2)
}

// CgroupCheck returns nil if the machine's cgroup v2 can hold l, or an
// error wrapping ErrNoCgroup2 that says why not: no cgroup v2, a
// controller that cgroup v1 holds, or one that the root does not hand to
// its children.
func CgroupCheck(l Limits) error {
	if l.Zero() {
		return nil
	}
	root, err := CgroupRoot()
	if err != nil {
		return err
	}
	have, err := readWords(filepath.Join(root, "cgroup.controllers"))
	if err != nil {
		return fmt.Errorf("%w: %v", ErrNoCgroup2, err)
	}
	enabled, _ := readWords(filepath.Join(root, "cgroup.subtree_control"))
	for _, c := range l.controllers() {
		if !slices.Contains(have, c) {
			return fmt.Errorf("%w: the %s controller is not available in the cgroup v2 hierarchy at %s (cgroup.controllers has %q; the machine runs it under cgroup v1)",
				ErrNoCgroup2, c, root, strings.Join(have, " "))
		}
		if !slices.Contains(enabled, c) {
			return fmt.Errorf("%w: the %s controller is not enabled for the children of %s: enable it with `echo +%s > %s`",
				ErrNoCgroup2, c, root, c, filepath.Join(root, "cgroup.subtree_control"))
		}
	}
	if err := unix.Access(root, unix.W_OK); err != nil {
		return fmt.Errorf("%w: %s is not writable: %v", ErrNoCgroup2, root, err)
	}
	return nil
}

func readWords(path string) ([]string, error) {
	b, err := os.ReadFile(path)
	if err != nil {
		return nil, err
	}
	return strings.Fields(string(b)), nil
}

// CgroupDir returns the cgroup directory of a container: NAME under
// CgroupParent.
func CgroupDir(name string) (string, error) {
	root, err := CgroupRoot()
	if err != nil {
		return "", err
	}
	return filepath.Join(root, CgroupParent, name), nil
}

// CgroupCreate creates the cgroup dir (see CgroupDir) with the limits l,
// and its parent if need be, with the controllers l needs enabled for its
// children. It fails if dir exists: nsh never adopts a cgroup. If it
// fails, it leaves nothing behind but the parent it found.
func CgroupCreate(dir string, l Limits) error {
	if err := CgroupCheck(l); err != nil {
		return err
	}
	parent := filepath.Dir(dir)
	madeParent := false
	if err := unix.Mkdir(parent, 0o755); err == nil {
		madeParent = true
	} else if err != unix.EEXIST {
		return fmt.Errorf("failed to create cgroup %s: %w", parent, err)
	}
	undo := func() {
		unix.Rmdir(dir)
		if madeParent {
			unix.Rmdir(parent)
		}
	}
	var plus []string
	for _, c := range l.controllers() {
		plus = append(plus, "+"+c)
	}
	if err := os.WriteFile(filepath.Join(parent, "cgroup.subtree_control"), []byte(strings.Join(plus, " ")), 0); err != nil {
		undo()
		return fmt.Errorf("failed to enable %s in cgroup %s: %w", strings.Join(l.controllers(), ", "), parent, err)
	}
	if err := unix.Mkdir(dir, 0o755); err != nil {
		if err == unix.EEXIST {
			return fmt.Errorf("failed to create cgroup %s: it already exists (nsh never adopts a cgroup it did not create)", dir)
		}
		undo()
		return fmt.Errorf("failed to create cgroup %s: %w", dir, err)
	}
	for _, f := range l.Files() {
		if err := os.WriteFile(filepath.Join(dir, f[0]), []byte(f[1]), 0); err != nil {
			undo()
			return fmt.Errorf("failed to set %s to %q in cgroup %s: %w", f[0], f[1], dir, err)
		}
	}
	return nil
}

// CgroupRemove removes the cgroup dir once its processes are gone (it
// waits up to two seconds for them to be), and its parent if that is
// empty. A cgroup that is already gone is not an error.
func CgroupRemove(dir string) error {
	deadline := time.Now().Add(2 * time.Second)
	for {
		err := unix.Rmdir(dir)
		if err == nil || err == unix.ENOENT {
			break
		}
		if err != unix.EBUSY || time.Now().After(deadline) {
			return fmt.Errorf("failed to remove cgroup %s: %w", dir, err)
		}
		// Kill what is left: the processes of a stopped container.
		if b, rerr := os.ReadFile(filepath.Join(dir, "cgroup.procs")); rerr == nil {
			for _, p := range strings.Fields(string(b)) {
				if pid, err := strconv.Atoi(p); err == nil && pid > 0 {
					unix.Kill(pid, unix.SIGKILL)
				}
			}
		}
		time.Sleep(pollInterval)
	}
	// Other sessions may have containers there: EBUSY leaves it to them.
	unix.Rmdir(filepath.Dir(dir))
	return nil
}
