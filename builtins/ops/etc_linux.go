package ops

import (
	"errors"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"github.com/nshlab/nsh/builtins/sys/kernel"
)

// EtcDir is where `ip netns exec NAME` finds the files it shows as /etc
// in namespace NAME (/etc/netns/NAME/hosts is its /etc/hosts). Tests may
// point it elsewhere.
var EtcDir = "/etc/netns"

// NetnsEtc writes the file EtcDir/NS/File, as the tutorials' `mkdir -p
// /etc/netns/NS; echo ... > /etc/netns/NS/FILE` do, so that processes run
// in NS (exec_in, spawn, ip netns exec) see it as /etc/FILE. Apply learns
// what was there before, so that Revert puts it back, or removes the file
// and the directories Apply made. Deleting the namespace does not remove
// the file, as ip netns delete does not: the operation is not Scoped.
type NetnsEtc struct {
	NS      string `json:"ns"`
	File    string `json:"file"`
	Content string `json:"content"`
	// Old is the file's content before, or nil if there was none.
	Old *string `json:"old,omitempty"`
	// Made are the directories Apply made, outermost first.
	Made    []string `json:"made,omitempty"`
	Learned bool     `json:"learned,omitempty"`
}

func init() { Register("netns.etc", func() Op { return new(NetnsEtc) }) }

// Kind implements Op.
func (o *NetnsEtc) Kind() string { return "netns.etc" }

// Learns implements Learner.
func (o *NetnsEtc) Learns() {}

// CheckEtcFile reports what is wrong with the name of a file of
// /etc/netns/NS: it is a path inside that directory, without "..".
func CheckEtcFile(file string) error {
	clean := filepath.Clean(file)
	if file == "" || filepath.IsAbs(file) || clean == "." || clean == ".." || strings.HasPrefix(clean, "../") {
		return fmt.Errorf("bad file %q: want a name inside /etc/netns/NAME, such as \"hosts\" or \"resolv.conf\"", file)
	}
	return nil
}

func (o *NetnsEtc) path() string { return filepath.Join(EtcDir, o.NS, filepath.Clean(o.File)) }

// Apply implements Op.
func (o *NetnsEtc) Apply(k kernel.Kernel) error {
	what := fmt.Sprintf("write %s", o.path())
	if err := CheckEtcFile(o.File); err != nil {
		return fmt.Errorf("failed to %s: %w", what, err)
	}
	if isHost(o.NS) {
		return fmt.Errorf("failed to %s: host has no /etc/netns directory (ip netns exec shows it only in named namespaces)", what)
	}
	// The file is the machine's, not the kernel's: with a model kernel
	// (a plan), the op learns what a run would (the old content, the
	// directories it would make) and writes nothing.
	ns, err := k.Namespace(o.NS)
	if err != nil {
		return failed(what, err)
	}
	model := kernel.RunsNothing(ns)
	old, err := os.ReadFile(o.path())
	switch {
	case err == nil:
		s := string(old)
		o.Old = &s
	case errors.Is(err, os.ErrNotExist):
		o.Old = nil
	default:
		return fmt.Errorf("failed to %s: %w", what, err)
	}
	o.Made = nil
	var dirs []string
	for d := filepath.Dir(o.path()); d != filepath.Dir(EtcDir); d = filepath.Dir(d) {
		dirs = append([]string{d}, dirs...)
	}
	if model {
		for _, d := range dirs {
			if _, err := os.Stat(d); errors.Is(err, os.ErrNotExist) {
				o.Made = append(o.Made, d)
			}
		}
		o.Learned = true
		return nil
	}
	for _, d := range dirs {
		if _, err := os.Stat(d); errors.Is(err, os.ErrNotExist) {
			if err := os.Mkdir(d, 0o755); err != nil {
				o.undoDirs()
				return fmt.Errorf("failed to %s: %w", what, err)
			}
			o.Made = append(o.Made, d)
		}
	}
	o.Learned = true
	if err := writeFile(o.path(), o.Content); err != nil {
		o.undoDirs()
		return fmt.Errorf("failed to %s: %w", what, err)
	}
	return nil
}

// writeFile replaces a file's content in one rename.
func writeFile(path, content string) error {
	tmp := path + ".nsh-tmp"
	if err := os.WriteFile(tmp, []byte(content), 0o644); err != nil {
		return err
	}
	if err := os.Rename(tmp, path); err != nil {
		os.Remove(tmp)
		return err
	}
	return nil
}

// undoDirs removes the directories Apply made, if they are empty.
func (o *NetnsEtc) undoDirs() {
	for i := len(o.Made) - 1; i >= 0; i-- {
		os.Remove(o.Made[i])
	}
}

// Revert implements Op.
func (o *NetnsEtc) Revert(k kernel.Kernel) error {
	if _, model := k.(ContainerModel); !o.Learned || model {
		return nil // a model wrote nothing
	}
	if o.Old != nil {
		if err := writeFile(o.path(), *o.Old); err != nil {
			return fmt.Errorf("failed to restore %s: %w", o.path(), err)
		}
		return nil
	}
	if err := os.Remove(o.path()); err != nil && !errors.Is(err, os.ErrNotExist) {
		return fmt.Errorf("failed to remove %s: %w", o.path(), err)
	}
	o.undoDirs()
	return nil
}

// Undo implements Undoer: the file's old content back, or the file and
// the directories Apply made removed (nsh export's down: /etc is the
// machine's, so a file left there would outlive the lab).
func (o *NetnsEtc) Undo(host string) []string {
	if o.Old != nil {
		esc := strings.NewReplacer(`\`, `\\`, "%", "%%", "\n", `\n`, "\t", `\t`).Replace(*o.Old)
		return []string{"printf " + shellQuote(esc) + " > " + shellQuote(o.path())}
	}
	// One line: a script of the lab runs an operation's undo lines
	// newest first, and the file must go before its directories.
	cmd := "rm -f " + shellQuote(o.path())
	if len(o.Made) > 0 {
		var dirs []string
		for i := len(o.Made) - 1; i >= 0; i-- {
			dirs = append(dirs, shellQuote(o.Made[i]))
		}
		cmd += " && { rmdir " + strings.Join(dirs, " ") + " 2>/dev/null || true; }"
	}
	return []string{cmd}
}

// Explain implements Op: the commands are one line each, so the content
// is printf's format, with its newlines, backslashes and percent signs
// escaped.
func (o *NetnsEtc) Explain(host string) []string {
	esc := strings.NewReplacer(`\`, `\\`, "%", "%%", "\n", `\n`, "\t", `\t`).Replace(o.Content)
	return []string{
		"mkdir -p " + shellQuote(filepath.Dir(o.path())),
		"printf " + shellQuote(esc) + " > " + shellQuote(o.path()),
	}
}
