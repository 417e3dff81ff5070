package stdlib

import (
	"io/fs"
	"sort"
	"strings"
	"sync"

	"go.starlark.net/syntax"
)

var (
	exportsOnce sync.Once
	exports     map[string]string
)

// Exports maps each name that a module of the standard library defines at
// top level, and that load() can import (it does not start with '_'), to
// the module's file name ("check.star"). When two modules define a name,
// the first in file-name order has it.
func Exports() map[string]string {
	exportsOnce.Do(func() {
		exports = map[string]string{}
		files, _ := fs.Glob(FS, "*.star")
		sort.Strings(files)
		for _, file := range files {
			src, err := fs.ReadFile(FS, file)
			if err != nil {
				continue
			}
			opts := &syntax.FileOptions{Set: true, While: true, TopLevelControl: true, GlobalReassign: true, Recursion: true}
			f, err := opts.Parse(file, src, 0)
			if err != nil {
				continue
			}
			add := func(name string) {
				if _, dup := exports[name]; !dup && !strings.HasPrefix(name, "_") {
					exports[name] = file
				}
			}
			for _, st := range f.Stmts {
				switch st := st.(type) {
				case *syntax.DefStmt:
					add(st.Name.Name)
				case *syntax.AssignStmt:
					if id, ok := st.LHS.(*syntax.Ident); ok {
						add(id.Name)
					}
				}
			}
		}
	})
	return exports
}
