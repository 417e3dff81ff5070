package main

import (
	"bytes"
	"context"
	"encoding/json"
	"flag"
	"fmt"
	"html"
	"io"
	"math"
	"os"
	"path/filepath"
	"regexp"
	"sort"
	"strconv"
	"strings"

	"github.com/goccy/go-graphviz"
	"github.com/nshlab/nsh/builtins/session"
)

func init() {
	register(&command{
		name:    "graph",
		usage:   "graph [LAB.star | --session NAME] [--sandbox] [--format dot|mermaid|svg|html] [-o FILE]",
		summary: "draw a lab: namespaces, links, bridges, NAT rules",
		help: `
Draws a lab: each namespace is a box that lists its links with their
addresses (and its routes and NAT rules), each bridge a node with its
ports, each veth pair an edge between its two ends, named by both, each
macvlan a dashed edge to its parent. A sandbox is drawn as host.

From a script, graph plans it (as nsh plan: no root, nothing changes).
With --session, or with no argument when there is one session, it draws
a lab that is up, from its journal and the kernel (which needs root).

Formats: dot (Graphviz source, the default), mermaid (for Markdown, such
as GitHub's), svg (rendered by nsh itself: no Graphviz needed), and html
(one self-contained file: the SVG, and the details of a namespace or a
bridge on hover or click). -o FILE writes a file, whose extension picks
the format unless --format is given. See docs/graph.md.`,
		flags: func(fs *flag.FlagSet) {
			fs.String("session", "", "draw the lab of this session")
			fs.Bool("sandbox", false, "plan the script as if run with --sandbox")
			fs.String("format", "", "dot, mermaid, svg or html (default: from -o's extension, else dot)")
			fs.String("o", "", "write to this file (default: standard output)")
		},
		run: runGraph,
	})
}

func runGraph(c *ctx) error {
	format := flagString(c.fs, "format")
	out := flagString(c.fs, "o")
	if format == "" {
		switch strings.TrimPrefix(filepath.Ext(out), ".") {
		case "svg":
			format = "svg"
		case "html", "htm":
			format = "html"
		case "mmd", "mermaid":
			format = "mermaid"
		default:
			format = "dot"
		}
	}
	var lab *session.Lab
	name := flagString(c.fs, "session")
	switch {
	case len(c.args) == 1:
		p, err := planScript(c.args[0], name, flagBool(c.fs, "sandbox"), nil, io.Discard)
		if err != nil {
			return err
		}
		defer p.close()
		if p.err != "" && !p.unknown {
			fmt.Fprintln(c.stderr, p.err)
			fmt.Fprintln(c.stderr, "nsh graph: the script fails in a plan; nothing was drawn")
			return exitError{1}
		}
		if lab, err = p.s.Lab(); err != nil {
			return err
		}
	case len(c.args) == 0:
		if name == "" {
			var err error
			if name, err = session.Default(); err != nil {
				return fmt.Errorf("%w (or draw a script: nsh graph LAB.star)", err)
			}
		}
		var err error
		if lab, err = session.LabOf(name); err != nil {
			return err
		}
	default:
		return usageError{"want one script, or --session NAME"}
	}
	var b bytes.Buffer
	var err error
	switch format {
	case "dot":
		b.WriteString(labDot(lab))
	case "mermaid":
		b.WriteString(labMermaid(lab))
	case "svg":
		var svg []byte
		if svg, err = renderSVG(labDot(lab)); err == nil {
			b.Write(svg)
		}
	case "html":
		var svg []byte
		if svg, err = renderSVG(labDot(lab)); err == nil {
			err = labHTML(&b, lab, svg)
		}
	default:
		return usageError{fmt.Sprintf("unknown format %q: want dot, mermaid, svg or html", format)}
	}
	if err != nil {
		return err
	}
	if out != "" {
		if err := os.WriteFile(out, b.Bytes(), 0o644); err != nil {
			return fmt.Errorf("failed to write %s: %w", out, err)
		}
		return nil
	}
	_, err = c.stdout.Write(b.Bytes())
	return err
}

// graphIDs names the nodes of a lab's graph: one per namespace (a table
// whose rows, its ports, are its links) and one per bridge.
type graphIDs struct {
	ns     map[string]string // namespace -> node ID
	row    map[[2]string]string
	bridge map[[2]string]string
}

// natTargets are the targets of the rules a graph shows on their
// namespace.
var natTargets = map[string]bool{"DNAT": true, "SNAT": true, "MASQUERADE": true, "REDIRECT": true}

// labDot returns the lab as Graphviz source.
func labDot(lab *session.Lab) string {
	var b strings.Builder
	fmt.Fprintf(&b, "graph %s {\n", dotQuote("lab "+lab.Name))
	b.WriteString("\tgraph [compound=true, rankdir=LR, fontname=\"Helvetica\", fontsize=12, nodesep=0.15, ranksep=1.2];\n")
	b.WriteString("\tnode [fontname=\"Helvetica\", fontsize=10];\n\tedge [fontname=\"Helvetica\", fontsize=9, color=\"#555555\"];\n")
	ids := graphIDs{ns: map[string]string{}, row: map[[2]string]string{}, bridge: map[[2]string]string{}}
	for i, n := range lab.Namespaces {
		ids.ns[n.Name] = fmt.Sprintf("ns%d", i)
		for j, l := range n.Links {
			key := [2]string{n.Name, l.Name}
			if l.Kind == "bridge" {
				ids.bridge[key] = fmt.Sprintf("ns%d_br%d", i, j)
			} else {
				ids.row[key] = fmt.Sprintf("l%d", j)
			}
		}
	}
	isPort := func(ns string, l *session.LabLink) bool {
		_, ok := ids.bridge[[2]string{ns, l.Master}]
		return l.Master != "" && ok
	}
	find := func(ns, name string) *session.LabLink {
		for _, n := range lab.Namespaces {
			if n.Name != ns {
				continue
			}
			for _, l := range n.Links {
				if l.Name == name {
					return l
				}
			}
		}
		return nil
	}
	// A bridge with many namespaces hanging off it, by one veth each and
	// nothing else, has them in one box, laid out as a grid, joined to the
	// bridge by one edge: a star of 200 stays legible.
	groups := map[[2]string][]*session.LabNS{} // bridge -> its leaves
	grouped := map[string][2]string{}          // leaf -> its bridge
	for _, n := range lab.Namespaces {
		if n.Name == session.Host || len(n.Links) != 1 || n.Links[0].Kind != "veth" || n.Links[0].Peer == "" {
			continue
		}
		p := find(n.Links[0].PeerNS, n.Links[0].Peer)
		if p == nil || !isPort(n.Links[0].PeerNS, p) {
			continue
		}
		br := [2]string{n.Links[0].PeerNS, p.Master}
		groups[br] = append(groups[br], n)
	}
	for br, leaves := range groups {
		if len(leaves) < groupMin {
			delete(groups, br)
			continue
		}
		for _, n := range leaves {
			grouped[n.Name] = br
		}
	}
	for _, n := range lab.Namespaces {
		if _, ok := grouped[n.Name]; ok {
			continue
		}
		id := ids.ns[n.Name]
		title := n.Name
		if n.Name == session.Host && lab.Sandbox != "" {
			title = "host (sandbox)"
		}
		var rows []string
		for _, l := range n.Links {
			if l.Kind == "bridge" || isPort(n.Name, l) {
				continue
			}
			state := ""
			if !l.Up {
				state = " (down)"
			}
			rows = append(rows, fmt.Sprintf(`<tr><td port="%s" align="left"><b>%s</b>&#160;<font color="#666666">%s%s</font>%s</td></tr>`,
				ids.row[[2]string{n.Name, l.Name}], html.EscapeString(l.Name), html.EscapeString(l.Kind), state, addrLines(l.Addrs)))
		}
		for _, r := range n.Routes {
			rows = append(rows, fmt.Sprintf(`<tr><td align="left"><font color="#225588" point-size="9">route %s</font></td></tr>`, html.EscapeString(r)))
		}
		filter := 0
		for _, r := range n.Rules {
			if natTargets[r.Target] {
				rows = append(rows, fmt.Sprintf(`<tr><td align="left" bgcolor="#fff3cd"><font point-size="9">%s</font></td></tr>`,
					html.EscapeString(shorten(natText(r), 90))))
			} else {
				filter++
			}
		}
		if filter > 0 {
			rows = append(rows, fmt.Sprintf(`<tr><td align="left"><font point-size="9">%d more iptables rules</font></td></tr>`, filter))
		}
		for _, p := range n.Processes {
			rows = append(rows, fmt.Sprintf(`<tr><td align="left"><font color="#444444" point-size="9">$ %s</font></td></tr>`, html.EscapeString(shorten(p, 60))))
		}
		var bridges []*session.LabLink
		for _, l := range n.Links {
			if l.Kind == "bridge" {
				bridges = append(bridges, l)
			}
		}
		table := nsTable(n.Name, title, rows)
		if len(bridges) == 0 {
			fmt.Fprintf(&b, "\t%s [id=%s, shape=plaintext, label=%s];\n", id, dotQuote("ns-"+n.Name), table)
			continue
		}
		// A namespace with bridges is a box around its own table and
		// its bridges.
		fmt.Fprintf(&b, "\tsubgraph cluster_%s {\n\t\tid=%s; label=%s; style=\"rounded\"; color=\"#888888\"; bgcolor=%s;\n",
			id, dotQuote("ns-"+n.Name), dotQuote(title), dotQuote(nsColor(n.Name)))
		if len(rows) > 0 {
			fmt.Fprintf(&b, "\t\t%s [id=%s, shape=plaintext, label=%s];\n", id, dotQuote("nsrows-"+n.Name), table)
		}
		for _, br := range bridges {
			var ports []string
			for _, l := range n.Links {
				if l.Master == br.Name {
					ports = append(ports, l.Name)
				}
			}
			label := fmt.Sprintf(`<<b>%s</b>&#160;<font color="#666666">bridge</font>%s<br/><font point-size="9">%s</font>>`,
				html.EscapeString(br.Name), addrLines(br.Addrs), html.EscapeString(portSummary(ports)))
			fmt.Fprintf(&b, "\t\t%s [id=%s, shape=box, style=\"rounded,filled\", fillcolor=\"#e8f0fe\", label=%s];\n",
				ids.bridge[[2]string{n.Name, br.Name}], dotQuote("br-"+n.Name+"-"+br.Name), label)
		}
		b.WriteString("\t}\n")
	}
	var brs [][2]string
	for br := range groups {
		brs = append(brs, br)
	}
	sort.Slice(brs, func(i, j int) bool { return brs[i][0]+"\x00"+brs[i][1] < brs[j][0]+"\x00"+brs[j][1] })
	for gi, br := range brs {
		leaves := groups[br]
		fmt.Fprintf(&b, "\tsubgraph cluster_group%d {\n\t\tid=%s; label=%s; style=\"rounded,dashed\"; color=\"#888888\";\n",
			gi, dotQuote("group-"+br[0]+"-"+br[1]), dotQuote(fmt.Sprintf("%d namespaces on bridge %s, one veth each", len(leaves), br[1])))
		for _, n := range leaves {
			l := n.Links[0]
			row := fmt.Sprintf(`<tr><td align="left"><b>%s</b>&#160;<font color="#666666">veth, peer %s</font>%s</td></tr>`,
				html.EscapeString(l.Name), html.EscapeString(l.Peer), addrLines(l.Addrs))
			for _, r := range n.Routes {
				row += fmt.Sprintf(`<tr><td align="left"><font color="#225588" point-size="9">route %s</font></td></tr>`, html.EscapeString(r))
			}
			fmt.Fprintf(&b, "\t\t%s [id=%s, shape=plaintext, label=%s];\n", ids.ns[n.Name], dotQuote("ns-"+n.Name), nsTable(n.Name, n.Name, []string{row}))
		}
		// Rows of a grid: each node is followed, one column on, by the
		// node rows further.
		rows := int(math.Ceil(math.Sqrt(float64(len(leaves)))))
		for i := 0; i+rows < len(leaves); i++ {
			fmt.Fprintf(&b, "\t\t%s -- %s [style=invis];\n", ids.ns[leaves[i].Name], ids.ns[leaves[i+rows].Name])
		}
		b.WriteString("\t}\n")
		fmt.Fprintf(&b, "\t%s -- %s [lhead=cluster_group%d, penwidth=3, label=%s];\n", ids.bridge[br], ids.ns[leaves[0].Name], gi,
			dotQuote(fmt.Sprintf("%d veth pairs", len(leaves))))
	}
	// end returns the node (and port) an edge to link l of ns attaches
	// to, and the label that names l there, if the node does not.
	end := func(ns string, l *session.LabLink) (string, string) {
		if id, ok := ids.bridge[[2]string{ns, l.Name}]; ok {
			return id, ""
		}
		if isPort(ns, l) {
			return ids.bridge[[2]string{ns, l.Master}], l.Name
		}
		return ids.ns[ns] + ":" + ids.row[[2]string{ns, l.Name}], ""
	}
	drawn := map[[4]string]bool{}
	for _, n := range lab.Namespaces {
		for _, l := range n.Links {
			switch {
			case l.Kind == "veth" && l.Peer != "":
				if _, ok := grouped[n.Name]; ok {
					continue
				}
				if _, ok := grouped[l.PeerNS]; ok {
					continue
				}
				p := find(l.PeerNS, l.Peer)
				if p == nil || drawn[[4]string{l.PeerNS, l.Peer, n.Name, l.Name}] {
					continue
				}
				drawn[[4]string{n.Name, l.Name, l.PeerNS, l.Peer}] = true
				a, al := end(n.Name, l)
				z, zl := end(l.PeerNS, p)
				attrs := []string{"tooltip=" + dotQuote(fmt.Sprintf("veth %s (%s) — %s (%s)", l.Name, n.Name, p.Name, l.PeerNS))}
				if al != "" {
					attrs = append(attrs, "taillabel="+dotQuote(al))
				}
				if zl != "" {
					attrs = append(attrs, "headlabel="+dotQuote(zl))
				}
				fmt.Fprintf(&b, "\t%s -- %s [%s];\n", a, z, strings.Join(attrs, ", "))
			case l.Kind == "macvlan" && l.Parent != "":
				p := find(n.Name, l.Parent)
				if p == nil {
					continue
				}
				a, _ := end(n.Name, l)
				z, _ := end(n.Name, p)
				fmt.Fprintf(&b, "\t%s -- %s [style=dashed, label=\"macvlan\"];\n", a, z)
			}
		}
	}
	b.WriteString("}\n")
	return b.String()
}

// natText says what a NAT rule does first: "DNAT --to-destination
// 10.10.0.10:8000 if -d 203.0.113.1 -p tcp --dport 8000 (PREROUTING)".
func natText(r session.LabRule) string {
	match, action, _ := strings.Cut(" "+r.Text+" ", " -j "+r.Target)
	match = strings.TrimSpace(strings.Replace(match, " -m tcp ", " ", 1))
	s := r.Target + strings.TrimRight(action, " ")
	if match != "" {
		s += " if " + match
	}
	return s + " (" + r.Chain + ")"
}

// groupMin is how many namespaces on one bridge are grouped in one box.
const groupMin = 8

// nsTable returns the HTML-like label of a namespace: its title, and
// rows.
func nsTable(name, title string, rows []string) string {
	return fmt.Sprintf(`<<table border="1" cellborder="0" cellspacing="0" cellpadding="3" bgcolor="%s"><tr><td bgcolor="%s"><b>%s</b></td></tr>%s</table>>`,
		nsColor(name), nsHeader(name), html.EscapeString(title), strings.Join(rows, ""))
}

// addrLines returns a link's addresses as lines of an HTML-like label.
func addrLines(addrs []string) string {
	var b strings.Builder
	for _, a := range addrs {
		b.WriteString(`<br/><font face="Courier" point-size="9">` + html.EscapeString(a) + `</font>`)
	}
	return b.String()
}

// portSummary lists a bridge's ports, grouped when there are many.
func portSummary(ports []string) string {
	switch {
	case len(ports) == 0:
		return "no ports"
	case len(ports) <= 4:
		return "ports: " + strings.Join(ports, ", ")
	}
	return fmt.Sprintf("%d ports: %s, %s … %s", len(ports), ports[0], ports[1], ports[len(ports)-1])
}

func shorten(s string, n int) string {
	if len([]rune(s)) <= n {
		return s
	}
	return string([]rune(s)[:n-1]) + "…"
}

func nsColor(name string) string {
	if name == session.Host {
		return "#f6f6f6"
	}
	return "#ffffff"
}

func nsHeader(name string) string {
	if name == session.Host {
		return "#dddddd"
	}
	return "#d9ead3"
}

// dotQuote quotes s as a Graphviz string.
func dotQuote(s string) string {
	return `"` + strings.NewReplacer(`\`, `\\`, `"`, `\"`, "\n", `\n`).Replace(s) + `"`
}

// renderSVG lays out Graphviz source and renders it as SVG, in this
// process (Graphviz compiled to WebAssembly: no binary, no cgo).
func renderSVG(dot string) ([]byte, error) {
	ctx := context.Background()
	g, err := graphviz.New(ctx)
	if err != nil {
		return nil, fmt.Errorf("failed to start the graph renderer: %w", err)
	}
	defer g.Close()
	gr, err := graphviz.ParseBytes([]byte(dot))
	if err != nil {
		return nil, fmt.Errorf("failed to read the graph: %w", err)
	}
	defer gr.Close()
	var b bytes.Buffer
	if err := g.Render(ctx, gr, graphviz.SVG, &b); err != nil {
		return nil, fmt.Errorf("failed to render the graph: %w", err)
	}
	return fitText(b.Bytes()), nil
}

// fontScale shrinks the SVG's text to fit the boxes laid out for it.
// Graphviz without fontconfig measures text with Helvetica's widths, and
// a browser draws it with the sans-serif font it has (DejaVu Sans on
// Debian, about 12 % wider), so that names ran over their boxes and into
// each other.
const fontScale = 0.86

var svgFontSize = regexp.MustCompile(`font-size="([0-9.]+)"`)

// fitText scales every font-size of an SVG by fontScale.
func fitText(svg []byte) []byte {
	return svgFontSize.ReplaceAllFunc(svg, func(m []byte) []byte {
		v, err := strconv.ParseFloat(string(svgFontSize.FindSubmatch(m)[1]), 64)
		if err != nil {
			return m
		}
		return []byte(fmt.Sprintf(`font-size="%.2f"`, v*fontScale))
	})
}

// labMermaid returns the lab as a Mermaid flowchart.
func labMermaid(lab *session.Lab) string {
	var b strings.Builder
	b.WriteString("flowchart LR\n")
	id := map[[2]string]string{}
	for i, n := range lab.Namespaces {
		for j, l := range n.Links {
			id[[2]string{n.Name, l.Name}] = fmt.Sprintf("n%d_%d", i, j)
		}
	}
	for i, n := range lab.Namespaces {
		title := n.Name
		if n.Name == session.Host && lab.Sandbox != "" {
			title = "host (sandbox)"
		}
		fmt.Fprintf(&b, "  subgraph ns%d[%s]\n", i, mermaidQuote(title))
		if len(n.Links) == 0 {
			fmt.Fprintf(&b, "    ns%d_empty[%s]\n", i, mermaidQuote("(no links)"))
		}
		for _, l := range n.Links {
			text := l.Name + " " + l.Kind
			for _, a := range l.Addrs {
				text += "<br/>" + a
			}
			if l.Kind == "bridge" {
				fmt.Fprintf(&b, "    %s{{%s}}\n", id[[2]string{n.Name, l.Name}], mermaidQuote(text))
			} else {
				fmt.Fprintf(&b, "    %s[%s]\n", id[[2]string{n.Name, l.Name}], mermaidQuote(text))
			}
		}
		for k, r := range n.Rules {
			if natTargets[r.Target] {
				fmt.Fprintf(&b, "    ns%d_r%d>%s]\n", i, k, mermaidQuote(r.Target+" "+r.Chain+": "+shorten(r.Text, 60)))
			}
		}
		b.WriteString("  end\n")
	}
	drawn := map[[4]string]bool{}
	for _, n := range lab.Namespaces {
		for _, l := range n.Links {
			me := id[[2]string{n.Name, l.Name}]
			if l.Master != "" {
				if m, ok := id[[2]string{n.Name, l.Master}]; ok {
					fmt.Fprintf(&b, "  %s --- %s\n", me, m)
				}
			}
			if l.Kind == "veth" && l.Peer != "" {
				p, ok := id[[2]string{l.PeerNS, l.Peer}]
				if ok && !drawn[[4]string{l.PeerNS, l.Peer, n.Name, l.Name}] {
					drawn[[4]string{n.Name, l.Name, l.PeerNS, l.Peer}] = true
					fmt.Fprintf(&b, "  %s ===|veth| %s\n", me, p)
				}
			}
			if l.Kind == "macvlan" && l.Parent != "" {
				if p, ok := id[[2]string{n.Name, l.Parent}]; ok {
					fmt.Fprintf(&b, "  %s -.-|macvlan| %s\n", me, p)
				}
			}
		}
	}
	return b.String()
}

// mermaidQuote quotes a label for Mermaid.
func mermaidQuote(s string) string {
	return `"` + strings.ReplaceAll(s, `"`, "#quot;") + `"`
}

// labHTML writes one self-contained HTML page: the SVG, and the details
// of a namespace or bridge when the pointer is over it or it is clicked.
func labHTML(w io.Writer, lab *session.Lab, svg []byte) error {
	if i := bytes.Index(svg, []byte("<svg")); i > 0 {
		svg = svg[i:] // the XML prolog and doctype have no place in HTML
	}
	details := map[string]string{}
	for _, n := range lab.Namespaces {
		var d strings.Builder
		title := n.Name
		if n.Name == session.Host && lab.Sandbox != "" {
			title = "host (sandbox " + lab.Sandbox + ")"
		}
		fmt.Fprintf(&d, "<h2>%s</h2>", html.EscapeString(title))
		d.WriteString("<table><tr><th>link</th><th>kind</th><th>state</th><th>mtu</th><th>master</th><th>peer</th><th>addresses</th></tr>")
		for _, l := range n.Links {
			state := "down"
			if l.Up {
				state = "up"
			}
			peer := ""
			if l.Peer != "" {
				peer = l.Peer + " in " + l.PeerNS
			} else if l.Parent != "" {
				peer = "parent " + l.Parent
			}
			fmt.Fprintf(&d, "<tr><td>%s</td><td>%s</td><td>%s</td><td>%d</td><td>%s</td><td>%s</td><td>%s</td></tr>",
				html.EscapeString(l.Name), html.EscapeString(l.Kind), state, l.MTU, html.EscapeString(l.Master),
				html.EscapeString(peer), html.EscapeString(strings.Join(l.Addrs, " ")))
		}
		d.WriteString("</table>")
		list := func(what string, items []string) {
			if len(items) == 0 {
				return
			}
			fmt.Fprintf(&d, "<h3>%s</h3><ul>", what)
			for _, it := range items {
				fmt.Fprintf(&d, "<li><code>%s</code></li>", html.EscapeString(it))
			}
			d.WriteString("</ul>")
		}
		var rules []string
		for _, r := range n.Rules {
			rules = append(rules, fmt.Sprintf("-t %s -A %s %s", r.Table, r.Chain, r.Text))
		}
		list("routes", n.Routes)
		list("iptables rules", rules)
		list("sysctls", n.Sysctls)
		list("processes", n.Processes)
		details["ns-"+n.Name] = d.String()
		details["nsrows-"+n.Name] = d.String()
		for _, l := range n.Links {
			if l.Kind == "bridge" {
				var ports []string
				for _, p := range n.Links {
					if p.Master == l.Name {
						ports = append(ports, p.Name)
					}
				}
				sort.Strings(ports)
				details["br-"+n.Name+"-"+l.Name] = fmt.Sprintf("<h2>bridge %s in %s</h2><p>addresses: %s</p><p>%d ports: %s</p>",
					html.EscapeString(l.Name), html.EscapeString(title), html.EscapeString(strings.Join(l.Addrs, " ")), len(ports),
					html.EscapeString(strings.Join(ports, ", ")))
			}
		}
	}
	js, err := json.Marshal(details)
	if err != nil {
		return err
	}
	_, err = fmt.Fprintf(w, `<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>lab %[1]s</title>
<style>
body { font-family: Helvetica, Arial, sans-serif; margin: 0; display: flex; height: 100vh; }
#graph { flex: 3; overflow: auto; padding: 8px; }
#details { flex: 1; min-width: 18em; overflow: auto; padding: 8px 12px; border-left: 1px solid #ccc; background: #fafafa; font-size: 13px; }
#details table { border-collapse: collapse; }
#details td, #details th { border: 1px solid #ddd; padding: 2px 4px; text-align: left; }
g.node, g.cluster { cursor: pointer; }
g.node:hover polygon, g.cluster:hover polygon, g.node.picked polygon, g.cluster.picked polygon { stroke: #d33; stroke-width: 2; }
</style>
</head>
<body>
<div id="graph">%[2]s</div>
<div id="details"><h2>lab %[1]s</h2><p>Point at or click a namespace or a bridge for its details.</p></div>
<script>
const details = %[3]s;
const panel = document.getElementById("details");
let picked = null;
function show(el) { if (details[el.id]) panel.innerHTML = details[el.id]; }
for (const el of document.querySelectorAll("g.node, g.cluster")) {
	if (!details[el.id]) continue;
	el.addEventListener("mouseenter", () => { if (!picked) show(el); });
	el.addEventListener("click", (e) => {
		e.stopPropagation();
		if (picked) picked.classList.remove("picked");
		picked = el; el.classList.add("picked"); show(el);
	});
}
</script>
</body>
</html>
`, html.EscapeString(lab.Name), svg, js)
	return err
}
