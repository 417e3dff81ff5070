package builtins

import (
	"errors"
	"fmt"
	"strings"

	"github.com/nshlab/nsh/builtins/sys/kernel"
	"go.starlark.net/starlark"
)

func init() {
	extra["lookup"] = starlark.NewBuiltin("lookup", lookupBuiltin)
}

// lookup(name, ns=None) finds an existing container, namespace or link by
// name.
func lookupBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	var ns starlark.Value = starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name, "ns?", &ns); err != nil {
		return nil, err
	}
	env, err := envOf(thread)
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, errors.New("name is empty")
	}
	if ns != starlark.None {
		nsName, err := env.nsName(ns, "ns")
		if err != nil {
			return nil, err
		}
		return env.lookupLink(nsName, name)
	}
	if name == kernel.HostName {
		return env.netns(name), nil
	}
	for _, c := range env.Session.Containers() {
		if c.Name == name {
			return &Container{env: env, op: c}, nil
		}
	}
	if kernel.ValidateNetnsName(name) == nil && env.kern().Exists(name) {
		if _, err := env.kern().Namespace(name); err != nil {
			return nil, err
		}
		return env.netns(name), nil
	}
	if err := kernel.ValidateIfName(name); err != nil {
		return nil, fmt.Errorf("no namespace named %q, and %w", name, err)
	}
	places := env.Session.Namespaces()
	var found []*Link
	var where []string
	for _, p := range places {
		if l, err := env.lookupLink(p, name); err == nil {
			found = append(found, l)
			where = append(where, p)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("no namespace or link named %q (links are looked for in %s; give ns= to look elsewhere)", name, strings.Join(places, ", "))
	case 1:
		return found[0], nil
	}
	return nil, fmt.Errorf("links named %q are in %s: say which with ns=", name, strings.Join(where, " and "))
}
