package cgraph

import "github.com/goccy/go-graphviz/internal/wasm"

// setEnums sets the package's variables that copy the module's enums,
// once it is loaded. (nsh's patch: upstream copies them in package
// initialization, when the module was already loaded by an init function.)
func setEnums() {
	GRAPH = ObjectTag(wasm.GRAPH)
	NODE = ObjectTag(wasm.NODE)
	OUTEDGE = ObjectTag(wasm.OUT_EDGE)
	INEDGE = ObjectTag(wasm.IN_EDGE)
	EDGE = ObjectTag(wasm.EDGE)
}
