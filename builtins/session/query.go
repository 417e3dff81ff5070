package session

import (
	"github.com/nshlab/nsh/builtins/ops"
	"github.com/nshlab/nsh/builtins/sys/ipt"
	"github.com/nshlab/nsh/builtins/sys/kernel"
)

// Host is the name that scripts and commands give the machine's own
// network namespace, or a sandboxed session's sandbox, which stands in
// for it.
const Host = kernel.HostName

// Namespaces returns Host followed by the names of the namespaces that the
// session created and that its journal says are still there, oldest
// first; the sandbox is not among them (it is Host).
func (s *Session) Namespaces() []string {
	s.mu.Lock()
	defer s.mu.Unlock()
	out := []string{Host}
	seen := map[string]bool{}
	deleted := s.deleted()
	for _, st := range liveSteps(s.j.steps) {
		for _, e := range st.Entries {
			if a, ok := e.Op.(*ops.NetnsAdd); ok && !a.Sandbox && e.Live() && !deleted[e.ID] && !seen[a.Name] {
				seen[a.Name] = true
				out = append(out, a.Name)
			}
		}
	}
	return out
}

// LinkNames returns the names of the links in the namespace ns ("host"
// for Host), in the kernel's order, or nil if the namespace cannot be
// read. It is for completion, which has nothing to say about an error.
func (s *Session) LinkNames(ns string) []string {
	kns, err := s.K.Namespace(ns)
	if err != nil {
		return nil
	}
	h, err := kns.Netlink()
	if err != nil {
		return nil
	}
	links, err := h.LinkList()
	if err != nil {
		return nil
	}
	names := make([]string, len(links))
	for i, l := range links {
		names[i] = l.Attrs().Name
	}
	return names
}

// IptablesBackend describes, for nsh status, the iptables that rules are
// added with: the binary that the machine's own iptables command is (or
// $NSH_IPTABLES), its version and its backend, nf_tables or legacy, e.g.
// "nft (iptables v1.8.9 (nf_tables), /usr/sbin/iptables-nft)".
func IptablesBackend() (string, error) {
	b, err := ipt.Detect()
	if err != nil {
		return "", err
	}
	return b.String(), nil
}
