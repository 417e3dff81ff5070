package builtins

import (
	"fmt"

	"github.com/nshlab/nsh/builtins/ops"
	"github.com/nshlab/nsh/builtins/sys/kernel"
	"go.starlark.net/starlark"
)

// ns.etc(file, content) writes /etc/netns/NAME/FILE, which processes run
// in the namespace (exec_in, spawn, ip netns exec) see as /etc/FILE.
func netnsEtc(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	n := b.Receiver().(*Netns)
	var file, content string
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "file", &file, "content", &content); err != nil {
		return nil, err
	}
	env, err := envOf(thread)
	if err != nil {
		return nil, err
	}
	if n.name == kernel.HostName {
		return nil, fmt.Errorf("etc: host has no /etc/netns directory: ip netns exec shows /etc/netns/NAME only in a named namespace")
	}
	if err := ops.CheckEtcFile(file); err != nil {
		return nil, fmt.Errorf("etc: %w", err)
	}
	if who := env.ownersOf().Namespace(n.name); who != "" && who != env.Session.Name {
		return nil, othersObject(fmt.Sprintf("namespace %q", n.name), who)
	}
	if err := env.apply(&ops.NetnsEtc{NS: n.name, File: file, Content: content}); err != nil {
		return nil, err
	}
	return n, nil
}
