package interp

import (
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

// ExecFile runs the script at path in thread and returns its globals.
func (in *Interp) ExecFile(thread *starlark.Thread, path string) (starlark.StringDict, error) {
	src, err := os.ReadFile(path)
	if err != nil {
		return nil, fmt.Errorf("failed to read script: %w", err)
	}
	abs, _ := filepath.Abs(path)
	thread.SetLocal(dirKey, filepath.Dir(abs))
	return starlark.ExecFileOptions(FileOptions, thread, path, src, in.Predeclared)
}

const dirKey = "nsh.dir"

// load implements load() for Starlark threads.
func (in *Interp) load(thread *starlark.Thread, name string) (starlark.StringDict, error) {
	key, src, err := in.resolve(thread, name)
	if err != nil {
		return nil, err
	}
	if m, ok := in.modules[key]; ok {
		if m.loading {
			return nil, fmt.Errorf("cycle in load graph: %s loads itself (directly or through other modules)", name)
		}
		return m.globals, m.err
	}
	m := &module{loading: true}
	in.modules[key] = m
	child := &starlark.Thread{Name: "load " + name, Load: in.load, Print: thread.Print}
	builtins.Attach(child, in.Env)
	if !strings.HasPrefix(key, StdlibPrefix) {
		child.SetLocal(dirKey, filepath.Dir(key))
	}
	m.globals, m.err = starlark.ExecFileOptions(FileOptions, child, displayName(key), src, in.predeclaredFor(key))
	m.loading = false
	if m.err != nil {
		m.err = fmt.Errorf("in module %s: %w", name, m.err)
	}
	return m.globals, m.err
}

// resolve returns a module's cache key and source.
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
	src, err := os.ReadFile(path)
	if err != nil {
		if errors.Is(err, fs.ErrNotExist) {
			return "", nil, fmt.Errorf("cannot load %s: no file %s", name, path)
		}
		return "", nil, fmt.Errorf("cannot load %s: %w", name, err)
	}
	return path, src, nil
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
