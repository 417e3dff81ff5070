package builtins

import (
	"context"
	"errors"
	"fmt"
	"io"
	"os"

	"github.com/nshlab/nsh/builtins/session"
	"github.com/nshlab/nsh/builtins/sys/kernel"
	"go.starlark.net/starlark"
)

const envKey = "nsh.env"

// Env is what builtins need from the program running them. It is stored in
// the Starlark thread.
type Env struct {
	// Session journals and applies every change.
	Session *session.Session
	// Ctx is cancelled when the user interrupts the script.
	Ctx context.Context
	// Out receives the output of print and of probes that report.
	Out io.Writer
}

// Attach stores env in thread.
func Attach(thread *starlark.Thread, env *Env) {
	if env.Ctx == nil {
		env.Ctx = context.Background()
	}
	if env.Out == nil {
		env.Out = os.Stdout
	}
	thread.SetLocal(envKey, env)
}

func envOf(thread *starlark.Thread) (*Env, error) {
	env, _ := thread.Local(envKey).(*Env)
	if env == nil || env.Session == nil {
		return nil, errors.New("no nsh session in this thread")
	}
	return env, nil
}

// envAndNS returns the thread's Env and resolves a builtin's ns argument
// (see nsName).
func envAndNS(thread *starlark.Thread, ns starlark.Value) (*Env, string, error) {
	env, err := envOf(thread)
	if err != nil {
		return nil, "", err
	}
	name, err := env.nsName(ns, "ns")
	return env, name, err
}

// optString unpacks an optional string argument: nil for None.
func optString(v starlark.Value, param string) (*string, error) {
	if v == nil || v == starlark.None {
		return nil, nil
	}
	s, ok := starlark.AsString(v)
	if !ok {
		return nil, fmt.Errorf("for parameter %s: got %s, want string", param, v.Type())
	}
	return &s, nil
}

// kern returns the session's kernel.
func (e *Env) kern() kernel.Kernel { return e.Session.K }

// nsName resolves a namespace argument: a netns value, a name, or None
// for host. The namespace must exist.
func (e *Env) nsName(v starlark.Value, param string) (string, error) {
	var name string
	switch v := v.(type) {
	case nil, starlark.NoneType:
		return kernel.HostName, nil
	case *Netns:
		name = v.name
	case starlark.String:
		name = string(v)
	default:
		return "", fmt.Errorf("for parameter %s: got %s, want netns or string", param, v.Type())
	}
	if name == kernel.HostName {
		return name, nil
	}
	if _, err := e.kern().Namespace(name); err != nil {
		if errors.Is(err, kernel.ErrNoNamespace) {
			return "", fmt.Errorf("unknown namespace %q", name)
		}
		return "", err
	}
	return name, nil
}

// netns returns the netns value for a namespace name.
func (e *Env) netns(name string) *Netns {
	return &Netns{env: e, name: name}
}
