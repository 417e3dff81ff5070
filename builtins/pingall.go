package builtins

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/nshlab/nsh/builtins/sys/probe"
	"go.starlark.net/starlark"
)

func init() {
	extra["pingall"] = starlark.NewBuiltin("pingall", pingallBuiltin)
}

// pingall(nodes, timeout=1) -> pingall: every node pings every address of
// every other node, concurrently (probe.PingAll).
func pingallBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	var nodesV starlark.Value
	var tv starlark.Value = starlark.MakeInt(1)
	if err := starlark.UnpackArgs(b.Name(), args, kwargs, "nodes", &nodesV, "timeout?", &tv); err != nil {
		return nil, err
	}
	env, err := envOf(thread)
	if err != nil {
		return nil, err
	}
	names, err := env.pingallNodes(nodesV)
	if err != nil {
		return nil, err
	}
	timeout, err := seconds(tv, "timeout")
	if err != nil {
		return nil, err
	}
	nss := make([]kernel.Namespace, len(names))
	addrs := make([][]probe.NodeAddr, len(names))
	if err := env.Barrier(); err != nil {
		return nil, err
	}
	for i, name := range names {
		if nss[i], err = env.kern().Namespace(name); err != nil {
			return nil, fmt.Errorf("pingall: %s: %w", nsLabel(name), err)
		}
		if addrs[i], err = probe.NodeAddrs(nss[i]); err != nil {
			return nil, fmt.Errorf("pingall: %w", err)
		}
	}
	p := &PingAll{env: env, names: names, addrs: addrs}
	if kernel.RunsNothing(nss[0]) {
		// A plan sends no packets: the check is described, not made.
		p.notRun = true
		env.unknown++
		return p, nil
	}
	p.targets = probe.AllPairs(addrs)
	start := time.Now()
	res, err := probe.PingAll(env.Ctx, env.kern(), nss, p.targets, probe.AllOptions{Timeout: timeout})
	if errors.Is(err, kernel.ErrNotRun) {
		p.notRun = true
		env.unknown++
		return p, nil
	}
	if err != nil {
		return nil, err
	}
	p.res, p.took = res, time.Since(start)
	return p, nil
}

// pingallNodes resolves pingall's nodes: a list or tuple of netns values
// or names, at least two, none twice. Errors name the element.
func (e *Env) pingallNodes(v starlark.Value) ([]string, error) {
	seq, ok := v.(starlark.Indexable)
	if _, isStr := v.(starlark.String); !ok || isStr {
		return nil, fmt.Errorf("for parameter nodes: got %s, want a list of netns values or names", v.Type())
	}
	var names []string
	at := map[string]int{}
	for i := 0; i < seq.Len(); i++ {
		x := seq.Index(i)
		switch x.(type) {
		case *Netns, starlark.String:
		default:
			return nil, fmt.Errorf("for parameter nodes: nodes[%d] is %s, want netns or string", i, x.Type())
		}
		name, err := e.nsName(x, fmt.Sprintf("nodes[%d]", i))
		if err != nil {
			return nil, fmt.Errorf("for parameter nodes: nodes[%d]: %w", i, err)
		}
		if j, dup := at[name]; dup {
			return nil, fmt.Errorf("for parameter nodes: nodes[%d] is %s again (nodes[%d])", i, nsLabel(name), j)
		}
		at[name] = i
		names = append(names, name)
	}
	if len(names) < 2 {
		return nil, fmt.Errorf("for parameter nodes: pingall needs at least 2 nodes, got %d", len(names))
	}
	return names, nil
}

// PingAll is what pingall() returns: the outcome of every request, and
// the matrix of the pairs.
type PingAll struct {
	env     *Env
	names   []string
	addrs   [][]probe.NodeAddr
	targets []probe.Target
	res     probe.AllResult
	took    time.Duration // the whole check: settling, sockets, requests
	notRun  bool
}

var _ starlark.HasAttrs = (*PingAll)(nil)

func (p *PingAll) String() string {
	if p.notRun {
		return fmt.Sprintf("pingall(%d nodes: not run, a plan sends no packets)", len(p.names))
	}
	ok := 0
	for _, r := range p.res.Results {
		if r.Outcome == probe.Replied {
			ok++
		}
	}
	return fmt.Sprintf("pingall(%d nodes: %d of %d ok in %s)", len(p.names), ok, len(p.res.Results), p.took.Round(time.Millisecond))
}
func (p *PingAll) Type() string          { return "pingall" }
func (p *PingAll) Freeze()               {}
func (p *PingAll) Truth() starlark.Bool  { return true }
func (p *PingAll) Hash() (uint32, error) { return 0, fmt.Errorf("unhashable type: pingall") }

// AttrNames implements starlark.HasAttrs.
func (p *PingAll) AttrNames() []string {
	return []string{"failed", "matrix", "ms", "ok", "received", "sent"}
}

// Attr implements starlark.HasAttrs.
func (p *PingAll) Attr(name string) (starlark.Value, error) {
	switch name {
	case "ok":
		if p.notRun {
			return starlark.None, nil
		}
		for _, r := range p.res.Results {
			if r.Outcome != probe.Replied {
				return starlark.False, nil
			}
		}
		// No address to check at all is no proof of reachability.
		return starlark.Bool(len(p.res.Results) > 0), nil
	case "sent":
		return starlark.MakeInt(len(p.res.Results)), nil
	case "received":
		n := 0
		for _, r := range p.res.Results {
			if r.Outcome == probe.Replied {
				n++
			}
		}
		return starlark.MakeInt(n), nil
	case "ms":
		if p.notRun {
			return starlark.None, nil
		}
		return starlark.Float(float64(p.took) / float64(time.Millisecond)), nil
	case "failed":
		var out []starlark.Value
		for i, r := range p.res.Results {
			if r.Outcome == probe.Replied {
				continue
			}
			t := p.targets[i]
			var to starlark.Value = starlark.None
			if t.To >= 0 {
				to = p.env.netns(p.names[t.To])
			}
			out = append(out, newRecord("failure", starlark.StringDict{
				"src":    p.env.netns(p.names[t.From]),
				"dst":    to,
				"addr":   starlark.String(t.Addr.String()),
				"why":    starlark.String(r.Outcome.String()),
				"detail": starlark.String(r.Detail),
			}))
		}
		return starlark.NewList(out), nil
	case "matrix":
		return &Matrix{text: p.matrix()}, nil
	}
	return nil, nil
}

// Matrix cell marks, one character per pair.
const (
	markOK      = '.'
	markSelf    = '-'
	markNone    = ' ' // the node has no address to check
	markMixed   = 'x' // several addresses, not all of them alike
	markNoReply = 'X'
	markNoRoute = 'R'
	markFull    = 'F'
	markOther   = '!'
)

func mark(o probe.Outcome) byte {
	switch o {
	case probe.Replied:
		return markOK
	case probe.NoReply:
		return markNoReply
	case probe.NoRoute:
		return markNoRoute
	case probe.TableFull:
		return markFull
	}
	return markOther
}

// matrix draws one row per sending node and one column per receiving
// node, one character per pair, so that 50 or 100 nodes fit a terminal:
// column numbers read downwards, and node names are on the rows.
func (p *PingAll) matrix() string {
	n := len(p.names)
	var b strings.Builder
	if p.notRun {
		fmt.Fprintf(&b, "pingall of %d nodes: not run (a plan sends no packets)\n", n)
		return b.String()
	}
	cells := make([][]byte, n)
	for i := range cells {
		cells[i] = make([]byte, n)
		for j := range cells[i] {
			cells[i][j] = markNone
		}
		cells[i][i] = markSelf
	}
	kinds := map[probe.Outcome]int{}
	for k, r := range p.res.Results {
		t := p.targets[k]
		if t.To < 0 {
			continue
		}
		kinds[r.Outcome]++
		m := mark(r.Outcome)
		switch c := cells[t.From][t.To]; {
		case c == markNone:
			cells[t.From][t.To] = m
		case c != m:
			cells[t.From][t.To] = markMixed
		}
	}
	ok := kinds[probe.Replied]
	fmt.Fprintf(&b, "pingall: %d nodes, %d requests, %d ok", n, len(p.res.Results), ok)
	if failed := len(p.res.Results) - ok; failed > 0 {
		var parts []string
		for _, o := range []probe.Outcome{probe.NoReply, probe.NoRoute, probe.TableFull, probe.SendFailed} {
			if kinds[o] > 0 {
				parts = append(parts, fmt.Sprintf("%s %d", o, kinds[o]))
			}
		}
		fmt.Fprintf(&b, ", %d failed (%s)", failed, strings.Join(parts, ", "))
	}
	fmt.Fprintf(&b, ", %s\n", p.took.Round(time.Millisecond))

	width := len(fmt.Sprint(n))
	nameW := 0
	for _, name := range p.names {
		nameW = max(nameW, min(len(name), 20))
	}
	pad := strings.Repeat(" ", width+1+nameW+2)
	// Column numbers, most significant digit on top.
	for d := width - 1; d >= 0; d-- {
		b.WriteString(pad)
		for j := 1; j <= n; j++ {
			s := fmt.Sprintf("%*d", width, j)
			b.WriteByte(s[width-1-d])
		}
		b.WriteString("\n")
	}
	for i, name := range p.names {
		if len(name) > 20 {
			name = name[:19] + "~"
		}
		fmt.Fprintf(&b, "%*d %-*s  %s\n", width, i+1, nameW, name, cells[i])
	}
	// The legend names the marks the grid uses.
	used := map[byte]bool{}
	for _, row := range cells {
		for _, c := range row {
			used[c] = true
		}
	}
	var legend []string
	for _, l := range []struct {
		c    byte
		text string
	}{
		{markOK, ". ok"}, {markNoReply, "X no reply"}, {markNoRoute, "R no route"}, {markFull, "F table full"},
		{markOther, "! send failed"}, {markMixed, "x some addresses failed (see .failed)"}, {markNone, "blank: no address"},
		{markSelf, "- itself"},
	} {
		if used[l.c] {
			legend = append(legend, l.text)
		}
	}
	b.WriteString("rows send, columns answer: " + strings.Join(legend, ", ") + "\n")
	return b.String()
}

// Matrix is pingall's matrix: printed (print(r.matrix), or in the REPL),
// it is the grid itself.
type Matrix struct{ text string }

func (m *Matrix) String() string        { return strings.TrimRight(m.text, "\n") }
func (m *Matrix) Type() string          { return "matrix" }
func (m *Matrix) Freeze()               {}
func (m *Matrix) Truth() starlark.Bool  { return true }
func (m *Matrix) Hash() (uint32, error) { return starlark.String(m.text).Hash() }
