package session

import (
	"fmt"
	"os"

	"github.com/nshlab/nsh/builtins/ops"
	"golang.org/x/sys/unix"
)

// lockHost takes the lock of the machine's shared state, waiting for the
// session that holds it, and returns its release. The lock is a flock of
// RunDir itself, which every session takes while it applies or reverts an
// operation on state that sessions share (ops.Shared): the machine's own
// namespace, for sessions without a sandbox. Locking the directory leaves
// no file behind.
func lockHost() (func(), error) {
	if err := os.MkdirAll(RunDir, 0o755); err != nil {
		return nil, fmt.Errorf("failed to create %s: %w", RunDir, err)
	}
	f, err := os.Open(RunDir)
	if err != nil {
		return nil, fmt.Errorf("failed to open %s to lock the machine's shared state: %w", RunDir, err)
	}
	for {
		err = unix.Flock(int(f.Fd()), unix.LOCK_EX)
		if err != unix.EINTR {
			break
		}
	}
	if err != nil {
		f.Close()
		return nil, fmt.Errorf("failed to lock the machine's shared state: %w", err)
	}
	return func() { f.Close() }, nil
}

// sharedKey returns the key of the shared state op changes, or "" if it
// changes none. Only sessions that work in the machine's own namespace
// share state: a sandbox is the session's alone.
func (s *Session) sharedKey(op ops.Op) (ops.Shared, string) {
	sh, ok := op.(ops.Shared)
	if !ok || s.Sandboxed() {
		return nil, ""
	}
	return sh, sh.SharedKey()
}

// holders returns the live operations of the other sessions on the
// machine's own namespace that hold the shared state named key, oldest
// session first. Sessions of an earlier boot hold nothing.
func (s *Session) holders(key string) []ops.Op {
	var held []ops.Op
	boot := BootID()
	type session struct {
		created string
		ops     []ops.Op
	}
	var found []session
	for _, name := range List() {
		if name == s.Name {
			continue
		}
		st, err := Inspect(name)
		if err != nil || st.Meta.Sandbox != "" || (st.Meta.BootID != "" && st.Meta.BootID != boot) {
			continue
		}
		var mine []ops.Op
		for _, step := range st.Steps {
			for _, e := range step.Entries {
				if !e.Live() {
					continue
				}
				if sh, ok := e.Op.(ops.Shared); ok && sh.SharedKey() == key {
					mine = append(mine, e.Op)
				}
			}
		}
		if len(mine) > 0 {
			found = append(found, session{st.Meta.Created, mine})
		}
	}
	// Oldest session first: the first holder saw the state before any
	// session changed it.
	for i := 1; i < len(found); i++ {
		for j := i; j > 0 && found[j].created < found[j-1].created; j-- {
			found[j], found[j-1] = found[j-1], found[j]
		}
	}
	for _, f := range found {
		held = append(held, f.ops...)
	}
	return held
}
