package nsexec

import (
	"maps"
	"slices"
	"strings"
)

// MaxOutput is the number of bytes of standard output, and separately of
// standard error, that Run keeps. Output beyond it is read and discarded.
const MaxOutput = 16 << 20

// A Cmd describes a command to run in a namespace.
type Cmd struct {
	// Argv is the command and its arguments. Argv[0] is looked up in the
	// PATH of the command's environment, as execvp does.
	Argv []string
	// Env is the command's environment as "KEY=value" strings. If Env is
	// nil, the command inherits nsh's environment.
	Env []string
	// ExtraEnv holds variables added to the environment, overriding
	// variables of the same name.
	ExtraEnv map[string]string
	// Stdin is the command's standard input. If Stdin is nil, the command
	// reads from /dev/null. Start ignores it.
	Stdin []byte
}

// Command returns a Cmd that runs argv.
func Command(argv ...string) Cmd {
	return Cmd{Argv: argv}
}

// Shell returns a Cmd that runs script with /bin/sh -c.
func Shell(script string) Cmd {
	return Cmd{Argv: []string{"/bin/sh", "-c", script}}
}

// A Result is the outcome of a command that ran to completion.
type Result struct {
	// Code is the exit status, or 128 plus the signal number for a
	// process killed by a signal.
	Code int
	// Stdout and Stderr hold what the command wrote, up to MaxOutput
	// bytes each.
	Stdout, Stderr string
}

// environ returns the environment the command runs with.
func (c Cmd) environ(inherited func() []string) []string {
	var env []string
	if c.Env == nil {
		env = inherited()
	} else {
		env = slices.Clone(c.Env)
	}
	for _, k := range slices.Sorted(maps.Keys(c.ExtraEnv)) {
		env = append(env, k+"="+c.ExtraEnv[k])
	}
	return env
}

// String returns a short description of the command for messages: the
// script of a shell command, otherwise the words of Argv.
func (c Cmd) String() string {
	s := strings.Join(c.Argv, " ")
	if len(c.Argv) == 3 && c.Argv[0] == "/bin/sh" && c.Argv[1] == "-c" {
		s = c.Argv[2]
	}
	const max = 60
	if len(s) > max {
		s = s[:max-3] + "..."
	}
	return s
}

// capBuffer keeps the first max bytes written to it and discards the rest,
// so that a chatty command neither blocks nor exhausts memory.
type capBuffer struct {
	buf []byte
	max int
}

func (b *capBuffer) Write(p []byte) (int, error) {
	if room := b.max - len(b.buf); room > 0 {
		b.buf = append(b.buf, p[:min(room, len(p))]...)
	}
	return len(p), nil
}

func (b *capBuffer) String() string { return string(b.buf) }
