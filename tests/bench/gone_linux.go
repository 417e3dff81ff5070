package main

// "Gone", the same for every way: the teardown command has returned, the
// lab's pins are no longer in /run/netns, and every hub-side veth end has
// been destroyed in the hub, which the kernel does only when it destroys
// the namespace holding the other end (cleanup_net, on a workqueue, after
// the pin is removed). The watcher holds the hub open (an fd and a netlink
// socket subscribed to link events there), so the hub outlives its pin
// until the watcher closes; the time of the last RTM_DELLINK of a hub end
// is the moment the lab is gone.

import (
	"fmt"
	"os"
	"path/filepath"
	"sync"
	"time"

	"github.com/vishvananda/netlink"
	"github.com/vishvananda/netns"
	"golang.org/x/sys/unix"
)

type watcher struct {
	hub     netns.NsHandle
	h       *netlink.Handle
	done    chan struct{}
	updates chan netlink.LinkUpdate
	mu      sync.Mutex
	left    map[string]bool
	last    time.Time
	lost    bool
	closed  bool
}

// watchHub opens the hub and starts listening for link deletions. It
// checks that the hub holds n hub ends.
func watchHub(hubName string, n int) (*watcher, error) {
	hub, err := netns.GetFromPath(filepath.Join(netnsDir, hubName))
	if err != nil {
		return nil, fmt.Errorf("open hub %s: %w", hubName, err)
	}
	w := &watcher{hub: hub, done: make(chan struct{}), updates: make(chan netlink.LinkUpdate, 4096), left: map[string]bool{}}
	err = netlink.LinkSubscribeWithOptions(w.updates, w.done, netlink.LinkSubscribeOptions{
		Namespace:              &hub,
		ReceiveBufferSize:      32 << 20,
		ReceiveBufferForceSize: true,
		ErrorCallback: func(error) {
			w.mu.Lock()
			w.lost = true
			w.mu.Unlock()
		},
	})
	if err != nil {
		hub.Close()
		return nil, fmt.Errorf("subscribe in hub: %w", err)
	}
	w.h, err = netlink.NewHandleAt(hub, unix.NETLINK_ROUTE)
	if err != nil {
		w.close()
		return nil, err
	}
	ends, err := w.hubEnds()
	if err != nil {
		w.close()
		return nil, err
	}
	if len(ends) != n {
		w.close()
		return nil, fmt.Errorf("hub %s holds %d veth ends, want %d: the build is incomplete", hubName, len(ends), n)
	}
	for _, e := range ends {
		w.left[e] = true
	}
	go w.loop()
	return w, nil
}

func (w *watcher) hubEnds() ([]string, error) {
	ls, err := w.h.LinkList()
	if err != nil {
		return nil, fmt.Errorf("list hub links: %w", err)
	}
	var out []string
	for _, l := range ls {
		if l.Type() == "veth" {
			out = append(out, l.Attrs().Name)
		}
	}
	return out, nil
}

func (w *watcher) loop() {
	for u := range w.updates {
		if u.Header.Type != unix.RTM_DELLINK {
			continue
		}
		now := time.Now()
		w.mu.Lock()
		if w.left[u.Link.Attrs().Name] {
			delete(w.left, u.Link.Attrs().Name)
			w.last = now
		}
		w.mu.Unlock()
	}
}

// wait waits until every hub end is gone, and returns when the last one
// went. If events were lost, it falls back to listing the hub's links.
func (w *watcher) wait(timeout time.Duration) (time.Time, error) {
	deadline := time.Now().Add(timeout)
	poll := time.Now()
	for {
		w.mu.Lock()
		left, last, lost := len(w.left), w.last, w.lost
		w.mu.Unlock()
		if left == 0 {
			return last, nil
		}
		if lost && time.Since(poll) > 20*time.Millisecond {
			poll = time.Now()
			ends, err := w.hubEnds()
			if err == nil && len(ends) == 0 {
				return time.Now(), nil
			}
		}
		if time.Now().After(deadline) {
			return time.Time{}, fmt.Errorf("%d hub ends still there after %v", left, timeout)
		}
		time.Sleep(time.Millisecond)
	}
}

func (w *watcher) close() {
	if w.closed {
		return
	}
	w.closed = true
	close(w.done)
	if w.h != nil {
		w.h.Close()
	}
	w.hub.Close()
}

// pinsGone reports the lab's names still pinned in /run/netns.
func pinsLeft(names []string) []string {
	var left []string
	for _, n := range names {
		if _, err := os.Lstat(filepath.Join(netnsDir, n)); err == nil {
			left = append(left, n)
		}
	}
	return left
}
