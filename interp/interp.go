package interp

import (
	"context"
	"errors"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"strings"

	"github.com/nshlab/nsh/builtins"
	"github.com/nshlab/nsh/stdlib"
	"go.starlark.net/lib/json"
	"go.starlark.net/lib/math"
	"go.starlark.net/lib/time"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"
)

// StdlibPrefix introduces a module of the embedded standard library.
const StdlibPrefix = "@nsh//"

// FileOptions are the Starlark dialect nsh accepts: top-level if and for
// (labs are scripts, not only definitions), while loops, sets, and
// reassignment of globals (the REPL rebinds names).
var FileOptions = &syntax.FileOptions{
	Set:             true,
	While:           true,
	TopLevelControl: true,
	GlobalReassign:  true,
	Recursion:       true,
}

// An Interp runs scripts against one session.
type Interp struct {
	Env         *builtins.Env
	Predeclared starlark.StringDict
	// Stdout receives print output.
	Stdout io.Writer

	modules map[string]*module
}

type module struct {
	globals starlark.StringDict
	err     error
	loading bool
}

// New returns an interpreter whose builtins act through env.
func New(env *builtins.Env) *Interp {
	pre := builtins.Predeclared(env)
	pre["json"] = json.Module
	pre["time"] = time.Module
	pre["math"] = math.Module
	pre["struct"] = starlark.NewBuiltin("struct", starlarkstruct.Make)
	out := env.Out
	if out == nil {
		out = os.Stdout
	}
	return &Interp{Env: env, Predeclared: pre, Stdout: out, modules: map[string]*module{}}
}

// Thread returns a new thread for running code named name.
func (in *Interp) Thread(name string) *starlark.Thread {
	t := &starlark.Thread{
		Name: name,
		Load: in.load,
		Print: func(_ *starlark.Thread, msg string) {
			fmt.Fprintln(in.Stdout, msg)
		},
	}
	builtins.Attach(t, in.Env)
	return t
}

// MaxScriptSize is the largest script or module that nsh reads: 4 MiB.
// Anything larger is not a lab (load("/dev/zero") would read forever).
const MaxScriptSize = 4 << 20

// ExecFile runs the script at path in thread and returns its globals. The
// script counts as a module being loaded, so that one that loads itself,
// directly or not, is reported as a cycle.
func (in *Interp) ExecFile(thread *starlark.Thread, path string) (starlark.StringDict, error) {
	abs, err := filepath.Abs(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read script: %w", err)
	}
	src, err := readScript(abs)
	if err != nil {
		return nil, fmt.Errorf("failed to read script: %w", err)
	}
	thread.SetLocal(dirKey, filepath.Dir(abs))
	thread.SetLocal(chainKey, []string{displayName(abs)})
	m := &module{loading: true}
	in.modules[abs] = m
	m.globals, m.err = starlark.ExecFileOptions(FileOptions, thread, path, src, in.Predeclared)
	m.loading = false
	if m.err == nil {
		// The script's end is a barrier: what the session deferred is
		// applied, and a failure is the script's (at its own line).
		m.err = in.Env.Barrier()
	}
	return m.globals, m.err
}

const (
	dirKey = "nsh.dir"
	// chainKey holds the modules being loaded on the way to a thread's,
	// main script first, for the message of a cycle.
	chainKey = "nsh.loading"
)

// A LoadError is the failure of a module, as returned to the module that
// loads it. FormatError shows the chain of loads as one backtrace.
type LoadError struct {
	// Module is the module's name, as load() was given it.
	Module string
	// Err is what running the module returned.
	Err error
}

// Error returns the module's error with its position, on one line: it
// follows "cannot load MODULE: " in the loading module's error.
func (e *LoadError) Error() string {
	msg := FormatError(e.Err)
	if i := strings.LastIndexByte(msg, '\n'); i >= 0 {
		msg = msg[i+1:]
	}
	return msg
}

func (e *LoadError) Unwrap() error { return e.Err }

// load implements load() for Starlark threads.
func (in *Interp) load(thread *starlark.Thread, name string) (starlark.StringDict, error) {
	key, src, err := in.resolve(thread, name)
	if err != nil {
		return nil, err
	}
	chain, _ := thread.Local(chainKey).([]string)
	if m, ok := in.modules[key]; ok {
		if m.loading {
			return nil, fmt.Errorf("cycle in load graph: %s", strings.Join(append(cycleFrom(chain, displayName(key)), displayName(key)), " loads "))
		}
		if m.err != nil {
			return nil, &LoadError{Module: name, Err: m.err}
		}
		return m.globals, nil
	}
	m := &module{loading: true}
	in.modules[key] = m
	child := &starlark.Thread{Name: "load " + name, Load: in.load, Print: thread.Print}
	builtins.Attach(child, in.Env)
	builtins.InheritUndoScope(child, thread)
	if !strings.HasPrefix(key, StdlibPrefix) {
		child.SetLocal(dirKey, filepath.Dir(key))
	}
	child.SetLocal(chainKey, append(chain[:len(chain):len(chain)], displayName(key)))
	// An interrupted script interrupts the module it is loading.
	ctx := in.Env.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	stop := context.AfterFunc(ctx, func() { child.Cancel("interrupted") })
	m.globals, m.err = starlark.ExecFileOptions(FileOptions, child, displayName(key), src, in.predeclaredFor(key))
	stop()
	m.loading = false
	if m.err != nil {
		return nil, &LoadError{Module: name, Err: m.err}
	}
	return m.globals, nil
}

// cycleFrom returns the part of chain from the first mention of name on.
func cycleFrom(chain []string, name string) []string {
	for i, c := range chain {
		if c == name {
			return chain[i:]
		}
	}
	return chain
}

// resolve returns a module's cache key and source. Its errors follow
// "cannot load NAME: ".
func (in *Interp) resolve(thread *starlark.Thread, name string) (string, []byte, error) {
	if strings.HasPrefix(name, StdlibPrefix) {
		file := strings.TrimPrefix(name, StdlibPrefix)
		src, err := fs.ReadFile(stdlib.FS, file)
		if err != nil {
			return "", nil, fmt.Errorf("no module %s in nsh's standard library (have: %s)", name, strings.Join(StdlibModules(), ", "))
		}
		return name, src, nil
	}
	path := name
	if !filepath.IsAbs(path) {
		dir, _ := thread.Local(dirKey).(string)
		if dir == "" {
			dir, _ = os.Getwd()
		}
		path = filepath.Join(dir, path)
	}
	src, err := readScript(path)
	if err != nil {
		return "", nil, err
	}
	return path, src, nil
}

// readScript reads a script or a module: a regular file of at most
// MaxScriptSize bytes.
func readScript(path string) ([]byte, error) {
	st, err := os.Stat(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return nil, fmt.Errorf("no file %s", path)
		}
		return nil, err
	}
	if st.IsDir() {
		return nil, fmt.Errorf("%s is a directory, not a file", path)
	}
	if !st.Mode().IsRegular() {
		return nil, fmt.Errorf("%s is not a regular file (nsh reads scripts only from files)", path)
	}
	if st.Size() > MaxScriptSize {
		return nil, fmt.Errorf("%s is larger than the limit of 4 MiB for a script", path)
	}
	f, err := os.Open(path)
	if err != nil {
		return nil, err
	}
	defer f.Close()
	// The file may have grown since Stat, or be a file whose size
	// the kernel does not know (/proc): read one byte past the limit.
	src, err := io.ReadAll(io.LimitReader(f, MaxScriptSize+1))
	if err != nil {
		return nil, fmt.Errorf("failed to read %s: %w", path, err)
	}
	if len(src) > MaxScriptSize {
		return nil, fmt.Errorf("%s is larger than the limit of 4 MiB for a script", path)
	}
	return src, nil
}

func displayName(key string) string {
	if strings.HasPrefix(key, StdlibPrefix) {
		return key
	}
	if wd, err := os.Getwd(); err == nil {
		if rel, err := filepath.Rel(wd, key); err == nil && !strings.HasPrefix(rel, "..") {
			return rel
		}
	}
	return key
}

// StdlibModules lists the standard library's modules as load() names.
func StdlibModules() []string {
	ents, _ := fs.ReadDir(stdlib.FS, ".")
	var out []string
	for _, e := range ents {
		if strings.HasSuffix(e.Name(), ".star") {
			out = append(out, StdlibPrefix+e.Name())
		}
	}
	return out
}
