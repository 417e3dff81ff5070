package repl

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"sync"
	"syscall"

	"github.com/chzyer/readline"
	"github.com/nshlab/nsh/builtins"
	"github.com/nshlab/nsh/builtins/session"
	"github.com/nshlab/nsh/interp"
	"go.starlark.net/starlark"
	"go.starlark.net/syntax"
)

// ErrFailed is returned by Run when, reading from a pipe, a statement
// failed (the error has been printed and the statement reverted), or when
// a signal stopped the REPL.
var ErrFailed = errors.New("a statement failed")

// Options configure Run.
type Options struct {
	// Interp runs the statements; its Env's session journals them.
	Interp *interp.Interp
	// In is read for statements; Out receives values and Err errors and
	// messages.
	In       io.Reader
	Out, Err io.Writer
	// Interactive makes Run use line editing, completion and history, and
	// go on after a failed statement. Without it, In is read to its end
	// as one program, and Run stops at the first failure.
	Interactive bool
	// HistoryFile keeps the lines typed, across runs. Empty: no history.
	HistoryFile string
	// Remove tears the session down when the REPL ends.
	Remove bool
	// Banner is printed at the start of an interactive REPL.
	Banner string

	// The hooks below let a program run the REPL for its own purpose (nsh
	// learn runs a lesson in it); the plain REPL sets none of them.

	// Globals, if not nil, is the map that holds the REPL's variables: Run
	// adds the predeclared names and exit() to it, without replacing the
	// names already there, so that a caller can predeclare names of its
	// own (as builtins that close over this map) and see the variables.
	Globals starlark.StringDict
	// AfterStatement, if set, is called after each statement has run and,
	// if it failed, been reverted; ok reports whether it succeeded. It may
	// print, and change Globals.
	AfterStatement func(ok bool)
	// Prompt, if set, returns the primary prompt.
	Prompt func() string
	// LeftUp, if set, returns what the REPL says when it ends and leaves
	// the lab up, instead of how to undo it and tear it down.
	LeftUp func() string
}

// HistoryPath returns where the history is kept: $NSH_HISTORY, or
// ~/.nsh_history.
func HistoryPath() string {
	if p := os.Getenv("NSH_HISTORY"); p != "" {
		return p
	}
	home, err := os.UserHomeDir()
	if err != nil {
		return ""
	}
	return filepath.Join(home, ".nsh_history")
}

// repl is the state of one Run.
type repl struct {
	o       Options
	in      *interp.Interp
	s       *session.Session
	globals starlark.StringDict
	rl      *readline.Instance

	// pending are lines read past the end of the last statement.
	pending []string
	// line is the number of input lines consumed so far.
	line int
	eof  bool
	// interrupts counts Ctrl-C at an empty prompt in a row.
	interrupts int
	exit       bool

	mu      sync.Mutex
	thread  *starlark.Thread // the running statement's, or nil
	cancel  context.CancelFunc
	stopped bool // a signal asked the REPL to stop
	// interrupted names the signal that cancelled the running statement.
	interrupted string
}

// Run reads statements and runs each one as a step of the session until
// the input ends or exit() is called. Then it leaves the lab up, or tears
// it down if o.Remove is set, and closes the session.
func Run(o Options) error {
	if o.Out == nil {
		o.Out = os.Stdout
	}
	if o.Err == nil {
		o.Err = os.Stderr
	}
	r := &repl{o: o, in: o.Interp, s: o.Interp.Env.Session}
	r.globals = o.Globals
	if r.globals == nil {
		r.globals = starlark.StringDict{}
	}
	for k, v := range r.in.Predeclared {
		if _, ok := r.globals[k]; !ok {
			r.globals[k] = v
		}
	}
	if _, ok := r.globals["exit"]; !ok {
		r.globals["exit"] = starlark.NewBuiltin("exit", r.exitBuiltin)
	}

	sigs := make(chan os.Signal, 1)
	signal.Notify(sigs, syscall.SIGINT, syscall.SIGTERM, syscall.SIGHUP)
	defer signal.Stop(sigs)
	go r.signals(sigs)

	var err error
	if o.Interactive {
		err = r.interactive()
	} else {
		err = r.batch()
	}
	if lerr := r.leave(); lerr != nil && err == nil {
		err = lerr
	}
	return err
}

// exitBuiltin implements exit(): the REPL ends after this statement.
func (r *repl) exitBuiltin(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
	if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
		return nil, err
	}
	r.exit = true
	return starlark.None, nil
}

// signals cancels the running statement on SIGINT, SIGTERM or SIGHUP; the
// latter two also end the REPL.
func (r *repl) signals(sigs <-chan os.Signal) {
	for sig := range sigs {
		r.mu.Lock()
		thread, cancel := r.thread, r.cancel
		if sig != syscall.SIGINT || !r.o.Interactive {
			r.stopped = true
		}
		if thread != nil && r.interrupted == "" {
			r.interrupted = interp.SignalName(sig)
		}
		stopped := r.stopped
		r.mu.Unlock()
		if thread != nil {
			thread.Cancel("interrupted")
			cancel()
			continue
		}
		if stopped {
			if r.rl != nil {
				r.rl.Close()
			} else if c, ok := r.o.In.(io.Closer); ok {
				c.Close()
			}
		}
	}
}

func (r *repl) isStopped() bool {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.stopped
}

// prompt returns the primary or the continuation prompt.
func (r *repl) prompt(first bool) string {
	p := "nsh:" + r.s.Name + "> "
	if r.o.Prompt != nil {
		p = r.o.Prompt()
	}
	if first {
		return p
	}
	return strings.Repeat(" ", max(len(p)-4, 0)) + "... "
}

func (r *repl) interactive() error {
	hist := r.o.HistoryFile
	rl, err := readline.NewEx(&readline.Config{
		Prompt:            r.prompt(true),
		HistoryFile:       hist,
		HistorySearchFold: true,
		AutoComplete:      &completer{r: r},
		Stdout:            r.o.Out,
		Stderr:            r.o.Err,
	})
	if err != nil {
		return fmt.Errorf("failed to start line editing: %w", err)
	}
	r.mu.Lock()
	r.rl = rl
	r.mu.Unlock()
	defer rl.Close()
	if r.o.Banner != "" {
		fmt.Fprintln(r.o.Err, r.o.Banner)
	}
	for !r.exit && !r.isStopped() {
		f, text, start, typed, err := r.readStatement(func(first bool) (string, error) {
			rl.SetPrompt(r.prompt(first))
			return rl.Readline()
		})
		switch {
		case errors.Is(err, readline.ErrInterrupt):
			if typed {
				r.interrupts = 0
				continue
			}
			r.interrupts++
			if r.interrupts >= 2 {
				fmt.Fprintln(r.o.Err, "(To leave, press Ctrl-D or type exit(). The lab stays up; undo() reverts the last statement.)")
			}
			continue
		case errors.Is(err, io.EOF):
			fmt.Fprintln(r.o.Err)
			if r.isStopped() {
				return ErrFailed
			}
			return nil
		case err != nil:
			fmt.Fprintln(r.o.Err, interp.FormatError(err))
			continue
		}
		r.interrupts = 0
		if f == nil || len(f.Stmts) == 0 {
			continue
		}
		ok := r.exec(f, text, start)
		r.after(ok)
	}
	if r.isStopped() {
		return ErrFailed
	}
	return nil
}

// readStatement reads one compound statement: a simple statement, or a
// def, for, if or while block ended by a blank line. Lines read after the
// statement's end are kept for the next one. It returns the statement
// parsed with positions counted from the start of the input, its text,
// its first line, and whether anything but white space was typed.
func (r *repl) readStatement(read func(first bool) (string, error)) (f *syntax.File, text string, start int, typed bool, err error) {
	var lines []string
	var readErr error
	next := func() ([]byte, error) {
		var line string
		if len(r.pending) > 0 {
			line, r.pending = r.pending[0], r.pending[1:]
		} else {
			var err error
			line, err = read(len(lines) == 0)
			if err != nil {
				if strings.TrimSpace(line) != "" {
					typed = true
				}
				if errors.Is(err, io.EOF) && len(lines) > 0 && !r.eof {
					// End a block that the input ends in.
					r.eof = true
					line, err = "", nil
				} else {
					readErr = err
					return nil, err
				}
			}
		}
		if strings.TrimSpace(line) != "" {
			typed = true
		}
		lines = append(lines, line)
		return []byte(line + "\n"), nil
	}
	start = r.line + 1
	opts := *interp.FileOptions
	opts.LoadBindsGlobally = true
	chunk, err := opts.ParseCompoundStmt("<stdin>", next)
	if readErr != nil {
		r.line += len(lines)
		return nil, "", start, typed, readErr
	}
	if err != nil {
		r.line += len(lines)
		return nil, "", start, typed, shiftError(err, start-1)
	}
	used := len(lines)
	if n := len(chunk.Stmts); n > 0 {
		_, end := chunk.Stmts[n-1].Span()
		used = min(int(end.Line), len(lines))
	}
	r.pending = append(append([]string(nil), lines[used:]...), r.pending...)
	r.line += used
	text = strings.Join(lines[:used], "\n")
	if len(chunk.Stmts) == 0 {
		return nil, text, start, typed, nil
	}
	// Parse again, so that positions count from the start of the input.
	f, err = opts.Parse("<stdin>", strings.Repeat("\n", start-1)+text+"\n", 0)
	if err != nil {
		return nil, "", start, typed, err
	}
	return f, text, start, typed, nil
}

// shiftError moves the position of a syntax error by n lines.
func shiftError(err error, n int) error {
	var se syntax.Error
	if errors.As(err, &se) {
		se.Pos = syntax.MakePosition(&[]string{"<stdin>"}[0], se.Pos.Line+int32(n), se.Pos.Col)
		return se
	}
	return err
}

// batch runs the whole of o.In as a program, one top-level statement at a
// time, and stops at the first failure.
func (r *repl) batch() error {
	src, err := io.ReadAll(bufio.NewReader(r.o.In))
	if err != nil && !r.isStopped() {
		return fmt.Errorf("failed to read standard input: %w", err)
	}
	if r.isStopped() {
		return ErrFailed
	}
	opts := *interp.FileOptions
	opts.LoadBindsGlobally = true
	f, err := opts.Parse("<stdin>", src, 0)
	if err != nil {
		fmt.Fprintln(r.o.Err, interp.FormatError(err))
		return ErrFailed
	}
	for _, c := range Chunks(f, string(src)) {
		ok := r.exec(c.File, c.Text, c.Line)
		r.after(ok)
		if !ok || r.isStopped() {
			return ErrFailed
		}
		if r.exit {
			break
		}
	}
	return nil
}

// A Chunk is what runs as one step of a program: the statements of one
// source line (several separated by semicolons, as when typed), or one
// statement that spans several lines.
type Chunk struct {
	File *syntax.File // the statements, as a file of their own
	Text string       // their source lines
	Line int          // the first of them
}

// Chunks splits f, parsed from src, into its steps.
func Chunks(f *syntax.File, src string) []Chunk {
	lines := strings.Split(src, "\n")
	var out []Chunk
	for i := 0; i < len(f.Stmts); {
		from, to := f.Stmts[i].Span()
		j := i + 1
		for j < len(f.Stmts) {
			a, b := f.Stmts[j].Span()
			if a.Line != to.Line {
				break
			}
			to = b
			j++
		}
		lo, hi := int(from.Line)-1, int(to.Line)
		out = append(out, Chunk{
			File: &syntax.File{Options: f.Options, Path: f.Path, Stmts: f.Stmts[i:j]},
			Text: strings.Join(lines[max(lo, 0):min(hi, len(lines))], "\n"),
			Line: int(from.Line),
		})
		i = j
	}
	return out
}

// exec runs one statement as a step and reports whether it succeeded. A
// statement that fails is reverted.
func (r *repl) exec(f *syntax.File, text string, start int) bool {
	s := r.s
	before := s.Steps()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	r.in.Env.Ctx = ctx
	thread := r.in.Thread("repl")
	r.mu.Lock()
	r.thread, r.cancel, r.interrupted = thread, cancel, ""
	r.mu.Unlock()
	defer func() {
		r.mu.Lock()
		r.thread, r.cancel = nil, nil
		r.mu.Unlock()
	}()

	s.StartStep(stepName(text), fmt.Sprintf("<stdin>:%d", start))
	mark := s.Mark()
	// A failed statement is reverted by itself, so undo() inside it must
	// not revert earlier statements, which could not be brought back;
	// a statement that is only a call of undo() cannot fail after it.
	builtins.SetUndoScope(thread, &builtins.UndoScope{
		Mark:    mark,
		What:    "this statement",
		Earlier: "type undo() or undo(N) as a statement of its own",
		Free:    r.onlyUndo(f),
	})
	var v starlark.Value = starlark.None
	var err error
	if expr := soleExpr(f); expr != nil {
		v, err = starlark.EvalExprOptions(f.Options, thread, expr, r.globals)
		if err == nil {
			r.globals["_"] = v
		}
	} else {
		err = starlark.ExecREPLChunk(f, thread, r.globals)
	}
	if err == nil {
		// A statement's end is a barrier (builtins.Env.Barrier).
		err = r.in.Env.Barrier()
	}
	if err != nil {
		msg := interp.FormatError(err)
		r.mu.Lock()
		why := r.interrupted
		r.mu.Unlock()
		if why != "" {
			msg = interp.FormatInterrupted(err, why)
		}
		fmt.Fprintln(r.o.Err, msg)
		changed := newLive(before, s.Steps())
		if rerr := s.RevertSince(mark); rerr != nil {
			fmt.Fprintf(r.o.Err, "nsh: failed to revert the statement: %v\nnsh: nsh down --session %s tears the whole lab down\n", rerr, s.Name)
		} else if changed {
			fmt.Fprintln(r.o.Err, "nsh: reverted what the statement changed")
		}
		return false
	}
	r.reportUndone(before)
	if v != starlark.None {
		fmt.Fprintln(r.o.Out, format(v))
	}
	return true
}

// after calls the AfterStatement hook, if there is one.
func (r *repl) after(ok bool) {
	if r.o.AfterStatement != nil && !r.isStopped() {
		r.o.AfterStatement(ok)
	}
}

// newLive reports whether after holds a live step that before did not.
func newLive(before, after []*session.Step) bool {
	old := map[*session.Step]bool{}
	for _, st := range before {
		old[st] = true
	}
	for _, st := range after {
		if !old[st] {
			return true
		}
	}
	return false
}

// reportUndone says which of the steps live before a statement it undid.
func (r *repl) reportUndone(before []*session.Step) {
	live := map[*session.Step]bool{}
	for _, st := range r.s.Steps() {
		live[st] = true
	}
	for i := len(before) - 1; i >= 0; i-- {
		if st := before[i]; !live[st] {
			fmt.Fprintf(r.o.Err, "undid: %s\n", st.Name)
		}
	}
}

// stepName names a statement's step after its text: its first line.
func stepName(text string) string {
	text = strings.TrimSpace(text)
	first, rest, more := strings.Cut(text, "\n")
	first = strings.TrimSpace(first)
	if len(first) > 72 {
		first = first[:69] + "..."
	} else if more && strings.TrimSpace(rest) != "" {
		first += " ..."
	}
	return first
}

// onlyUndo reports whether f is nothing but a call of the builtin undo(),
// with no call in its arguments: such a statement cannot fail once undo()
// has reverted something.
func (r *repl) onlyUndo(f *syntax.File) bool {
	call, ok := soleExpr(f).(*syntax.CallExpr)
	if !ok {
		return false
	}
	id, ok := call.Fn.(*syntax.Ident)
	if !ok || id.Name != "undo" || r.globals["undo"] == nil || r.globals["undo"] != r.in.Predeclared["undo"] {
		return false
	}
	calls := false
	for _, arg := range call.Args {
		syntax.Walk(arg, func(n syntax.Node) bool {
			switch n.(type) {
			case *syntax.CallExpr, *syntax.Comprehension, *syntax.LambdaExpr:
				calls = true
			}
			return !calls
		})
	}
	return !calls
}

func soleExpr(f *syntax.File) syntax.Expr {
	if len(f.Stmts) == 1 {
		if stmt, ok := f.Stmts[0].(*syntax.ExprStmt); ok {
			return stmt.X
		}
	}
	return nil
}

// format returns how the REPL prints a value: its repr, except for the
// list journal() returns, which is printed one step a line with its
// commands below.
func format(v starlark.Value) string {
	l, ok := v.(*starlark.List)
	if !ok || l.Len() == 0 {
		return v.String()
	}
	var b strings.Builder
	for i := 0; i < l.Len(); i++ {
		// journal() makes its steps as records whose type() is "step".
		st, ok := l.Index(i).(starlark.HasAttrs)
		if !ok || st.Type() != "step" {
			return v.String()
		}
		name, _ := st.Attr("name")
		pos, _ := st.Attr("pos")
		ops, _ := st.Attr("ops")
		n, _ := starlark.AsString(name)
		p, _ := starlark.AsString(pos)
		fmt.Fprintf(&b, "%d  %s", i+1, n)
		if p != "" {
			fmt.Fprintf(&b, "    [%s]", p)
		}
		b.WriteByte('\n')
		if ol, ok := ops.(*starlark.List); ok {
			for j := 0; j < ol.Len(); j++ {
				c, _ := starlark.AsString(ol.Index(j))
				fmt.Fprintf(&b, "     %s\n", c)
			}
		}
	}
	return strings.TrimRight(b.String(), "\n")
}

// leave ends the REPL's hold on the session: it tears the session down
// with Remove, removes a sandbox in which nothing was built, and otherwise
// leaves the lab up and says how to undo it or tear it down.
func (r *repl) leave() error {
	s := r.s
	if r.o.Remove {
		if err := s.Down(); err != nil {
			s.Close()
			return fmt.Errorf("failed to tear down session %q: %w", s.Name, err)
		}
		fmt.Fprintf(r.o.Err, "nsh: session %q is down\n", s.Name)
		return nil
	}
	steps := s.Steps()
	if s.Fresh() && s.Sandboxed() && len(steps) == 1 && steps[0].Name == "sandbox" {
		return s.Down()
	}
	if s.Empty() {
		return s.Close()
	}
	if err := s.Close(); err != nil {
		return err
	}
	if r.o.LeftUp != nil {
		fmt.Fprintln(r.o.Err, r.o.LeftUp())
		return nil
	}
	fmt.Fprintf(r.o.Err, "nsh: lab %q left up: undo with nsh undo --session %s; tear down with nsh down --session %s\n", s.Name, s.Name, s.Name)
	return nil
}
