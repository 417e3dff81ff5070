package ops

import (
	"errors"
	"fmt"
	"strconv"
	"strings"

	"github.com/nshlab/nsh/builtins/sys/kernel"
	"github.com/vishvananda/netlink"
	"golang.org/x/sys/unix"
)

// QdiscSet replaces the root queueing discipline of a link, as
// `tc qdisc replace dev LINK root KIND ...`: a token bucket filter (tbf)
// that shapes what leaves the link to Rate, or netem, which delays,
// drops, duplicates and reorders it. Apply learns the root qdisc it
// replaces (Old), and Revert restores exactly that: a qdisc the kernel
// attached by itself (noqueue on a veth, pfifo_fast or fq_codel on a
// link with a queue, noop while the link is down) by deleting the root,
// after which the kernel attaches its default again, as it does for a
// new link; a tbf or netem that someone set by putting it back with its
// parameters. A root qdisc of any other kind, which may have classes and
// filters below it, nsh could not restore exactly, so Apply refuses to
// replace it.
type QdiscSet struct {
	NS   string `json:"ns"`
	Link string `json:"link"`
	// Qdisc is the kind of qdisc to set: "tbf" or "netem".
	Qdisc string `json:"qdisc"`
	// Rate is in bits per second: tbf's rate, or netem's (0: none).
	Rate uint64 `json:"rate,omitempty"`
	// Burst is tbf's bucket in bytes, and Latency the longest time in
	// microseconds a packet may wait in it (which sets its limit).
	Burst   uint32 `json:"burst,omitempty"`
	Latency uint32 `json:"latency,omitempty"`
	// Delay and Jitter are netem's, in microseconds; Loss, Duplicate and
	// Reorder are percentages.
	Delay     uint32  `json:"delay,omitempty"`
	Jitter    uint32  `json:"jitter,omitempty"`
	Loss      float64 `json:"loss,omitempty"`
	Duplicate float64 `json:"duplicate,omitempty"`
	Reorder   float64 `json:"reorder,omitempty"`
	// Old is the root qdisc Apply replaced, learned before the change.
	Old *Qdisc `json:"old,omitempty"`
	// Set is the root qdisc Apply set, as the kernel holds it, so that
	// Revert restores Old only over nsh's own.
	Set *Qdisc `json:"set,omitempty"`
}

// Qdisc is a root qdisc as the kernel holds it, with what nsh needs to
// restore it.
type Qdisc struct {
	Kind string `json:"kind"`
	// Handle is the qdisc's handle; 0 for the kernel's own default.
	Handle uint32 `json:"handle,omitempty"`
	// Default marks a qdisc the kernel attached by itself (handle 0):
	// deleting the root makes the kernel attach its default again.
	Default bool `json:"default,omitempty"`
	// Tbf and Netem are the parameters of one of those kinds, in the
	// kernel's own units.
	Tbf   *netlink.Tbf   `json:"tbf,omitempty"`
	Netem *netlink.Netem `json:"netem,omitempty"`
}

func init() { Register("qdisc.set", func() Op { return new(QdiscSet) }) }

// Kind implements Op.
func (o *QdiscSet) Kind() string { return "qdisc.set" }

// Learns implements Learner: Apply learns Old and Set.
func (o *QdiscSet) Learns() {}

// Namespaces implements Scoped: a qdisc goes with its link's namespace.
func (o *QdiscSet) Namespaces() []string { return scope(o.NS) }

// what names the change for errors: `shape link "e0" in namespace "a"`.
func (o *QdiscSet) what() string {
	verb := "shape"
	if o.Qdisc == "netem" {
		verb = "impair"
	}
	return fmt.Sprintf("%s link %q%s", verb, o.Link, inNS(o.NS))
}

// DefaultLatency is tbf's latency when none is given: 50ms.
const DefaultLatency = 50000

// TbfBurst returns tbf's default bucket for a rate in bits per second:
// 10ms of traffic, and at least 16 KiB, which holds ten full-size
// Ethernet frames.
func TbfBurst(rate uint64) uint32 {
	b := rate / 8 / 100
	if b < 16384 {
		b = 16384
	}
	if b > 1<<30 {
		b = 1 << 30
	}
	return uint32(b)
}

// qdisc builds the netlink qdisc to set on the link with index idx.
func (o *QdiscSet) qdisc(idx int) (netlink.Qdisc, error) {
	attrs := netlink.QdiscAttrs{LinkIndex: idx, Parent: netlink.HANDLE_ROOT}
	switch o.Qdisc {
	case "tbf":
		bytes := o.Rate / 8
		if bytes == 0 {
			return nil, fmt.Errorf("rate %d bit/s is less than a byte a second", o.Rate)
		}
		lat := o.Latency
		if lat == 0 {
			lat = DefaultLatency
		}
		burst := o.Burst
		if burst == 0 {
			burst = TbfBurst(o.Rate)
		}
		// As tc computes them: the bucket as the time it takes to fill
		// at the rate (in ticks), the limit as what the rate sends in
		// the latency, plus the bucket.
		limit := bytes*uint64(lat)/1000000 + uint64(burst)
		if limit > 1<<32-1 {
			limit = 1<<32 - 1
		}
		return &netlink.Tbf{QdiscAttrs: attrs, Rate: bytes, Limit: uint32(limit), Buffer: netlink.Xmittime(bytes, burst)}, nil
	case "netem":
		return netlink.NewNetem(attrs, netlink.NetemQdiscAttrs{
			Latency: o.Delay, Jitter: o.Jitter, Loss: float32(o.Loss), Duplicate: float32(o.Duplicate),
			ReorderProb: float32(o.Reorder), Rate64: o.Rate / 8,
		}), nil
	}
	return nil, fmt.Errorf("unknown kind of qdisc %q", o.Qdisc)
}

// rootQdisc returns the root qdisc of the link, or nil if it has none.
func rootQdisc(h kernel.Netlink, l netlink.Link) (netlink.Qdisc, error) {
	qs, err := h.QdiscList(l)
	if err != nil {
		return nil, err
	}
	for _, q := range qs {
		if q.Attrs().Parent == netlink.HANDLE_ROOT {
			return q, nil
		}
	}
	return nil, nil
}

// learn describes a root qdisc for Old and Set: nil if it cannot be
// restored exactly.
func learn(q netlink.Qdisc) *Qdisc {
	if q == nil {
		return &Qdisc{Kind: "noop", Default: true}
	}
	a := q.Attrs()
	d := &Qdisc{Kind: q.Type(), Handle: a.Handle, Default: a.Handle == 0}
	switch q := q.(type) {
	case *netlink.Tbf:
		t := *q
		t.QdiscAttrs = netlink.QdiscAttrs{}
		d.Tbf = &t
	case *netlink.Netem:
		n := *q
		n.QdiscAttrs = netlink.QdiscAttrs{}
		d.Netem = &n
	default:
		if !d.Default {
			return nil
		}
	}
	return d
}

// same reports whether the root qdisc q is the one d describes.
func (d *Qdisc) same(q netlink.Qdisc) bool {
	if q == nil {
		return d.Default && d.Kind == "noop"
	}
	if q.Type() != d.Kind || q.Attrs().Handle != d.Handle {
		return false
	}
	switch q := q.(type) {
	case *netlink.Tbf:
		return d.Tbf != nil && q.Rate == d.Tbf.Rate && q.Limit == d.Tbf.Limit && q.Buffer == d.Tbf.Buffer
	case *netlink.Netem:
		return d.Netem != nil && q.Latency == d.Netem.Latency && q.Loss == d.Netem.Loss && q.Jitter == d.Netem.Jitter &&
			q.Duplicate == d.Netem.Duplicate && q.ReorderProb == d.Netem.ReorderProb
	}
	return true
}

// restore makes d the root qdisc of the link with index idx again, in
// place of cur, its root qdisc now.
func (d *Qdisc) restore(h kernel.Netlink, idx int, cur netlink.Qdisc) error {
	attrs := netlink.QdiscAttrs{LinkIndex: idx, Parent: netlink.HANDLE_ROOT, Handle: d.Handle}
	switch {
	case d.Default:
		if cur == nil || cur.Attrs().Handle == 0 {
			return nil // the kernel's own already
		}
		// The kernel checks the kind of the qdisc to delete, if given.
		return h.QdiscDel(&netlink.GenericQdisc{QdiscType: cur.Type(),
			QdiscAttrs: netlink.QdiscAttrs{LinkIndex: idx, Parent: netlink.HANDLE_ROOT, Handle: cur.Attrs().Handle}})
	case d.Tbf != nil:
		t := *d.Tbf
		t.QdiscAttrs = attrs
		return h.QdiscReplace(&t)
	case d.Netem != nil:
		n := *d.Netem
		n.QdiscAttrs = attrs
		return h.QdiscReplace(&n)
	}
	return fmt.Errorf("cannot restore a root qdisc %s", d.Kind)
}

// Apply implements Op.
func (o *QdiscSet) Apply(k kernel.Kernel) error {
	_, h, l, err := linkByName(k, o.NS, o.Link)
	if err != nil {
		return failed(o.what(), err)
	}
	a := l.Attrs()
	if o.Qdisc == "tbf" {
		burst := o.Burst
		if burst == 0 {
			burst = TbfBurst(o.Rate)
		}
		if frame := uint32(a.MTU) + 14; burst < frame {
			return fmt.Errorf("failed to %s: burst %d bytes is less than one full-size frame of the link (MTU %d + 14): tbf would drop every such packet", o.what(), burst, a.MTU)
		}
	}
	cur, err := rootQdisc(h, l)
	if err != nil {
		return failed(o.what(), err)
	}
	old := learn(cur)
	if old == nil {
		return fmt.Errorf("failed to %s: it has a root qdisc %s %s that nsh did not set and could not restore exactly (it may have classes and filters): remove it first (tc qdisc del dev %s root)",
			o.what(), cur.Type(), tcHandle(cur.Attrs().Handle), shellQuote(o.Link))
	}
	q, err := o.qdisc(a.Index)
	if err != nil {
		return fmt.Errorf("failed to %s: %w", o.what(), err)
	}
	if err := h.QdiscReplace(q); err != nil {
		if errors.Is(err, unix.ENOENT) {
			return &opError{msg: fmt.Sprintf("failed to %s: this kernel has no %s qdisc (module sch_%s, CONFIG_NET_SCH_%s)%s",
				o.what(), o.Qdisc, o.Qdisc, strings.ToUpper(o.Qdisc), o.instead()), err: err}
		}
		return failed(o.what(), err)
	}
	o.Old = old
	// The kernel picks the handle: read the qdisc back as it holds it.
	if now, err := rootQdisc(h, l); err == nil && now != nil && now.Type() == o.Qdisc {
		o.Set = learn(now)
	}
	return nil
}

// instead suggests what the kernel can do where a qdisc is missing.
func (o *QdiscSet) instead() string {
	if o.Qdisc == "netem" {
		return ": impair() cannot delay, drop, duplicate or reorder packets here; link.shape(rate) limits the rate with tbf, which needs no netem"
	}
	return ""
}

// Revert implements Op. It restores Old only over the qdisc nsh set;
// a qdisc someone else set since is left, with a Warning.
func (o *QdiscSet) Revert(k kernel.Kernel) error {
	if o.Old == nil {
		return nil // never applied
	}
	_, h, l, err := linkByName(k, o.NS, o.Link)
	if err != nil {
		if gone(err) {
			return nil
		}
		return failed("restore the root qdisc of "+fmt.Sprintf("%q%s", o.Link, inNS(o.NS)), err)
	}
	cur, err := rootQdisc(h, l)
	if err != nil {
		if gone(err) {
			return nil
		}
		return failed(fmt.Sprintf("read the root qdisc of %q%s", o.Link, inNS(o.NS)), err)
	}
	if o.Set != nil && !o.Set.same(cur) {
		kind := "none"
		if cur != nil {
			kind = cur.Type() + " " + tcHandle(cur.Attrs().Handle)
		}
		return &Warning{Msg: fmt.Sprintf("the root qdisc of link %q%s is %s, not the %s nsh set: someone changed it since, so nsh left it (it was %s before nsh)",
			o.Link, inNSOrHost(o.NS), kind, o.Qdisc, o.Old.Kind)}
	}
	if err := o.Old.restore(h, l.Attrs().Index, cur); err != nil && !gone(err) {
		return failed(fmt.Sprintf("restore the root qdisc %s of %q%s", o.Old.Kind, o.Link, inNS(o.NS)), err)
	}
	return nil
}

// tc returns the start of a tc command in the link's namespace.
func (o *QdiscSet) tc(host string) []string {
	argv := []string{"tc"}
	if ns := explainNS(o.NS, host); ns != "" {
		argv = append(argv, "-n", shellQuote(ns))
	}
	return argv
}

// Undo implements Undoer: the kernel's default qdisc comes back when the
// root is deleted; a tbf or netem that was there before is put back as it
// was.
func (o *QdiscSet) Undo(host string) []string {
	if o.Old == nil || o.Old.Default {
		return []string{strings.Join(append(o.tc(host), "qdisc", "del", "dev", shellQuote(o.Link), "root"), " ")}
	}
	prev := &QdiscSet{NS: o.NS, Link: o.Link, Qdisc: o.Old.Kind}
	switch {
	case o.Old.Tbf != nil:
		prev.Rate, prev.Burst = o.Old.Tbf.Rate*8, o.Old.Tbf.Buffer
		if prev.Rate == 0 {
			return []string{"# the root qdisc of " + o.Link + " was a " + o.Old.Kind + " nsh cannot write as a command"}
		}
		prev.Burst = 0 // tc computes it from the rate, as nsh did
	case o.Old.Netem != nil:
		prev.Delay, prev.Jitter = o.Old.Netem.Latency, o.Old.Netem.Jitter
	default:
		return []string{"# the root qdisc of " + o.Link + " was a " + o.Old.Kind + " nsh cannot write as a command"}
	}
	return prev.Explain(host)
}

// Explain implements Op.
func (o *QdiscSet) Explain(host string) []string {
	argv := o.tc(host)
	argv = append(argv, "qdisc", "replace", "dev", shellQuote(o.Link), "root", o.Qdisc)
	switch o.Qdisc {
	case "tbf":
		burst, lat := o.Burst, o.Latency
		if burst == 0 {
			burst = TbfBurst(o.Rate)
		}
		if lat == 0 {
			lat = DefaultLatency
		}
		argv = append(argv, "rate", FormatRate(o.Rate), "burst", strconv.FormatUint(uint64(burst), 10)+"b", "latency", formatUsec(lat))
	case "netem":
		if o.Delay > 0 {
			argv = append(argv, "delay", formatUsec(o.Delay))
			if o.Jitter > 0 {
				argv = append(argv, formatUsec(o.Jitter))
			}
		}
		if o.Loss > 0 {
			argv = append(argv, "loss", formatPct(o.Loss))
		}
		if o.Duplicate > 0 {
			argv = append(argv, "duplicate", formatPct(o.Duplicate))
		}
		if o.Reorder > 0 {
			argv = append(argv, "reorder", formatPct(o.Reorder))
		}
		if o.Rate > 0 {
			argv = append(argv, "rate", FormatRate(o.Rate))
		}
	}
	return []string{strings.Join(argv, " ")}
}

// FormatRate writes a rate in bits per second as tc takes it: 10mbit.
func FormatRate(bits uint64) string {
	for _, u := range []struct {
		n    uint64
		unit string
	}{{1e12, "tbit"}, {1e9, "gbit"}, {1e6, "mbit"}, {1e3, "kbit"}} {
		if bits >= u.n && bits%u.n == 0 {
			return strconv.FormatUint(bits/u.n, 10) + u.unit
		}
	}
	return strconv.FormatUint(bits, 10) + "bit"
}

// formatUsec writes microseconds as tc takes a time: 50ms.
func formatUsec(us uint32) string {
	switch {
	case us%1000000 == 0:
		return strconv.FormatUint(uint64(us/1000000), 10) + "s"
	case us%1000 == 0:
		return strconv.FormatUint(uint64(us/1000), 10) + "ms"
	}
	return strconv.FormatUint(uint64(us), 10) + "us"
}

func formatPct(p float64) string { return strconv.FormatFloat(p, 'g', -1, 64) + "%" }

// tcHandle writes a qdisc's handle as tc shows it: 8001:, or 0: for the
// kernel's own.
func tcHandle(h uint32) string {
	major, minor := netlink.MajorMinor(h)
	if minor == 0 {
		return strconv.FormatUint(uint64(major), 16) + ":"
	}
	return strconv.FormatUint(uint64(major), 16) + ":" + strconv.FormatUint(uint64(minor), 16)
}
