package main

import (
	"errors"
	"flag"
	"fmt"
	"io"
	"os"
	"runtime/pprof"
	"sort"
	"strings"

	"github.com/nshlab/nsh/builtins"
)

// A command is one nsh subcommand.
type command struct {
	name    string
	usage   string // the synopsis after "nsh "
	summary string
	help    string // the long explanation
	flags   func(fs *flag.FlagSet)
	run     func(c *ctx) error
}

var commands = map[string]*command{}

func register(c *command) { commands[c.name] = c }

// exitError carries an exit code without printing anything more.
type exitError struct{ code int }

func (e exitError) Error() string { return fmt.Sprintf("exit %d", e.code) }

func main() {
	builtins.Reexec()
	stop := startProfile()
	code := Main(os.Args[1:], os.Stdout, os.Stderr)
	stop()
	os.Exit(code)
}

// startProfile writes a CPU profile to $NSH_CPUPROFILE, if set, for the
// measurements in docs/performance.md.
func startProfile() func() {
	path := os.Getenv("NSH_CPUPROFILE")
	if path == "" {
		return func() {}
	}
	f, err := os.Create(path)
	if err != nil {
		fmt.Fprintln(os.Stderr, "nsh: NSH_CPUPROFILE:", err)
		return func() {}
	}
	pprof.StartCPUProfile(f)
	return func() { pprof.StopCPUProfile(); f.Close() }
}

// Main runs nsh with args and returns the exit code.
func Main(args []string, stdout, stderr io.Writer) int {
	if len(args) == 0 {
		if c, ok := commands["repl"]; ok {
			return runCommand(c, nil, stdout, stderr)
		}
		usage(stderr)
		return 2
	}
	name := args[0]
	switch name {
	case "help", "-h", "--help", "-help":
		if len(args) > 1 {
			if c, ok := commands[args[1]]; ok {
				commandHelp(c, stdout)
				return 0
			}
			fmt.Fprintf(stderr, "nsh: no command %q\n", args[1])
			return 2
		}
		usage(stdout)
		return 0
	case "version", "--version":
		fmt.Fprintln(stdout, "nsh", version)
		return 0
	}
	c, ok := commands[name]
	if !ok {
		if strings.HasSuffix(name, ".star") {
			fmt.Fprintf(stderr, "nsh: no command %q; to run a lab: nsh run %s\n", name, name)
		} else {
			fmt.Fprintf(stderr, "nsh: no command %q; see `nsh help`\n", name)
		}
		return 2
	}
	return runCommand(c, args[1:], stdout, stderr)
}

var version = "0.1.0"

func runCommand(c *command, args []string, stdout, stderr io.Writer) int {
	fs := flag.NewFlagSet("nsh "+c.name, flag.ContinueOnError)
	fs.SetOutput(io.Discard)
	if c.flags != nil {
		c.flags(fs)
	}
	x := &ctx{cmd: c, fs: fs, stdout: stdout, stderr: stderr}
	pos, rest, err := parseInterspersed(fs, args)
	if errors.Is(err, flag.ErrHelp) {
		commandHelp(c, stdout)
		return 0
	}
	if err != nil {
		fmt.Fprintf(stderr, "nsh %s: %v\nusage: nsh %s\n", c.name, err, c.usage)
		return 2
	}
	x.args, x.rest = pos, rest
	if err := c.run(x); err != nil {
		var ee exitError
		if errors.As(err, &ee) {
			return ee.code
		}
		var ue usageError
		if errors.As(err, &ue) {
			fmt.Fprintf(stderr, "nsh %s: %s\nusage: nsh %s\n", c.name, ue.msg, c.usage)
			return 2
		}
		fmt.Fprintf(stderr, "nsh: %v\n", err)
		return 1
	}
	return 0
}

// explain prints the commands of an operation as --explain shows them,
// in the style of sh -x, on standard error. It is the one printer of
// --explain (run, repl) and plan: the session hands it each operation's
// commands, written for its sandbox if it has one (see ops.Explainer).
func (c *ctx) explain(cmds []string) { c.explainTo(c.stderr)(cmds) }

// explainTo returns the printer of explain that writes to w.
func (c *ctx) explainTo(w io.Writer) func([]string) {
	return func(cmds []string) {
		for _, cmd := range cmds {
			fmt.Fprintln(w, "+", cmd)
		}
	}
}

type usageError struct{ msg string }

func (e usageError) Error() string { return e.msg }

// ctx is what a command's run function gets.
type ctx struct {
	cmd            *command
	fs             *flag.FlagSet
	args           []string // positional arguments
	rest           []string // arguments after "--"
	stdout, stderr io.Writer
}

// parseInterspersed parses flags that may come before or after positional
// arguments, up to a "--", after which everything is returned as rest.
func parseInterspersed(fs *flag.FlagSet, args []string) (pos, rest []string, err error) {
	for i := 0; i < len(args); i++ {
		a := args[i]
		if a == "--" {
			return pos, args[i+1:], nil
		}
		if len(a) < 2 || a[0] != '-' {
			pos = append(pos, a)
			continue
		}
		chunk := []string{a}
		name := strings.TrimLeft(a, "-")
		if !strings.Contains(name, "=") {
			if f := fs.Lookup(name); f != nil && !isBoolFlag(f) && i+1 < len(args) {
				chunk = append(chunk, args[i+1])
				i++
			}
		}
		if err := fs.Parse(chunk); err != nil {
			return nil, nil, err
		}
	}
	return pos, nil, nil
}

func isBoolFlag(f *flag.Flag) bool {
	b, ok := f.Value.(interface{ IsBoolFlag() bool })
	return ok && b.IsBoolFlag()
}

func usage(w io.Writer) {
	fmt.Fprint(w, `nsh builds Linux network-namespace labs from Starlark scripts.
Every change is journaled, so a step or the whole lab can be undone.

Usage: nsh COMMAND [ARGS]   (nsh alone opens the REPL)

Commands:
`)
	var names []string
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		fmt.Fprintf(w, "  %-8s %s\n", n, commands[n].summary)
	}
	fmt.Fprint(w, `
Run 'nsh help COMMAND' or 'nsh COMMAND --help' for a command's options.
The language is documented in docs/language.md; in the REPL, help().
`)
}

func commandHelp(c *command, w io.Writer) {
	fmt.Fprintf(w, "usage: nsh %s\n\n%s\n", c.usage, strings.TrimSpace(c.help))
	fs := flag.NewFlagSet(c.name, flag.ContinueOnError)
	if c.flags != nil {
		c.flags(fs)
	}
	has := false
	fs.VisitAll(func(*flag.Flag) { has = true })
	if has {
		fmt.Fprintln(w, "\nOptions:")
		fs.SetOutput(w)
		fs.PrintDefaults()
	}
}
