package session

import (
	"fmt"
	"os"
	"path/filepath"
)

// Status is a read-only view of a session, for nsh status and for commands
// that need a session's sandbox without taking its lock.
type Status struct {
	Meta Meta
	// Steps are the live steps, oldest first.
	Steps []*Step
	// InUse reports whether a process holds the lock; Holder says which.
	InUse  bool
	Holder string
}

// Inspect reads a session's journal without locking it.
func Inspect(name string) (*Status, error) {
	if err := ValidateName(name); err != nil {
		return nil, err
	}
	dir := Dir(name)
	data, err := os.ReadFile(filepath.Join(dir, "journal"))
	if err != nil {
		if os.IsNotExist(err) {
			return nil, NoSession(name)
		}
		return nil, fmt.Errorf("failed to read session %q: %w", name, err)
	}
	j := &journal{byID: map[int]*Entry{}, nextID: 1}
	if n := lastNewline(data); n < len(data) {
		data = data[:n] // a torn last line, being written or left by a crash
	}
	if err := j.replay(data); err != nil {
		return nil, fmt.Errorf("session %q: %w", name, err)
	}
	st := &Status{Meta: j.meta, Steps: liveSteps(j.steps), InUse: locked(dir)}
	if st.InUse {
		st.Holder = Holder(dir)
	}
	return st, nil
}

func lastNewline(b []byte) int {
	for i := len(b) - 1; i >= 0; i-- {
		if b[i] == '\n' {
			return i + 1
		}
	}
	return 0
}

// NoSession is the error for a session that does not exist.
func NoSession(name string) error {
	names := List()
	if len(names) == 0 {
		return fmt.Errorf("no session %q (there are no sessions)", name)
	}
	return fmt.Errorf("no session %q (sessions: %v)", name, names)
}

// Default picks the session a command means when none is named: the only
// one there is.
func Default() (string, error) {
	names := List()
	switch len(names) {
	case 0:
		return "", fmt.Errorf("there are no sessions")
	case 1:
		return names[0], nil
	}
	return "", fmt.Errorf("there are %d sessions %v: name one with --session", len(names), names)
}
