package main

import (
	"encoding/json"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"

	"github.com/nshlab/nsh/builtins/session"
)

func init() {
	register(&command{
		name:    "undo",
		usage:   "undo [--session NAME] [--steps N]",
		summary: "revert the newest steps of a session",
		help: `
Reverts the newest N steps (default 1) of a session, newest change first.
A 'nsh run' is one step unless the script opens more with step(name).
Without --session, the only session there is.`,
		flags: func(fs *flag.FlagSet) {
			fs.String("session", "", "session name")
			fs.Int("steps", 1, "how many steps to revert")
		},
		run: runUndo,
	})
	register(&command{
		name:    "down",
		usage:   "down [--session NAME]",
		summary: "tear a whole session down",
		help: `
Reverts every change of a session, newest first: deletes the namespaces
and links it created, restores the sysctls it changed, removes its rules,
stops its processes, removes its sandbox, and then the session itself.
Works after a crash of the nsh that built the lab.
Without --session, the only session there is.`,
		flags: func(fs *flag.FlagSet) {
			fs.String("session", "", "session name")
		},
		run: runDown,
	})
	register(&command{
		name:    "status",
		usage:   "status [--session NAME] [--json]",
		summary: "show sessions and their steps",
		help: `
Shows a session's steps and the commands each one stands for; without
--session, every session. Reads the journal without taking the lock, so
it works while another nsh is using the session.`,
		flags: func(fs *flag.FlagSet) {
			fs.String("session", "", "session name")
			fs.Bool("json", false, "print JSON")
		},
		run: runStatus,
	})
}

func sessionName(c *ctx) (string, error) {
	if n := flagString(c.fs, "session"); n != "" {
		return n, nil
	}
	return session.Default()
}

func runUndo(c *ctx) error {
	name, err := sessionName(c)
	if err != nil {
		return err
	}
	n, err := strconv.Atoi(flagString(c.fs, "steps"))
	if err != nil || n < 1 {
		return usageError{"--steps must be a positive number"}
	}
	s, err := session.Open(session.Options{Name: name, Existing: true})
	if err != nil {
		return err
	}
	before := s.Steps()
	done, err := s.Undo(n)
	for i := 0; i < done && i < len(before); i++ {
		st := before[len(before)-1-i]
		if st.Name == "sandbox" && s.Sandboxed() {
			continue
		}
		fmt.Fprintf(c.stdout, "undid step %q\n", st.Name)
	}
	if done == 0 {
		fmt.Fprintf(c.stdout, "session %q has no step to undo (nsh down removes it)\n", name)
	}
	cerr := s.Close()
	if err != nil {
		return err
	}
	return cerr
}

func runDown(c *ctx) error {
	name, err := sessionName(c)
	if err != nil {
		return err
	}
	if os.Geteuid() == 0 && !session.Exists(name) {
		// Down is idempotent: a session that is gone is down. (Not as
		// another user, who is told to be root by Open.)
		fmt.Fprintf(c.stderr, "nsh: %v: nothing to tear down\n", session.NoSession(name))
		return nil
	}
	s, err := session.Open(session.Options{Name: name, Existing: true})
	if err != nil {
		return err
	}
	if err := s.Down(); err != nil {
		s.Close()
		return fmt.Errorf("session %q is not fully down: %w\nrun nsh down again once the cause is fixed", name, err)
	}
	fmt.Fprintf(c.stdout, "session %q is down\n", name)
	return nil
}

type jsonOp struct {
	Kind    string   `json:"kind"`
	State   string   `json:"state"`
	Explain []string `json:"explain"`
}

type jsonStep struct {
	Name string   `json:"name"`
	Pos  string   `json:"pos,omitempty"`
	Time string   `json:"time"`
	Ops  []jsonOp `json:"ops"`
}

type jsonSession struct {
	Name    string     `json:"name"`
	Sandbox string     `json:"sandbox,omitempty"`
	Script  string     `json:"script,omitempty"`
	Created string     `json:"created"`
	InUseBy string     `json:"in_use_by,omitempty"`
	Steps   []jsonStep `json:"steps"`
}

func runStatus(c *ctx) error {
	names := session.List()
	if n := flagString(c.fs, "session"); n != "" {
		names = []string{n}
	}
	var out []jsonSession
	for _, name := range names {
		st, err := session.Inspect(name)
		if err != nil {
			return err
		}
		js := jsonSession{Name: name, Sandbox: st.Meta.Sandbox, Script: st.Meta.Script, Created: st.Meta.Created, InUseBy: st.Holder, Steps: []jsonStep{}}
		for _, step := range st.Steps {
			jst := jsonStep{Name: step.Name, Pos: step.Pos, Time: step.Time.Format("2006-01-02T15:04:05Z07:00"), Ops: []jsonOp{}}
			for _, e := range step.Entries {
				if e.Live() {
					jst.Ops = append(jst.Ops, jsonOp{Kind: e.Op.Kind(), State: e.State.String(), Explain: e.Op.Explain(st.Meta.Sandbox)})
				}
			}
			js.Steps = append(js.Steps, jst)
		}
		out = append(out, js)
	}
	if flagBool(c.fs, "json") {
		enc := json.NewEncoder(c.stdout)
		enc.SetIndent("", "  ")
		if out == nil {
			out = []jsonSession{}
		}
		return enc.Encode(out)
	}
	if len(out) == 0 {
		fmt.Fprintln(c.stdout, "no sessions")
		fmt.Fprintln(c.stdout, iptablesLine())
		return nil
	}
	defer func() { fmt.Fprintf(c.stdout, "\n%s\n", iptablesLine()) }()
	for i, js := range out {
		if i > 0 {
			fmt.Fprintln(c.stdout)
		}
		fmt.Fprintf(c.stdout, "session %s", js.Name)
		if js.Script != "" {
			fmt.Fprintf(c.stdout, " (%s)", js.Script)
		}
		if js.Sandbox != "" {
			fmt.Fprintf(c.stdout, ", sandbox %s", js.Sandbox)
		}
		if js.InUseBy != "" {
			fmt.Fprintf(c.stdout, ", in use by %s", js.InUseBy)
		}
		fmt.Fprintln(c.stdout)
		for k, st := range js.Steps {
			fmt.Fprintf(c.stdout, "  step %d: %s", k+1, st.Name)
			if st.Pos != "" {
				fmt.Fprintf(c.stdout, "  [%s]", st.Pos)
			}
			fmt.Fprintln(c.stdout)
			for _, op := range st.Ops {
				mark := ""
				if op.State == "pending" {
					mark = "  (pending: nsh stopped while making it)"
				}
				fmt.Fprintf(c.stdout, "    %s%s\n", strings.Join(op.Explain, "; "), mark)
			}
		}
	}
	return nil
}

// iptablesLine names the iptables backend that rules are added with: the
// one the machine's own iptables command uses (or $NSH_IPTABLES).
func iptablesLine() string {
	b, err := session.IptablesBackend()
	if err != nil {
		return "iptables: " + err.Error()
	}
	return "iptables: " + b
}
