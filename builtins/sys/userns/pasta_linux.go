package userns

import (
	"errors"
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
)

// pastaPidFile records the pasta process of a holder started with
// --net=pasta.
const pastaPidFile = "pasta.pid"

// findPasta finds the pasta program (package passt), which gives the
// holder's network namespace outbound connectivity without root.
func findPasta() (string, error) {
	p, err := exec.LookPath("pasta")
	if err != nil {
		return "", errors.New("--net=pasta needs the pasta program, which is not installed: install the passt package (apt install passt, dnf install passt), or leave --net out: then the stand-in for the machine has no way out, as a sandbox")
	}
	return p, nil
}

// startPasta attaches pasta to the network namespace of the holder pid:
// it copies the machine's addresses and routes into it (--config-net) and
// forwards what leaves it through sockets of the user's; connections to
// the default gateway reach the machine's own loopback. pasta forks to
// the background and writes its pid file; the holder stops it when it
// ends.
func startPasta(bin, d string, pid int) error {
	pidf := filepath.Join(d, pastaPidFile)
	cmd := exec.Command(bin, "--config-net", "--quiet", "--pid", pidf, strconv.Itoa(pid))
	cmd.Stdin = nil
	out, err := cmd.CombinedOutput()
	if err != nil {
		os.Remove(pidf)
		return fmt.Errorf("pasta failed to connect your labs to the machine: %v: %s", err, out)
	}
	return nil
}
