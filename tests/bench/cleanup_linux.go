package main

import (
	"fmt"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"syscall"
	"time"
)

// registry remembers everything the bench made, so that it can be removed
// at the end, after a failure, or on a signal.
type registry struct {
	mu       sync.Mutex
	nsh      string
	id       string
	sessions []string
	child    *os.Process
	dirs     []string
}

func (r *registry) addLab(l *lab) {}

func (r *registry) addSession(s string) {
	r.mu.Lock()
	r.sessions = append(r.sessions, s)
	r.mu.Unlock()
}

func (r *registry) addDir(d string) {
	r.mu.Lock()
	r.dirs = append(r.dirs, d)
	r.mu.Unlock()
}

func (r *registry) setChild(p *os.Process) {
	r.mu.Lock()
	r.child = p
	r.mu.Unlock()
}

// stopChild ends a running nsh or bash (its whole process group): nsh
// rolls back what it built on SIGTERM.
func (r *registry) stopChild() {
	r.mu.Lock()
	p := r.child
	r.mu.Unlock()
	if p == nil {
		return
	}
	syscall.Kill(-p.Pid, syscall.SIGTERM)
	for i := 0; i < 100; i++ {
		if syscall.Kill(p.Pid, 0) != nil {
			return
		}
		time.Sleep(100 * time.Millisecond)
	}
	syscall.Kill(-p.Pid, syscall.SIGKILL)
}

// cleanup removes every session, namespace pin and temporary directory of
// this bench run. All names carry the run's id, so nothing else is touched.
func (r *registry) cleanup() {
	r.cleanupLabs()
	r.mu.Lock()
	dirs := append([]string(nil), r.dirs...)
	r.mu.Unlock()
	for _, d := range dirs {
		os.RemoveAll(d)
	}
}

// cleanupLabs removes this run's sessions and namespaces, keeping its
// temporary files.
func (r *registry) cleanupLabs() {
	r.stopChild()
	r.mu.Lock()
	sessions := append([]string(nil), r.sessions...)
	r.mu.Unlock()
	for _, s := range sessions {
		if _, err := os.Stat(filepath.Join("/run/nsh", s)); err != nil {
			continue
		}
		out, err := exec.Command(r.nsh, "down", "--session", s).CombinedOutput()
		if err != nil {
			fmt.Fprintf(os.Stderr, "bench: cleanup: nsh down --session %s: %v\n%s", s, err, out)
		}
	}
	ents, _ := os.ReadDir(netnsDir)
	n := 0
	for _, e := range ents {
		if r.ours(e.Name()) {
			if err := unpin(e.Name()); err != nil {
				fmt.Fprintf(os.Stderr, "bench: cleanup: %v\n", err)
			}
			n++
		}
	}
	if n > 0 {
		fmt.Fprintf(os.Stderr, "bench: cleanup: removed %d namespaces left behind\n", n)
	}
	for _, s := range sessions {
		if _, err := os.Stat(filepath.Join("/run/nsh", s)); err == nil {
			fmt.Fprintf(os.Stderr, "bench: cleanup: removing the journal of session %s\n", s)
			os.RemoveAll(filepath.Join("/run/nsh", s))
		}
	}
}

// ours reports whether a namespace name belongs to this run.
func (r *registry) ours(name string) bool {
	return strings.HasPrefix(name, "nb-"+r.id) ||
		strings.HasPrefix(name, "nshbench-host-"+r.id) ||
		strings.HasPrefix(name, "nsh-sb-bench"+r.id) ||
		strings.HasPrefix(name, "nsh-sb-benchprof"+r.id)
}
