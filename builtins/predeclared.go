package builtins

import (
	"github.com/nshlab/nsh/builtins/sys/kernel"
	"go.starlark.net/starlark"
)

// Predeclared returns the builtins and values that every nsh script sees,
// with host bound to env's session.
func Predeclared(env *Env) starlark.StringDict {
	d := starlark.StringDict{
		"host": env.netns(kernel.HostName),
	}
	for _, b := range []*starlark.Builtin{
		starlark.NewBuiltin("netns", netnsBuiltin),
		starlark.NewBuiltin("route", routeBuiltin),
		starlark.NewBuiltin("sysctl", sysctlBuiltin),
		starlark.NewBuiltin("ip_forward", ipForward),
		starlark.NewBuiltin("exec_in", execIn),
		starlark.NewBuiltin("spawn", spawnBuiltin),
		starlark.NewBuiltin("ping", pingBuiltin),
		starlark.NewBuiltin("connect", connectBuiltin),
		starlark.NewBuiltin("serve", serveBuiltin),
		starlark.NewBuiltin("step", stepBuiltin),
		starlark.NewBuiltin("undo", undoBuiltin),
		starlark.NewBuiltin("journal", journalBuiltin),
	} {
		d[b.Name()] = b
	}
	for k, v := range extra {
		d[k] = v
	}
	return d
}

// extra holds builtins registered by other files of this package (rules,
// lookups), so that each family stays in its own file.
var extra = starlark.StringDict{}
