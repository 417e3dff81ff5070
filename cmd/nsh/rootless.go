package main

import (
	"errors"
	"flag"

	"github.com/nshlab/nsh/builtins/session"
)

// netFlag defines --net, which only nsh without root uses: package
// userns reads it before the command runs, when it starts the holder of
// the user's labs (docs/rootless.md).
func netFlag(fs *flag.FlagSet) {
	fs.String("net", "", "without root: pasta gives the labs' stand-in for the machine a way out through pasta (package passt); none, the default, gives it none")
}

// checkNet refuses --net=pasta as root, where host is the machine's own
// namespace, or a sandbox that has no way out by design.
func checkNet(c *ctx) error {
	if _, rootless := session.Rootless(); rootless {
		return nil
	}
	switch flagString(c.fs, "net") {
	case "", "none":
		return nil
	}
	return errors.New("--net=pasta is for nsh without root (docs/rootless.md): as root, host is the machine's own namespace, which has its own way out")
}
