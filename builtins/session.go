package builtins

import (
	"errors"
	"fmt"

	"github.com/nshlab/nsh/builtins/session"

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

// An UndoScope limits what undo() reverts on a thread. A run that fails
// is rolled back to where it began, and so is a REPL statement; neither
// could be if undo() had reverted steps made before it began, since a
// revert cannot be taken back. So undo() reaches only the steps made since
// the scope's mark, except in a REPL statement that is nothing but a call
// of undo(), which cannot fail after the undo.
type UndoScope struct {
	// Mark is what Session.Mark returned when the run or statement began.
	Mark int
	// What names the run or statement in errors: "this run".
	What string
	// Earlier tells in errors how to undo the steps made before: "run
	// `nsh undo --session lab` after this run".
	Earlier string
	// Free lets the next undo() on the thread reach every step of the
	// session, as `nsh undo` does. undo() clears it.
	Free bool
}

const undoScopeKey = "nsh.undo.scope"

// SetUndoScope limits undo() on thread to sc.
func SetUndoScope(thread *starlark.Thread, sc *UndoScope) {
	thread.SetLocal(undoScopeKey, sc)
}

// InheritUndoScope gives child, the thread of a module that parent loads,
// parent's limit on undo(), without its Free.
func InheritUndoScope(child, parent *starlark.Thread) {
	if sc, ok := parent.Local(undoScopeKey).(*UndoScope); ok {
		c := *sc
		c.Free = false
		child.SetLocal(undoScopeKey, &c)
	}
}

// undo(steps=1) rolls back the newest steps and returns how many it undid.
// It reaches only the steps of its scope (see UndoScope); a thread without
// one may undo the steps this process made.
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
	sc, _ := thread.Local(undoScopeKey).(*UndoScope)
	if sc == nil {
		sc = &UndoScope{What: "this run", Earlier: "run `nsh undo` after this run"}
	}
	var done int
	if sc.Free {
		sc.Free = false
		done, err = env.Session.Undo(n)
	} else {
		done, err = env.Session.UndoSince(sc.Mark, n)
	}
	if errors.Is(err, session.ErrBeforeMark) {
		return nil, fmt.Errorf("undo: cannot undo %d %s: %s has made %d, and undo() does not reach the session's steps from before %s (if %s failed, its rollback could not bring them back); to undo those, %s",
			n, plural(n, "step"), sc.What, done, sc.What, sc.What, sc.Earlier)
	}
	if err != nil {
		return nil, fmt.Errorf("undo: %w", err)
	}
	return starlark.MakeInt(done), nil
}

// plural returns word, with an s unless n is 1.
func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
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
			for _, c := range e.Op.Explain(env.Session.Meta().Sandbox) {
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
