package userns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"

	"golang.org/x/sys/unix"
)

// pastaPidFile records the pasta process of a holder started with
// --net=pasta.
const pastaPidFile = "pasta.pid"

// tunDev is the device pasta opens, inside the holder's user and network
// namespaces but with the permissions of the machine's /dev, to make the
// tap link through which the holder's namespace reaches the machine.
const tunDev = "/dev/net/tun"

// findPasta finds the pasta program (package passt), which gives the
// holder's network namespace outbound connectivity without root, and
// checks that the user may open /dev/net/tun, without which pasta cannot
// make its tap link: distributions' udev rules make it mode 0666, but a
// machine without udev (a container, a minimal VM) may leave it 0600.
func findPasta() (string, error) {
	p, err := exec.LookPath("pasta")
	if err != nil {
		return "", errors.New("--net=pasta needs the pasta program, which is not installed: install the passt package (apt install passt, dnf install passt), or leave --net out: then the stand-in for the machine has no way out, as a sandbox")
	}
	if err := unix.Access(tunDev, unix.R_OK|unix.W_OK); err != nil {
		return "", fmt.Errorf("--net=pasta needs %s, which you may not open (%v): pasta makes its link to the machine with it; ask root to allow it, as distributions' udev rules do (sudo chmod 0666 %s), or leave --net out: then the stand-in for the machine has no way out, as a sandbox", tunDev, err, tunDev)
	}
	return p, nil
}

// startPasta attaches pasta to the holder pid: given a pid, pasta joins
// that process's user namespace and then its network namespace (so it has
// CAP_NET_ADMIN there, as the holder's root), makes a tap link in it
// named after the machine's interface, and copies the machine's
// addresses and routes onto it (--config-net). What leaves through it
// goes out through sockets of the user's on the machine; TCP connections
// to the default gateway's address reach the machine's own loopback
// (pasta's default, which --no-map-gw would turn off). pasta forks to the
// background once its pid file is written; it ends when the holder's
// network namespace does, and the holder also stops it when it ends.
func startPasta(bin, d string, pid int) error {
	pidf := filepath.Join(d, pastaPidFile)
	cmd := exec.Command(bin, "--config-net", "--quiet", "--pid", pidf, strconv.Itoa(pid))
	cmd.Stdin = nil
	out, err := cmd.CombinedOutput()
	if err != nil {
		os.Remove(pidf)
		return fmt.Errorf("pasta failed to connect your labs to the machine: %v: %s", err, pastaMessage(out))
	}
	return nil
}

// pastaMessage is what pasta said, in one line, without the lines it
// writes when the machine has no syslog socket ("Failed to send 45 bytes
// to syslog"), which say nothing about the failure.
func pastaMessage(out []byte) string {
	var lines []string
	for _, l := range strings.Split(string(out), "\n") {
		l = strings.TrimSpace(l)
		if l == "" || (strings.HasPrefix(l, "Failed to send ") && strings.HasSuffix(l, " to syslog")) {
			continue
		}
		lines = append(lines, l)
	}
	return strings.Join(lines, "; ")
}

// stopPasta stops the pasta that the pid file in d names, if it still
// runs, and removes the file. The holder calls it as it ends; so does the
// next nsh when the holder was killed: pasta attached to a process does
// not end with it, and its tap link would keep the lost network namespace
// alive. The file's pid counts only if that process is still pasta (a
// pid reused by another program of the user's is left alone); Debian's
// pasta runs as passt.avx2 where the CPU has AVX2.
func stopPasta(d string) {
	pidf := filepath.Join(d, pastaPidFile)
	b, err := os.ReadFile(pidf)
	if err != nil {
		return
	}
	if pid, err := strconv.Atoi(strings.TrimSpace(string(b))); err == nil && pid > 0 {
		comm, _ := os.ReadFile(fmt.Sprintf("/proc/%d/comm", pid))
		if c := string(comm); strings.HasPrefix(c, "pasta") || strings.HasPrefix(c, "passt") {
			unix.Kill(pid, unix.SIGTERM)
		}
	}
	os.Remove(pidf)
}
