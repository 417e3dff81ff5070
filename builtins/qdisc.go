package builtins

import (
	"errors"
	"fmt"
	"math"
	"regexp"
	"strconv"
	"strings"

	"github.com/nshlab/nsh/builtins/ops"
	"go.starlark.net/starlark"
)

func init() {
	linkMethods["shape"] = starlark.NewBuiltin("shape", linkShape)
	linkMethods["impair"] = starlark.NewBuiltin("impair", linkImpair)
}

// link.shape(rate, burst=None, latency=None) limits what leaves the link
// to rate, through a token bucket filter (tc qdisc replace ... root tbf).
func linkShape(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var rate starlark.Value
	var burst, latency starlark.Value = starlark.None, starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "rate", &rate, "burst?", &burst, "latency?", &latency); err != nil {
		return nil, err
	}
	l, env, err := linkRecv(thread, b)
	if err != nil {
		return nil, err
	}
	op := &ops.QdiscSet{NS: l.ns, Link: l.name, Qdisc: "tbf"}
	if op.Rate, err = parseRate(rate, "rate"); err != nil {
		return nil, err
	}
	if burst != starlark.None {
		n, err := parseSize(burst, "burst")
		if err != nil {
			return nil, err
		}
		op.Burst = n
	}
	if latency != starlark.None {
		us, err := parseDuration(latency, "latency")
		if err != nil {
			return nil, err
		}
		if us == 0 {
			return nil, errors.New("bad latency 0: tbf needs time to queue packets in; give e.g. \"50ms\"")
		}
		op.Latency = us
	}
	if err := env.apply(op); err != nil {
		return nil, err
	}
	return l, nil
}

// link.impair(delay=None, jitter=None, loss=None, duplicate=None,
// reorder=None, rate=None) delays, drops, duplicates and reorders what
// leaves the link, through netem (tc qdisc replace ... root netem).
func linkImpair(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var delay, jitter, loss, duplicate, reorder, rate starlark.Value = starlark.None, starlark.None, starlark.None, starlark.None, starlark.None, starlark.None
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "delay?", &delay, "jitter?", &jitter, "loss?", &loss,
		"duplicate?", &duplicate, "reorder?", &reorder, "rate?", &rate); err != nil {
		return nil, err
	}
	l, env, err := linkRecv(thread, b)
	if err != nil {
		return nil, err
	}
	op := &ops.QdiscSet{NS: l.ns, Link: l.name, Qdisc: "netem"}
	given := false
	for _, d := range []struct {
		v     starlark.Value
		param string
		to    *uint32
	}{{delay, "delay", &op.Delay}, {jitter, "jitter", &op.Jitter}} {
		if d.v == starlark.None {
			continue
		}
		if *d.to, err = parseDuration(d.v, d.param); err != nil {
			return nil, err
		}
		given = true
	}
	for _, p := range []struct {
		v     starlark.Value
		param string
		to    *float64
	}{{loss, "loss", &op.Loss}, {duplicate, "duplicate", &op.Duplicate}, {reorder, "reorder", &op.Reorder}} {
		if p.v == starlark.None {
			continue
		}
		if *p.to, err = parsePercent(p.v, p.param); err != nil {
			return nil, err
		}
		given = true
	}
	if rate != starlark.None {
		if op.Rate, err = parseRate(rate, "rate"); err != nil {
			return nil, err
		}
		given = true
	}
	switch {
	case !given:
		return nil, errors.New("impair() needs at least one of delay, jitter, loss, duplicate, reorder or rate")
	case op.Jitter > 0 && op.Delay == 0:
		return nil, errors.New("jitter varies the delay: give delay too, e.g. delay=\"100ms\", jitter=\"10ms\"")
	case op.Reorder > 0 && op.Delay == 0:
		return nil, errors.New("reorder sends some packets at once and delays the rest: give delay too, e.g. delay=\"10ms\", reorder=25")
	case op.Jitter > op.Delay:
		return nil, fmt.Errorf("jitter %s is more than the delay %s", usec(op.Jitter), usec(op.Delay))
	}
	if err := env.apply(op); err != nil {
		return nil, err
	}
	return l, nil
}

// usec writes microseconds as milliseconds.
func usec(us uint32) string { return strconv.FormatFloat(float64(us)/1000, 'g', -1, 64) + "ms" }

// numUnit is a number and a unit, with nothing between them.
var numUnit = regexp.MustCompile(`^([0-9]+(?:\.[0-9]*)?|\.[0-9]+)([a-zA-Z%]*)$`)

// rateUnits are tc's units of rate, in bits per second: bit and its
// multiples, and bps (bytes per second) and its multiples.
var rateUnits = map[string]float64{
	"": 1, "bit": 1, "kbit": 1e3, "mbit": 1e6, "gbit": 1e9, "tbit": 1e12,
	"kibit": 1 << 10, "mibit": 1 << 20, "gibit": 1 << 30, "tibit": 1 << 40,
	"bps": 8, "kbps": 8e3, "mbps": 8e6, "gbps": 8e9, "tbps": 8e12,
	"kibps": 8 << 10, "mibps": 8 << 20, "gibps": 8 << 30, "tibps": 8 << 40,
}

// parseRate parses a rate as tc does: an int in bits per second, or a
// string such as "10mbit". (tc's "mbps" is megabytes a second.)
func parseRate(v starlark.Value, param string) (uint64, error) {
	bad := func(s string) error {
		return fmt.Errorf("bad %s %s: want bits per second, or a number and one of tc's units with no space between, "+
			"such as \"10mbit\" (bit, kbit, mbit, gbit; bps, kbps, mbps are bytes a second)", param, s)
	}
	var bits float64
	switch x := v.(type) {
	case starlark.Int:
		n, ok := x.Int64()
		if !ok || n <= 0 {
			return 0, fmt.Errorf("bad %s %s: want a positive number of bits per second", param, x)
		}
		bits = float64(n)
	case starlark.String:
		var ok bool
		if bits, ok = withUnit(string(x), rateUnits); !ok {
			return 0, bad(x.String())
		}
	default:
		return 0, fmt.Errorf("for parameter %s: got %s, want string or int", param, v.Type())
	}
	if bits < 8 {
		return 0, fmt.Errorf("bad %s %s: less than a byte a second", param, v)
	}
	if bits > 1e15 {
		return 0, fmt.Errorf("bad %s %s: more than a petabit a second", param, v)
	}
	return uint64(math.Round(bits)), nil
}

// sizeUnits are tc's units of size, in bytes.
var sizeUnits = map[string]float64{
	"": 1, "b": 1, "k": 1 << 10, "kb": 1 << 10, "m": 1 << 20, "mb": 1 << 20, "g": 1 << 30, "gb": 1 << 30,
	"kbit": 1 << 10 / 8, "mbit": 1 << 20 / 8,
}

// parseSize parses a size in bytes as tc does: an int, or a string
// such as "32kb".
func parseSize(v starlark.Value, param string) (uint32, error) {
	var n float64
	switch x := v.(type) {
	case starlark.Int:
		i, ok := x.Int64()
		if !ok || i <= 0 {
			return 0, fmt.Errorf("bad %s %s: want a positive number of bytes", param, x)
		}
		n = float64(i)
	case starlark.String:
		var ok bool
		if n, ok = withUnit(string(x), sizeUnits); !ok {
			return 0, fmt.Errorf("bad %s %s: want bytes, or a number and a unit with no space between, such as \"32kb\" (b, kb, mb)", param, x)
		}
	default:
		return 0, fmt.Errorf("for parameter %s: got %s, want string or int", param, v.Type())
	}
	if n < 1 || n > 1<<30 {
		return 0, fmt.Errorf("bad %s %s: want 1 byte to 1gb", param, v)
	}
	return uint32(n), nil
}

// withUnit parses a number followed by one of units (case aside) and
// returns it in the units' base: "32kb" with sizeUnits is 32768.
func withUnit(s string, units map[string]float64) (float64, bool) {
	m := numUnit.FindStringSubmatch(s)
	if m == nil {
		return 0, false
	}
	mul, ok := units[strings.ToLower(m[2])]
	if !ok {
		return 0, false
	}
	f, _ := strconv.ParseFloat(m[1], 64)
	return f * mul, true
}

// timeUnits are units of time, in microseconds.
var timeUnits = map[string]float64{"us": 1, "usec": 1, "ms": 1e3, "msec": 1e3, "s": 1e6, "sec": 1e6}

// parseDuration parses a time into microseconds: a number of seconds, as
// nsh's timeouts, or a string with a unit, as tc takes it ("100ms").
func parseDuration(v starlark.Value, param string) (uint32, error) {
	var us float64
	switch x := v.(type) {
	case starlark.Int, starlark.Float:
		f, _ := starlark.AsFloat(x)
		if f < 0 {
			return 0, fmt.Errorf("bad %s %s: a time cannot be negative", param, x)
		}
		us = f * 1e6
	case starlark.String:
		s := string(x)
		if strings.HasPrefix(strings.TrimSpace(s), "-") {
			return 0, fmt.Errorf("bad %s %s: a time cannot be negative", param, x)
		}
		var ok bool
		if us, ok = withUnit(s, timeUnits); !ok {
			return 0, fmt.Errorf("bad %s %s: want seconds, or a number and a unit with no space between, such as \"100ms\" (us, ms, s)", param, x)
		}
	default:
		return 0, fmt.Errorf("for parameter %s: got %s, want string, int or float", param, v.Type())
	}
	if us > 3600e6 {
		return 0, fmt.Errorf("bad %s %s: more than an hour", param, v)
	}
	return uint32(math.Round(us)), nil
}

// parsePercent parses a percentage: a number from 0 to 100, or a string
// such as "1.5%".
func parsePercent(v starlark.Value, param string) (float64, error) {
	var p float64
	switch x := v.(type) {
	case starlark.Int, starlark.Float:
		p, _ = starlark.AsFloat(x)
	case starlark.String:
		s := strings.TrimSuffix(string(x), "%")
		f, err := strconv.ParseFloat(s, 64)
		if err != nil || s != strings.TrimSpace(s) {
			return 0, fmt.Errorf("bad %s %s: want a percentage such as 1.5 or \"1.5%%\"", param, x)
		}
		p = f
	default:
		return 0, fmt.Errorf("for parameter %s: got %s, want a number or string", param, v.Type())
	}
	if p < 0 || p > 100 || math.IsNaN(p) {
		return 0, fmt.Errorf("bad %s %s: a percentage is 0 to 100", param, v)
	}
	return p, nil
}
