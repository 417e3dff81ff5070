// Package docs holds nsh's reference documentation and serves it to the
// program: the help() builtin and the REPL's completion read the same
// entries that people read in docs/builtins/, so there is one source.
//
// Each builtin, value type and method has a file docs/builtins/NAME.md,
// where NAME is the builtin's name ("veth"), a value type ("link"), or
// TYPE.METHOD ("link.addr"). An entry's format is:
//
//	# veth(name, peer, ns=host, peer_ns=host) -> (link, link)
//
//	What it does, in one or more paragraphs; the first sentence is the
//	summary that help() lists.
//
//	iproute2: `ip link add NAME [netns NS] type veth peer name PEER [netns PEER_NS]`
//
//	Example:
//
//	    a, b = veth("earth-veth", "mars-veth", ns=earth, peer_ns=mars)
//
// docs/architecture.md describes the layers of the code and what each
// may import.
//
// Layer: a leaf (docs/architecture.md): it imports no nsh package;
// builtins (help()) and interp/repl (completion) read it.
package docs
