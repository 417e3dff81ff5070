package interp

import (
	"errors"
	"fmt"
	"strings"

	"go.starlark.net/starlark"
)

// FormatError renders an error from a script as one line that starts with
// the script position of the failing call and names the builtin, e.g.
//
//	lab.star:3:5: veth: failed to add veth "a": a link named "a" already exists in host
//
// When the call was nested in functions, the Starlark backtrace comes
// first. A mistake that newcomers make gets a hint at the end (hints.go).
func FormatError(err error) string {
	return formatError(err) + hint(err)
}

func formatError(err error) string {
	var ee *starlark.EvalError
	if !errors.As(err, &ee) {
		return err.Error()
	}
	stack := ee.CallStack
	fn := ""
	if n := len(stack); n > 0 && stack[n-1].Pos.Filename() == "<builtin>" {
		fn = stack[n-1].Name
		stack = stack[:n-1]
	}
	msg := ee.Msg
	if fn != "" && !strings.HasPrefix(msg, fn+": ") && !strings.HasPrefix(msg, "fail: ") {
		msg = fn + ": " + msg
	}
	if len(stack) == 0 {
		return msg
	}
	line := fmt.Sprintf("%s: %s", stack[len(stack)-1].Pos, msg)
	if len(stack) > 1 {
		return strings.TrimRight(stack.String(), "\n") + "\n" + line
	}
	return line
}
