package builtins

import (
	"context"
	"fmt"
	"time"

	"github.com/nshlab/nsh/builtins/sys/probe"
	"go.starlark.net/starlark"
)

func init() {
	extra["throughput"] = starlark.NewBuiltin("throughput", throughputBuiltin)
	structEntries["throughput"] = "throughput"
}

// throughput(ns, addr, seconds=1, timeout=5) -> struct(ok, bps, mbps,
// bytes, seconds, error) sends TCP from ns to a sink that serve(...,
// sink=True) runs at addr for seconds, and returns the rate the sink
// received at, in bits per second.
func throughputBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var ns starlark.Value
	var addr string
	var sv starlark.Value = starlark.MakeInt(1)
	var tv starlark.Value = starlark.MakeInt(5)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "ns", &ns, "addr", &addr, "seconds?", &sv, "timeout?", &tv); err != nil {
		return nil, err
	}
	env, nsName, err := envAndNS(thread, ns)
	if err != nil {
		return nil, err
	}
	if err := checkAddr(addr, false); err != nil {
		return nil, err
	}
	d, err := seconds(sv, "seconds")
	if err != nil {
		return nil, err
	}
	if d < 10*time.Millisecond || d > time.Hour {
		return nil, fmt.Errorf("bad seconds %s: want 0.01 to 3600", sv)
	}
	timeout, err := seconds(tv, "timeout")
	if err != nil {
		return nil, err
	}
	kns, err := env.observe(nsName)
	if err != nil {
		return nil, err
	}
	r := probe.Throughput(env.Ctx, env.kern(), kns, addr, d, timeout)
	if env.Ctx.Err() != nil {
		return nil, fmt.Errorf("throughput to %s from %s: %w", addr, nsLabel(nsName), context.Cause(env.Ctx))
	}
	return newRecord("throughput", starlark.StringDict{
		"ok":      starlark.Bool(r.OK),
		"bps":     starlark.Float(r.BitsPerSecond),
		"mbps":    starlark.Float(r.BitsPerSecond / 1e6),
		"bytes":   starlark.MakeInt64(r.Bytes),
		"seconds": starlark.Float(r.Elapsed.Seconds()),
		"error":   starlark.String(r.Error),
	}), nil
}
