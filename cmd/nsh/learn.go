package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"io"
	"io/fs"
	"os"
	"path/filepath"
	"slices"
	"sort"
	"strings"

	"github.com/nshlab/nsh/builtins"
	"github.com/nshlab/nsh/builtins/session"
	"github.com/nshlab/nsh/interp"
	"github.com/nshlab/nsh/interp/repl"
	"github.com/nshlab/nsh/stdlib"
	"go.starlark.net/starlark"
	"go.starlark.net/starlarkstruct"
	"go.starlark.net/syntax"
	"golang.org/x/term"
)

func init() {
	register(&command{
		name:    "learn",
		usage:   "learn [NAME | FILE.star] [--reset] [--session NAME] [--sandbox=false] | learn --check [NAME | FILE.star]...",
		summary: "follow a tutorial step by step, with your work checked as you go",
		help: `
Without arguments, lists the lessons. 'nsh learn NAME' starts one (or goes
on where you left it) in the REPL: each task says what to build and why,
with the iproute2 commands the tutorial types; you type nsh statements,
and after each one nsh checks the live lab and says in one line what is
still missing, until the task is done. In a lesson:

  hint()    the next hint for the task (several levels)
  show()    print the solution
  solve()   take back what you did in this task and apply the solution
            (journaled: undo() takes it back)
  back()    rewind the lab to the start of the previous task
  status()  where you are in the lesson

The lab runs in a sandbox (a private namespace standing in for host) as
session learn-NAME, and stays up when you leave, with your progress:
'nsh learn NAME' resumes, 'nsh learn --reset NAME' starts over, and
'nsh down --session learn-NAME' removes the lab.

'nsh learn FILE.star' runs a lesson from a file (docs/writing-a-lesson.md).
'nsh learn --check [NAME | FILE.star]' runs every task's solution in a
sandbox and verifies that each task's check fails before its solution and
passes after it, for one lesson or all of them.`,
		flags: func(fs *flag.FlagSet) {
			fs.Bool("check", false, "verify the lessons: every check fails before its solution and passes after")
			fs.Bool("reset", false, "tear down the lesson's lab and start it over")
			fs.Bool("sandbox", true, "run the lab in a private namespace that stands in for host")
			fs.String("session", "", "the session that holds the lab (default: learn-NAME)")
		},
		run: runLearn,
	})
}

// A lessonDef is a lesson as its Starlark file defines it.
type lessonDef struct {
	// name is what nsh learn calls it: the file's base name.
	name string
	// source is "@nsh//lessons/NAME.star" or the file's path.
	source                       string
	title, summary, builds, seed string
	tasks                        []*taskDef
}

// A taskDef is one task of a lesson.
type taskDef struct {
	title, text     string
	commands, hints []string
	solution        string
	fresh           bool
	skip            string
	missing         starlark.Callable
}

func runLearn(c *ctx) error {
	check, reset := flagBool(c.fs, "check"), flagBool(c.fs, "reset")
	if len(c.args) > 1 && !check {
		return usageError{"want one lesson (only --check takes several)"}
	}
	if check {
		if reset {
			return usageError{"--check and --reset do not go together"}
		}
		return checkLessons(c)
	}
	if len(c.args) == 0 {
		if reset {
			return usageError{"--reset needs the lesson to start over"}
		}
		return listLessons(c)
	}
	return learnLesson(c, c.args[0], reset)
}

// embeddedLessons returns the names of the lessons nsh carries.
func embeddedLessons() []string {
	files, _ := fs.Glob(stdlib.FS, "lessons/*.star")
	var names []string
	for _, f := range files {
		names = append(names, strings.TrimSuffix(filepath.Base(f), ".star"))
	}
	sort.Strings(names)
	return names
}

// lessonSource finds a lesson: a name of nsh's own, or a file.
func lessonSource(arg string) (name, source string, src []byte, err error) {
	if strings.HasSuffix(arg, ".star") || strings.ContainsRune(arg, '/') {
		if _, err := os.Stat(arg); err != nil {
			return "", "", nil, fmt.Errorf("cannot read lesson %s: %w", arg, err)
		}
		name = strings.TrimSuffix(filepath.Base(arg), filepath.Ext(arg))
		if err := session.ValidateName("learn-" + name); err != nil {
			return "", "", nil, fmt.Errorf("lesson file %s: its name must make a session name: %w", arg, err)
		}
		return name, arg, nil, nil
	}
	src, err = fs.ReadFile(stdlib.FS, "lessons/"+arg+".star")
	if err != nil {
		have := embeddedLessons()
		hint := ""
		if n := builtins.Nearest(arg, have); n != "" {
			hint = fmt.Sprintf(" (did you mean %q?)", n)
		}
		return "", "", nil, fmt.Errorf("no lesson %q%s; the lessons are: %s (nsh learn lists them)", arg, hint, strings.Join(have, ", "))
	}
	return arg, interp.StdlibPrefix + "lessons/" + arg + ".star", src, nil
}

// loadLesson runs a lesson's file and returns the lesson it defines.
func loadLesson(in *interp.Interp, name, source string, src []byte) (*lessonDef, error) {
	thread := in.Thread("lesson " + name)
	var globals starlark.StringDict
	var err error
	if src == nil {
		globals, err = in.ExecFile(thread, source)
	} else {
		globals, err = starlark.ExecFileOptions(interp.FileOptions, thread, source, src, in.Predeclared)
	}
	if err != nil {
		return nil, fmt.Errorf("failed to load lesson %s:\n%s", name, interp.FormatError(err))
	}
	var found []*starlarkstruct.Struct
	var names []string
	for _, k := range slices.Sorted(func(yield func(string) bool) {
		for k := range globals {
			if !yield(k) {
				return
			}
		}
	}) {
		if st, ok := globals[k].(*starlarkstruct.Struct); ok && structString(st, "kind") == "nsh.lesson" {
			found = append(found, st)
			names = append(names, k)
		}
	}
	switch len(found) {
	case 0:
		return nil, fmt.Errorf("lesson %s defines no lesson: assign lesson(...) from @nsh//lesson.star to a global", source)
	case 1:
	default:
		return nil, fmt.Errorf("lesson %s defines %d lessons (%s): a file holds one", source, len(found), strings.Join(names, ", "))
	}
	st := found[0]
	l := &lessonDef{
		name:    name,
		source:  source,
		title:   structString(st, "title"),
		summary: structString(st, "summary"),
		builds:  structString(st, "builds"),
		seed:    structString(st, "seed"),
	}
	tasks, _ := st.Attr("tasks")
	list, _ := tasks.(*starlark.List)
	for i := 0; list != nil && i < list.Len(); i++ {
		ts, ok := list.Index(i).(*starlarkstruct.Struct)
		if !ok {
			return nil, fmt.Errorf("lesson %s: task %d is not a task(...)", source, i+1)
		}
		t := &taskDef{
			title:    structString(ts, "title"),
			text:     dedent(structString(ts, "text")),
			commands: structStrings(ts, "commands"),
			hints:    structStrings(ts, "hints"),
			solution: dedent(structString(ts, "solution")),
			skip:     structString(ts, "skip"),
		}
		if v, err := ts.Attr("fresh"); err == nil {
			t.fresh = bool(v.Truth())
		}
		if v, err := ts.Attr("missing"); err == nil {
			t.missing, _ = v.(starlark.Callable)
		}
		if t.missing == nil {
			return nil, fmt.Errorf("lesson %s: task %d has no check", source, i+1)
		}
		l.tasks = append(l.tasks, t)
	}
	return l, nil
}

func structString(st *starlarkstruct.Struct, name string) string {
	v, err := st.Attr(name)
	if err != nil {
		return ""
	}
	s, _ := starlark.AsString(v)
	return s
}

func structStrings(st *starlarkstruct.Struct, name string) []string {
	v, err := st.Attr(name)
	if err != nil {
		return nil
	}
	var out []string
	if l, ok := v.(*starlark.List); ok {
		for i := 0; i < l.Len(); i++ {
			if s, ok := starlark.AsString(l.Index(i)); ok {
				out = append(out, dedent(s))
			}
		}
	}
	return out
}

// dedent removes the blank lines around s and the indentation its lines
// share, so that a lesson can indent its triple-quoted strings.
func dedent(s string) string {
	lines := strings.Split(s, "\n")
	for len(lines) > 0 && strings.TrimSpace(lines[0]) == "" {
		lines = lines[1:]
	}
	for len(lines) > 0 && strings.TrimSpace(lines[len(lines)-1]) == "" {
		lines = lines[:len(lines)-1]
	}
	common := -1
	for _, l := range lines {
		if strings.TrimSpace(l) == "" {
			continue
		}
		n := len(l) - len(strings.TrimLeft(l, " \t"))
		if common < 0 || n < common {
			common = n
		}
	}
	for i, l := range lines {
		if len(l) >= common && common > 0 {
			lines[i] = l[common:]
		} else {
			lines[i] = strings.TrimLeft(l, " \t")
		}
	}
	return strings.Join(lines, "\n")
}

// listingInterp returns an interpreter to load lessons with for the list,
// which needs no session: has_driver() asks the kernel directly.
func listingInterp(out io.Writer) *interp.Interp {
	in := interp.New(&builtins.Env{Ctx: context.Background(), Out: io.Discard})
	in.Predeclared["has_driver"] = starlark.NewBuiltin("has_driver", func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
		var kind string
		if err := starlark.UnpackArgs(b.Name(), args, kwargs, "kind", &kind); err != nil {
			return nil, err
		}
		ok, err := builtins.HasDriver(kind)
		return starlark.Bool(ok), err
	})
	return in
}

func listLessons(c *ctx) error {
	in := listingInterp(c.stdout)
	fmt.Fprintln(c.stdout, "Lessons: nsh learn NAME starts one, or goes on where you left it.")
	for _, name := range embeddedLessons() {
		_, source, src, err := lessonSource(name)
		if err != nil {
			return err
		}
		l, err := loadLesson(in, name, source, src)
		if err != nil {
			return err
		}
		fmt.Fprintf(c.stdout, "\n  %-20s %s (%d tasks)\n", name, l.title, len(l.tasks))
		if l.summary != "" {
			fmt.Fprintf(c.stdout, "  %-20s %s\n", "", l.summary)
		}
		if l.builds != "" {
			fmt.Fprintf(c.stdout, "  %-20s you build: %s\n", "", l.builds)
		}
		if p, err := readProgress(session.Dir(learnSession(name))); err == nil && p.Lesson == name {
			if p.Task >= len(l.tasks) {
				fmt.Fprintf(c.stdout, "  %-20s done; its lab is up (nsh learn --reset %s starts over)\n", "", name)
			} else {
				fmt.Fprintf(c.stdout, "  %-20s in progress: task %d of %d\n", "", p.Task+1, len(l.tasks))
			}
		}
	}
	fmt.Fprintln(c.stdout, "\nNew to network namespaces? Start with: nsh learn netns-basics")
	return nil
}

// learnSession is the session that holds a lesson's lab.
func learnSession(name string) string { return "learn-" + name }

// learnProgress is what nsh learn keeps of a lesson between runs, in the
// session's directory, so that it goes when the lab goes.
type learnProgress struct {
	Lesson string `json:"lesson"`
	Source string `json:"source"`
	Tasks  int    `json:"tasks"`
	// Task is the current task, from 0; len(tasks) when the lesson is
	// done.
	Task int `json:"task"`
	// Starts holds, for each task reached, the session's live steps at
	// its start: back() undoes the steps made since.
	Starts map[int][]int `json:"starts"`
	// Hints counts the hints shown per task.
	Hints map[int]int `json:"hints"`
}

const progressFile = "learn.json"

func readProgress(dir string) (*learnProgress, error) {
	b, err := os.ReadFile(filepath.Join(dir, progressFile))
	if err != nil {
		return nil, err
	}
	var p learnProgress
	if err := json.Unmarshal(b, &p); err != nil {
		return nil, fmt.Errorf("bad progress file %s: %w", filepath.Join(dir, progressFile), err)
	}
	if p.Starts == nil {
		p.Starts = map[int][]int{}
	}
	if p.Hints == nil {
		p.Hints = map[int]int{}
	}
	return &p, nil
}

// A learner runs one lesson against its session.
type learner struct {
	def     *lessonDef
	in      *interp.Interp
	s       *session.Session
	globals starlark.StringDict
	p       *learnProgress
	out     io.Writer
	// noCheck skips the check after a statement that only asked the
	// lesson something (hint, show, status) or rewound it (back).
	noCheck bool
}

func learnLesson(c *ctx, arg string, reset bool) error {
	name, source, src, err := lessonSource(arg)
	if err != nil {
		return err
	}
	sess := learnSession(name)
	if n := flagString(c.fs, "session"); n != "" {
		sess = n
	}
	if reset && session.Exists(sess) {
		s, err := session.Open(session.Options{Name: sess, Existing: true})
		if err != nil {
			return err
		}
		if err := s.Down(); err != nil {
			s.Close()
			return fmt.Errorf("failed to reset lesson %s: %w", name, err)
		}
		fmt.Fprintf(c.stderr, "nsh: lesson %s reset: its lab is torn down\n", name)
	}
	s, err := session.Open(session.Options{Name: sess, Sandbox: flagBool(c.fs, "sandbox"), Script: source})
	if err != nil {
		return err
	}
	env := &builtins.Env{Session: s, Ctx: context.Background(), Out: c.stdout}
	in := interp.New(env)
	def, err := loadLesson(in, name, source, src)
	if err != nil {
		s.Close()
		return err
	}
	l := &learner{def: def, in: in, s: s, globals: starlark.StringDict{}, out: c.stdout}
	resumed := false
	if !s.Fresh() {
		p, err := readProgress(s.Dir)
		switch {
		case err == nil && p.Lesson != name:
			s.Close()
			return fmt.Errorf("session %s holds lesson %q, not %q: nsh learn --reset %s starts over", sess, p.Lesson, name, name)
		case err == nil:
			l.p, resumed = p, true
		case !errors.Is(err, fs.ErrNotExist):
			s.Close()
			return err
		}
	}
	if l.p == nil {
		l.p = &learnProgress{Lesson: name, Source: source, Starts: map[int][]int{}, Hints: map[int]int{}}
	}
	l.p.Tasks = len(def.tasks)
	if l.p.Task > len(def.tasks) {
		l.p.Task = len(def.tasks)
	}
	for k, v := range l.builtins() {
		l.globals[k] = v
	}

	fmt.Fprintf(l.out, "Lesson %s: %s\n", name, def.title)
	if def.seed != "" {
		fmt.Fprintf(l.out, "Follows: %s\n", def.seed)
	}
	if resumed {
		fmt.Fprintf(l.out, "Resuming at task %d of %d, with the lab as you left it.\n", min(l.p.Task+1, len(def.tasks)), len(def.tasks))
		l.bindLab()
	} else if !s.Fresh() && !s.Empty() {
		fmt.Fprintf(l.out, "Session %s has a lab but no progress: starting at task 1 (nsh learn --reset %s starts from an empty lab).\n", sess, name)
	}
	fmt.Fprintln(l.out, "hint() helps, show() shows the solution, solve() does it, back() rewinds a task, status() shows where you are; Ctrl-D leaves.")
	if l.p.Task < len(def.tasks) {
		if _, ok := l.p.Starts[l.p.Task]; !ok {
			l.p.Starts[l.p.Task] = l.liveSteps()
		}
		l.intro(l.p.Task)
	} else {
		l.finished()
	}
	l.save()
	l.advance(false)

	err = repl.Run(repl.Options{
		Interp:         in,
		In:             os.Stdin,
		Out:            c.stdout,
		Err:            c.stderr,
		Interactive:    term.IsTerminal(int(os.Stdin.Fd())),
		HistoryFile:    repl.HistoryPath(),
		Globals:        l.globals,
		AfterStatement: l.afterStatement,
		Prompt:         l.prompt,
		LeftUp: func() string {
			where := "done"
			if l.p.Task < len(def.tasks) {
				where = fmt.Sprintf("at task %d of %d", l.p.Task+1, len(def.tasks))
			}
			again := arg
			if sess != learnSession(name) {
				again += " --session " + sess
			}
			return fmt.Sprintf("nsh: lesson %s saved, %s, with its lab: nsh learn %s goes on; nsh learn --reset %s starts over; nsh down --session %s removes the lab", name, where, again, again, sess)
		},
	})
	if errors.Is(err, repl.ErrFailed) {
		return exitError{1}
	}
	return err
}

func (l *learner) say(format string, args ...any) {
	fmt.Fprintf(l.out, format+"\n", args...)
}

func (l *learner) prompt() string {
	if l.p.Task >= len(l.def.tasks) {
		return fmt.Sprintf("learn:%s done> ", l.def.name)
	}
	return fmt.Sprintf("learn:%s %d/%d> ", l.def.name, l.p.Task+1, len(l.def.tasks))
}

// intro shows task k.
func (l *learner) intro(k int) {
	t := l.def.tasks[k]
	head := fmt.Sprintf("── Task %d of %d: %s ", k+1, len(l.def.tasks), t.title)
	if n := 72 - len([]rune(head)); n > 0 {
		head += strings.Repeat("─", n)
	}
	l.say("\n%s", head)
	if t.text != "" {
		l.say("%s", t.text)
	}
	if len(t.commands) > 0 {
		l.say("\nThe tutorial types:")
		for _, c := range t.commands {
			l.say("    %s", c)
		}
	}
	if t.skip != "" {
		l.say("\nSkipped: %s", t.skip)
	}
	l.say("")
}

func (l *learner) finished() {
	l.say("\n── Lesson %s done ──", l.def.name)
	l.say("Every task passed. The lab stays up for you to explore; back() returns to the last task,")
	l.say("nsh learn --reset %s starts over, nsh down --session %s removes the lab.", l.def.name, l.s.Name)
}

// save writes the progress into the session's directory.
func (l *learner) save() {
	b, err := json.MarshalIndent(l.p, "", " ")
	if err != nil {
		return
	}
	path := filepath.Join(l.s.Dir, progressFile)
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, b, 0o644); err == nil {
		err = os.Rename(tmp, path)
	}
	if err != nil {
		l.say("nsh: warning: failed to save the lesson's progress: %v", err)
	}
}

// liveSteps returns the IDs of the session's live steps.
func (l *learner) liveSteps() []int {
	var ids []int
	for _, st := range l.s.Steps() {
		ids = append(ids, st.ID)
	}
	return ids
}

// check runs task k's check and returns what is still missing, or "".
func (l *learner) check(k int) (string, error) {
	l.in.Env.Ctx = context.Background()
	thread := l.in.Thread("check")
	v, err := starlark.Call(thread, l.def.tasks[k].missing, nil, nil)
	if err != nil {
		return "", fmt.Errorf("%s", interp.FormatError(err))
	}
	if v == starlark.None {
		return "", nil
	}
	s, ok := starlark.AsString(v)
	if !ok {
		return "", fmt.Errorf("task %d's check returned %s, want None or a string", k+1, v.Type())
	}
	return s, nil
}

// advance checks the current task and moves on while tasks are done.
// With report, it says what the current task still misses.
func (l *learner) advance(report bool) {
	for l.p.Task < len(l.def.tasks) {
		k := l.p.Task
		t := l.def.tasks[k]
		if t.skip == "" {
			missing, err := l.check(k)
			if err != nil {
				l.say("  (the check of task %d failed: %v)", k+1, err)
				return
			}
			if missing != "" {
				if report {
					l.say("  still missing: %s", missing)
				}
				return
			}
			l.say("✓ Task %d done: %s", k+1, t.title)
		}
		report = false
		if err := l.enter(k + 1); err != nil {
			l.say("nsh: %v", err)
			return
		}
	}
}

// enter makes task k the current one: a task that starts the lab over
// takes it back first.
func (l *learner) enter(k int) error {
	if k < len(l.def.tasks) && l.def.tasks[k].fresh {
		n := len(l.s.Steps())
		if done, err := l.s.Undo(n); err != nil {
			return fmt.Errorf("failed to take the lab back for task %d: %w", k+1, err)
		} else if done > 0 {
			l.say("\nThe tutorial starts over here: nsh took the lab back (%d %s undone).", done, plural(done, "step"))
		}
	}
	l.p.Task = k
	if k < len(l.def.tasks) {
		l.p.Starts[k] = l.liveSteps()
		l.intro(k)
	} else {
		l.finished()
	}
	l.save()
	return nil
}

func plural(n int, word string) string {
	if n == 1 {
		return word
	}
	return word + "s"
}

func (l *learner) afterStatement(ok bool) {
	if l.noCheck {
		l.noCheck = false
		return
	}
	l.advance(true)
}

// rewindTo brings the lab back to the start of task k: through undo when
// every step live at that start still is, otherwise by taking the lab
// back to the start of the task's part and replaying the solutions of
// the tasks before k.
func (l *learner) rewindTo(k int) error {
	live := l.liveSteps()
	if start, ok := l.p.Starts[k]; ok && subset(start, live) {
		if n := len(live) - len(start); n > 0 {
			if _, err := l.s.Undo(n); err != nil {
				return fmt.Errorf("failed to rewind to task %d: %w", k+1, err)
			}
		}
		return nil
	}
	first := 0
	for j := k; j > 0; j-- {
		if l.def.tasks[j].fresh {
			first = j
			break
		}
	}
	l.say("(The lab no longer holds what task %d started from: nsh takes it back and replays the solutions before task %d.)", k+1, k+1)
	if _, err := l.s.Undo(len(live)); err != nil {
		return fmt.Errorf("failed to rewind to task %d: %w", k+1, err)
	}
	for j := first; j < k; j++ {
		if l.def.tasks[j].skip != "" {
			continue
		}
		l.p.Starts[j] = l.liveSteps()
		if err := l.runSolution(j, false, nil); err != nil {
			return err
		}
	}
	l.p.Starts[k] = l.liveSteps()
	return nil
}

func subset(a, b []int) bool {
	for _, x := range a {
		if !slices.Contains(b, x) {
			return false
		}
	}
	return true
}

// runSolution runs task k's solution in the lab: each statement (or the
// statements on one line) a step of its own, as if typed; a statement
// that is only undo() reaches every step of the session, as typed alone.
// With between, it calls between after each statement but the last.
func (l *learner) runSolution(k int, echo bool, between func(stmt string) error) error {
	src := l.def.tasks[k].solution
	opts := *interp.FileOptions
	opts.LoadBindsGlobally = true
	where := fmt.Sprintf("%s: solution of task %d", l.def.source, k+1)
	f, err := opts.Parse(where, src, 0)
	if err != nil {
		return fmt.Errorf("the solution of task %d does not parse: %s", k+1, interp.FormatError(err))
	}
	ctx := l.in.Env.Ctx
	if ctx == nil {
		ctx = context.Background()
	}
	thread := l.in.Thread("solution")
	stop := context.AfterFunc(ctx, func() { thread.Cancel("interrupted") })
	defer stop()
	chunks := repl.Chunks(f, src)
	for i, c := range chunks {
		one, text := c.File, c.Text
		if echo {
			l.say("  > %s", strings.ReplaceAll(text, "\n", "\n  . "))
		}
		first, _, _ := strings.Cut(strings.TrimSpace(text), "\n")
		l.s.StartStep(first, fmt.Sprintf("solution of task %d", k+1))
		builtins.SetUndoScope(thread, &builtins.UndoScope{
			Mark:    l.s.Mark(),
			What:    "this statement",
			Earlier: "give undo() a statement of its own",
			Free:    l.onlyUndo(one),
		})
		var v starlark.Value = starlark.None
		if len(one.Stmts) == 1 {
			if es, ok := one.Stmts[0].(*syntax.ExprStmt); ok {
				v, err = starlark.EvalExprOptions(one.Options, thread, es.X, l.globals)
			} else {
				err = starlark.ExecREPLChunk(one, thread, l.globals)
			}
		} else {
			err = starlark.ExecREPLChunk(one, thread, l.globals)
		}
		if err == nil {
			err = l.in.Env.Barrier() // a statement's end
		}
		if err != nil {
			return fmt.Errorf("the solution of task %d failed:\n%s", k+1, interp.FormatError(err))
		}
		if echo && v != starlark.None {
			l.say("  %s", v.String())
		}
		if between != nil && i < len(chunks)-1 {
			if err := between(first); err != nil {
				return err
			}
		}
	}
	return nil
}

// onlyUndo reports whether f is a call of the builtin undo() and nothing
// else.
func (l *learner) onlyUndo(f *syntax.File) bool {
	if len(f.Stmts) != 1 {
		return false
	}
	es, ok := f.Stmts[0].(*syntax.ExprStmt)
	if !ok {
		return false
	}
	call, ok := es.X.(*syntax.CallExpr)
	if !ok {
		return false
	}
	id, ok := call.Fn.(*syntax.Ident)
	return ok && id.Name == "undo" && l.globals["undo"] == l.in.Predeclared["undo"] && len(call.Args) <= 1
}

// bindLab gives the lab's namespaces and links, after a resume, the
// names a solution gives them (netns1, veth_host for veth-host), unless
// the name is taken or the link's name is in more than one namespace.
func (l *learner) bindLab() {
	thread := l.in.Thread("bind")
	lookup := l.in.Predeclared["lookup"]
	get := func(name string) starlark.Value {
		v, err := starlark.Call(thread, lookup, starlark.Tuple{starlark.String(name)}, nil)
		if err != nil {
			return nil
		}
		return v
	}
	ident := func(name string) string {
		id := strings.NewReplacer("-", "_", ".", "_").Replace(name)
		if _, taken := l.globals[id]; taken || id == "" || (id[0] >= '0' && id[0] <= '9') {
			return ""
		}
		return id
	}
	for _, ns := range l.s.Namespaces() {
		if ns == session.Host {
			if !l.s.Sandboxed() {
				continue // the machine's own links are not the lab's
			}
		} else if id := ident(ns); id != "" {
			if v := get(ns); v != nil {
				l.globals[id] = v
			}
		}
		for _, link := range l.s.LinkNames(ns) {
			if link == "lo" {
				continue
			}
			if id := ident(link); id != "" {
				if v := get(link); v != nil {
					l.globals[id] = v
				}
			}
		}
	}
}

// builtins returns hint, show, solve, back and status.
func (l *learner) builtins() starlark.StringDict {
	noArgs := func(name string, fn func(thread *starlark.Thread) error) *starlark.Builtin {
		return starlark.NewBuiltin(name, func(thread *starlark.Thread, b *starlark.Builtin, args starlark.Tuple, kwargs []starlark.Tuple) (starlark.Value, error) {
			if err := starlark.UnpackArgs(b.Name(), args, kwargs); err != nil {
				return nil, err
			}
			return starlark.None, fn(thread)
		})
	}
	return starlark.StringDict{
		"hint":   noArgs("hint", func(*starlark.Thread) error { l.hint(); return nil }),
		"show":   noArgs("show", func(*starlark.Thread) error { l.show(); return nil }),
		"status": noArgs("status", func(*starlark.Thread) error { l.status(); return nil }),
		"solve":  noArgs("solve", func(*starlark.Thread) error { return l.solve() }),
		"back":   noArgs("back", func(*starlark.Thread) error { return l.back() }),
	}
}

func (l *learner) current() (int, *taskDef, error) {
	k := l.p.Task
	if k >= len(l.def.tasks) {
		return k, nil, errors.New("the lesson is done: back() returns to its last task")
	}
	return k, l.def.tasks[k], nil
}

func (l *learner) hint() {
	l.noCheck = true
	k, t, err := l.current()
	if err != nil {
		l.say("%v", err)
		return
	}
	if len(t.hints) == 0 {
		l.say("Task %d has no hints: show() prints its solution.", k+1)
		return
	}
	i := l.p.Hints[k]
	if i >= len(t.hints) {
		l.say("Hint %d of %d: %s", len(t.hints), len(t.hints), t.hints[len(t.hints)-1])
		l.say("(That was the last hint: show() prints the solution, solve() applies it.)")
		return
	}
	l.say("Hint %d of %d: %s", i+1, len(t.hints), t.hints[i])
	l.p.Hints[k] = i + 1
	l.save()
}

func (l *learner) show() {
	l.noCheck = true
	k, t, err := l.current()
	if err != nil {
		l.say("%v", err)
		return
	}
	l.say("The solution of task %d:", k+1)
	for _, line := range strings.Split(t.solution, "\n") {
		l.say("    %s", line)
	}
}

func (l *learner) status() {
	l.noCheck = true
	l.say("Lesson %s: %s", l.def.name, l.def.title)
	for k, t := range l.def.tasks {
		mark := " "
		switch {
		case t.skip != "":
			mark = "-"
		case k < l.p.Task:
			mark = "✓"
		case k == l.p.Task:
			mark = "→"
		}
		extra := ""
		if n := l.p.Hints[k]; n > 0 {
			extra = fmt.Sprintf("  (%d %s)", n, plural(n, "hint"))
		}
		if t.skip != "" {
			extra = "  (skipped here)"
		}
		l.say("  %s %2d. %s%s", mark, k+1, t.title, extra)
	}
	where := "in a sandbox"
	if !l.s.Sandboxed() {
		where = "on the machine's own network"
	}
	l.say("The lab is session %s, %s.", l.s.Name, where)
}

// solve takes back what was done in the current task and applies its
// solution; the check that follows the statement moves the lesson on.
func (l *learner) solve() error {
	k, t, err := l.current()
	if err != nil {
		return err
	}
	if t.skip != "" {
		return fmt.Errorf("task %d is skipped here: %s", k+1, t.skip)
	}
	if err := l.rewindTo(k); err != nil {
		return err
	}
	l.say("The solution of task %d, a step per statement:", k+1)
	return l.runSolution(k, true, nil)
}

// back rewinds the lab to the start of the previous task.
func (l *learner) back() error {
	l.noCheck = true
	k := l.p.Task - 1
	for k > 0 && l.def.tasks[k].skip != "" {
		k--
	}
	if k < 0 {
		k = 0
	}
	if err := l.rewindTo(k); err != nil {
		return err
	}
	l.p.Task = k
	l.save()
	l.say("Back at the start of task %d.", k+1)
	l.intro(k)
	return nil
}

// checkLessons runs --check for one lesson or all.
func checkLessons(c *ctx) error {
	args := c.args
	if len(args) == 0 {
		args = embeddedLessons()
	}
	failed := 0
	if flagString(c.fs, "session") != "" {
		return usageError{"--check runs each lesson in a session of its own: it takes no --session"}
	}
	for _, arg := range args {
		if err := checkLesson(c, arg); err != nil {
			fmt.Fprintf(c.stderr, "nsh: lesson %s: %v\n", arg, err)
			failed++
		}
	}
	if failed > 0 {
		fmt.Fprintf(c.stderr, "nsh: %d of %d %s failed the check\n", failed, len(args), plural(len(args), "lesson"))
		return exitError{1}
	}
	return nil
}

// checkLesson runs every task's solution in a fresh sandbox, and
// verifies that its check fails before and passes after.
func checkLesson(c *ctx, arg string) error {
	name, source, src, err := lessonSource(arg)
	if err != nil {
		return err
	}
	sess := "learn-check-" + name
	if session.Exists(sess) {
		old, err := session.Open(session.Options{Name: sess, Existing: true})
		if err != nil {
			return err
		}
		if err := old.Down(); err != nil {
			old.Close()
			return fmt.Errorf("failed to tear down the lab of an earlier check: %w", err)
		}
	}
	s, err := session.Open(session.Options{Name: sess, Sandbox: true, Script: source})
	if err != nil {
		return err
	}
	defer func() {
		if err := s.Down(); err != nil {
			fmt.Fprintf(c.stderr, "nsh: failed to tear down %s: %v (nsh down --session %s)\n", sess, err, sess)
			s.Close()
		}
	}()
	env := &builtins.Env{Session: s, Ctx: context.Background(), Out: io.Discard}
	in := interp.New(env)
	def, err := loadLesson(in, name, source, src)
	if err != nil {
		return err
	}
	l := &learner{def: def, in: in, s: s, globals: starlark.StringDict{}, out: io.Discard,
		p: &learnProgress{Starts: map[int][]int{}, Hints: map[int]int{}}}
	for k, v := range in.Predeclared {
		l.globals[k] = v
	}
	var problems []string
	skipped := 0
	for k, t := range def.tasks {
		label := fmt.Sprintf("task %d (%s)", k+1, t.title)
		if t.skip != "" {
			skipped++
			fmt.Fprintf(c.stdout, "  skip  %s: %s\n", label, t.skip)
			continue
		}
		if t.fresh {
			if _, err := s.Undo(len(s.Steps())); err != nil {
				return fmt.Errorf("%s: failed to take the lab back: %w", label, err)
			}
		}
		before, err := l.check(k)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: its check fails with an error before its solution: %v", label, err))
			fmt.Fprintf(c.stdout, "  FAIL  %s\n", label)
			break
		}
		if before == "" {
			problems = append(problems, fmt.Sprintf("%s: its check passes before its solution, so it checks nothing", label))
			fmt.Fprintf(c.stdout, "  FAIL  %s: passes before its solution\n", label)
		}
		// A learner types the solution that show() prints: the task
		// must not be done before its last statement, or the rest
		// would land in the next task.
		early := func(stmt string) error {
			m, err := l.check(k)
			if err == nil && m == "" {
				return fmt.Errorf("its check passes after %q, before the end of its solution: the rest of it would run in the next task", stmt)
			}
			return nil
		}
		if err := l.runSolution(k, false, early); err != nil {
			problems = append(problems, fmt.Sprintf("%s: %v", label, err))
			fmt.Fprintf(c.stdout, "  FAIL  %s: its solution fails\n", label)
			break
		}
		after, err := l.check(k)
		if err != nil {
			problems = append(problems, fmt.Sprintf("%s: its check fails with an error after its solution: %v", label, err))
			fmt.Fprintf(c.stdout, "  FAIL  %s\n", label)
			break
		}
		if after != "" {
			problems = append(problems, fmt.Sprintf("%s: after its solution, its check still says: %s", label, after))
			fmt.Fprintf(c.stdout, "  FAIL  %s: still missing: %s\n", label, after)
			break
		}
		if before != "" {
			fmt.Fprintf(c.stdout, "  ok    %s: before its solution: %s\n", label, before)
		}
	}
	if len(problems) > 0 {
		return errors.New(strings.Join(problems, "\n"))
	}
	fmt.Fprintf(c.stdout, "lesson %s: %d tasks checked, %d skipped: ok\n", name, len(def.tasks)-skipped, skipped)
	return nil
}
