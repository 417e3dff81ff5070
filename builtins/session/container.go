package session

import (
	"github.com/nshlab/nsh/builtins/ops"
)

// FindContainer returns the live container named name (ops.ContainerAdd)
// of any session, and that session's name, so that nsh exec can enter it
// and a new container cannot take its name.
func FindContainer(name string) (*ops.ContainerAdd, string, bool) {
	for _, s := range List() {
		st, err := Inspect(s)
		if err != nil {
			continue
		}
		if c := liveContainer(st.Steps, name); c != nil {
			return c, s, true
		}
	}
	return nil, "", false
}

// Containers returns the live containers of the session, oldest first.
func (s *Session) Containers() []*ops.ContainerAdd {
	var out []*ops.ContainerAdd
	for _, st := range s.Steps() {
		for _, e := range st.Entries {
			if c, ok := e.Op.(*ops.ContainerAdd); ok && e.Live() {
				out = append(out, c)
			}
		}
	}
	return out
}

func liveContainer(steps []*Step, name string) *ops.ContainerAdd {
	for _, st := range steps {
		for _, e := range st.Entries {
			if c, ok := e.Op.(*ops.ContainerAdd); ok && e.Live() && c.Name == name {
				return c
			}
		}
	}
	return nil
}
