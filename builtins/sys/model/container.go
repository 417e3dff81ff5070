package model

import (
	"fmt"
	"os"
)

// AddContainer records a container named name in the namespace ns: in the
// model a container is its network namespace and a name, and runs
// nothing. A name that is taken fails with os.ErrExist, as a pidfile of a
// running container would.
func (k *Kernel) AddContainer(name, ns string) error {
	k.mu.Lock()
	defer k.mu.Unlock()
	if _, ok := k.ctrs[name]; ok {
		return fmt.Errorf("container %q: %w", name, os.ErrExist)
	}
	if k.ctrs == nil {
		k.ctrs = map[string]string{}
	}
	k.ctrs[name] = ns
	return nil
}

// DeleteContainer forgets a container. A container that is gone is no
// error.
func (k *Kernel) DeleteContainer(name string) {
	k.mu.Lock()
	defer k.mu.Unlock()
	delete(k.ctrs, name)
}

// Containers returns the containers the model holds, by name, with the
// namespace of each.
func (k *Kernel) Containers() map[string]string {
	k.mu.Lock()
	defer k.mu.Unlock()
	out := make(map[string]string, len(k.ctrs))
	for n, ns := range k.ctrs {
		out[n] = ns
	}
	return out
}
