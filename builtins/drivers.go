package builtins

import (
	"fmt"
	"regexp"

	"github.com/nshlab/nsh/builtins/sys/kernel"
	"go.starlark.net/starlark"
)

func init() {
	extra["has_driver"] = starlark.NewBuiltin("has_driver", hasDriverBuiltin)
}

var driverKind = regexp.MustCompile(`^[a-z][a-z0-9_]{0,30}$`)

// has_driver(kind) -> bool reports whether the kernel can create links of
// a kind ("veth", "bridge", "dummy", "vxlan", ...). It changes nothing.
func hasDriverBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var kind string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "kind", &kind); err != nil {
		return nil, err
	}
	if !driverKind.MatchString(kind) {
		return nil, fmt.Errorf("bad link kind %q: want a word such as \"veth\" or \"dummy\"", kind)
	}
	env, err := envOf(thread)
	if err != nil {
		return nil, err
	}
	ok, err := env.kern().HasDriver(kind)
	if err != nil {
		return nil, err
	}
	return starlark.Bool(ok), nil
}

// HasDriver reports whether the machine's kernel can create links of
// kind (see kernel.Linux.HasDriver).
func HasDriver(kind string) (bool, error) { return kernel.HasDriver(kind) }
