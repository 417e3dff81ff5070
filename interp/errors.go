package interp

import (
	"errors"
	"fmt"
	"os"
	"strings"
	"syscall"

	"github.com/nshlab/nsh/builtins/session"
	"go.starlark.net/starlark"
)

// FormatError renders an error from a script as one line that starts with
// the script position of the failing call and names the builtin, e.g.
//
//	lab.star:3:5: veth: failed to add veth "a": a link named "a" already exists in host
//
// When the call was nested in functions, or in modules that load() the
// failing one, the Starlark backtrace comes first, through the loads. A
// mistake that newcomers make gets a hint at the end (hints.go).
func FormatError(err error) string {
	return formatError(err, "") + hint(err)
}

// FormatInterrupted renders an error that an interruption (a signal)
// caused as the position the script was executing and "interrupted
// (why)", with the backtrace of nested calls first. The error's own
// message ("context canceled", "Starlark computation cancelled") is not
// shown: it says less than the position does.
func FormatInterrupted(err error, why string) string {
	return formatError(err, "interrupted ("+why+")")
}

// starlarkMaxDepth is the depth of nested calls at which Starlark stops a
// recursion ("Starlark stack overflow", in starlark.Function.CallInternal).
const starlarkMaxDepth = 100_000

// formatError is FormatError without the hint, with the message replaced
// by override if not empty.
func formatError(err error, override string) string {
	// An operation the session deferred failed at a barrier: the error
	// is at the position of the builtin that asked for it.
	var de *session.DeferredError
	if errors.As(err, &de) && override == "" {
		return de.Error()
	}
	var ee *starlark.EvalError
	if !errors.As(err, &ee) {
		if override != "" {
			return override
		}
		return err.Error()
	}
	frames, ee := loadFrames(ee)
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
	if ee.Msg == "Starlark stack overflow" {
		msg = fmt.Sprintf("recursion too deep: more than %s nested calls, Starlark's limit", commas(starlarkMaxDepth))
	}
	if override != "" {
		msg = override
	}
	stack = append(frames, stack...)
	if len(stack) == 0 {
		return msg
	}
	line := fmt.Sprintf("%s: %s", stack[len(stack)-1].Pos, msg)
	if len(stack) > 1 {
		return traceback(stack) + "\n" + line
	}
	return line
}

// loadFrames follows an error through the modules that load() the failing
// one: it returns the frames of the loading modules, outermost first,
// each load statement's named for the module it loads, and the failing
// module's error.
func loadFrames(ee *starlark.EvalError) (starlark.CallStack, *starlark.EvalError) {
	var frames starlark.CallStack
	for {
		var le *LoadError
		var inner *starlark.EvalError
		if !errors.As(ee.Unwrap(), &le) || !errors.As(le.Err, &inner) {
			return frames, ee
		}
		n := len(frames)
		frames = append(frames, ee.CallStack...)
		if len(frames) > n {
			frames[len(frames)-1].Name += ", loading " + le.Module
		}
		ee = inner
	}
}

// The frames a long backtrace shows: the outermost ones, where the calls
// began, and the innermost ones, where they failed.
const (
	outerFrames = 3
	innerFrames = 10
)

// traceback renders stack as Starlark does, outermost call first. Of a
// deep one (a runaway recursion), only the outermost and the innermost
// frames are shown, with a count of those left out and the functions
// they were in.
func traceback(stack starlark.CallStack) string {
	var b strings.Builder
	b.WriteString("Traceback (most recent call last):")
	write := func(frames starlark.CallStack) {
		for _, fr := range frames {
			fmt.Fprintf(&b, "\n  %s: in %s", fr.Pos, fr.Name)
		}
	}
	if len(stack) <= outerFrames+innerFrames+1 {
		write(stack)
		return b.String()
	}
	left := stack[outerFrames : len(stack)-innerFrames]
	var names []string
	seen := map[string]bool{}
	for _, fr := range left {
		if !seen[fr.Name] {
			seen[fr.Name] = true
			names = append(names, fr.Name)
		}
	}
	if len(names) > 3 {
		names = append(names[:3], fmt.Sprintf("%d other functions", len(names)-3))
	}
	write(stack[:outerFrames])
	fmt.Fprintf(&b, "\n  ... %s more frames of %s", commas(len(left)), strings.Join(names, ", "))
	write(stack[len(stack)-innerFrames:])
	return b.String()
}

// commas writes n with a comma between groups of three digits.
func commas(n int) string {
	s := fmt.Sprint(n)
	if n < 0 {
		return "-" + commas(-n)
	}
	for i := len(s) - 3; i > 0; i -= 3 {
		s = s[:i] + "," + s[i:]
	}
	return s
}

// SignalName names a signal as kill(1) does (SIGINT), for the message of
// an interrupted script: FormatInterrupted(err, SignalName(sig)).
func SignalName(sig os.Signal) string {
	switch sig {
	case syscall.SIGINT:
		return "SIGINT"
	case syscall.SIGTERM:
		return "SIGTERM"
	case syscall.SIGHUP:
		return "SIGHUP"
	}
	return sig.String()
}
