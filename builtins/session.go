package builtins

import (
	"fmt"

	"go.starlark.net/starlark"
)

// step(name) starts a named step: later changes belong to it.
func stepBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var name string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "name", &name); err != nil {
		return nil, err
	}
	env, err := envOf(thread)
	if err != nil {
		return nil, err
	}
	if name == "" {
		return nil, fmt.Errorf("step name is empty")
	}
	env.Session.StartStep(name, thread.CallFrame(1).Pos.String())
	return starlark.None, nil
}

// undo(steps=1) rolls back the newest steps and returns how many it undid.
func undoBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	n := 1
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "steps?", &n); err != nil {
		return nil, err
	}
	if n < 1 {
		return nil, fmt.Errorf("undo: steps must be at least 1, got %d", n)
	}
	env, err := envOf(thread)
	if err != nil {
		return nil, err
	}
	done, err := env.Session.Undo(n)
	if err != nil {
		return nil, fmt.Errorf("undo: %w", err)
	}
	return starlark.MakeInt(done), nil
}

// journal() lists the live steps: struct(name, ops, pos).
func journalBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	env, err := envOf(thread)
	if err != nil {
		return nil, err
	}
	var out []starlark.Value
	for _, st := range env.Session.Steps() {
		var cmds []starlark.Value
		for _, e := range st.Entries {
			if !e.Live() {
				continue
			}
			for _, c := range e.Op.Explain() {
				cmds = append(cmds, starlark.String(c))
			}
		}
		out = append(out, newRecord("step", starlark.StringDict{
			"name": starlark.String(st.Name),
			"ops":  starlark.NewList(cmds),
			"pos":  starlark.String(st.Pos),
		}))
	}
	return starlark.NewList(out), nil
}
