package kernel

import (
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/scanner"
	"go/token"
	"io"
	"math"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"sort"
	"strings"
	"syscall"
	"time"

	"github.com/govalent/govalent/kernel/display"
)

// Magics are the lines of a cell that are not Go, named as in GoNB and IPython where they overlap. A cell whose
// first line is a cell magic (%%bash...) is that magic's. In any other cell, the lines that begin a statement
// with % or ! are line magics and shell commands: they run first, in order, and then the cell's Go, as in GoNB.
const magicHelp = `Magics: lines of a cell that are not Go.

Line magics, on their own lines anywhere in a cell (they run first, in order, then the cell's Go, then %test):
  %help                  this text
  %env                   list the environment; %env NAME shows one variable
  %env NAME=VALUE        set an environment variable (also: %env NAME VALUE), for Go code and shell commands
  %cd [DIR]              change the kernel's directory (~ for home); without DIR, show it
  %go get MODULE[@VER]   add a Go module to the session (an import of a package no module provides adds its
                         module by itself); cells run in an evaluator built with the packages they import
  %go mod                show the session's go.mod; %go mod edit|tidy ARGS runs "go mod" on it
                         (%go mod edit -replace MODULE=DIR: a local directory, from the current one)
  %reset                 forget every declaration and variable of the session
  %test [ARGS]           run the session's TestXxx, ExampleXxx, BenchmarkXxx and FuzzXxx functions natively
                         with "go test -v ARGS" (e.g. %test -run TestAdd -bench .; without ARGS, -bench .
                         when there are benchmarks); needs a Go toolchain
  %time STATEMENT        run a Go statement once and print how long it took
  %timeit STATEMENT      run a Go statement in a loop and print the time per run
  !COMMAND               run a shell command (bash), its output streamed; a failure fails the cell

Cell magics, on the first line of a cell (the rest of the cell is theirs):
  %%bash [ARGS], %%sh    run the cell as a bash (sh) script
  %%writefile [-a] FILE  write the cell to FILE (-a: append)
  %%time                 run the cell's Go and print how long it took
  %%timeit               run the cell's Go statements in a loop and print the time per run
`

// run runs a cell, called cell in Go's messages: its magics, then its Go, then its %test lines (so that a cell
// can declare tests and run them, as in GoNB).
func (k *Kernel) run(ctx context.Context, cell, code string) (display.Bundle, error) {
	if first, body, ok := cellMagic(code); ok {
		return k.runCellMagic(ctx, cell, first, body)
	}
	goCode, magics := lineMagics(code)
	var res display.Bundle
	var tests []magicLine
	for _, m := range magics {
		if !m.shell && (m.text == "test" || strings.HasPrefix(m.text, "test ")) {
			tests = append(tests, m)
			continue
		}
		var err error
		if res, err = k.runLineMagic(ctx, cell, m); err != nil {
			return nil, fmt.Errorf("line %d: %w", m.line, err)
		}
	}
	if strings.TrimSpace(goCode) != "" {
		if err := k.prepareModules(ctx, goCode); err != nil {
			return nil, err
		}
		var err error
		if res, err = k.evaluate(ctx, cell, goCode); err != nil {
			return nil, err
		}
	}
	for _, m := range tests {
		if _, err := k.runLineMagic(ctx, cell, m); err != nil {
			return nil, fmt.Errorf("line %d: %w", m.line, err)
		}
	}
	return res, nil // a %time's value shows when the cell has no Go of its own
}

// cellMagic splits a cell whose first non-blank line is a cell magic into that line and the rest.
func cellMagic(code string) (first, body string, ok bool) {
	trimmed := strings.TrimLeft(code, " \t\r\n")
	if !strings.HasPrefix(trimmed, "%%") {
		return "", "", false
	}
	first, body, _ = strings.Cut(trimmed, "\n")
	return strings.TrimSpace(first), body, true
}

// magicLine is a line magic or shell command of a cell, at its line (from 1).
type magicLine struct {
	text string // without the leading % or !, for a shell command: "!ls -l" is {shell, "ls -l"}
	line int
	// shell: a !command
	shell bool
}

// lineMagics takes out of code the lines that begin a top-level statement with % or !, and returns the Go
// that remains, with blank lines in their places so that Go's messages keep the cell's line numbers. A
// continued expression (`a &&` then `!b`) is Go: Go's scanner says where a statement can begin.
func lineMagics(code string) (string, []magicLine) {
	lines := strings.SplitAfter(code, "\n")
	starts := make([]int, len(lines)) // byte offset of each line
	for i, off := 1, 0; i < len(lines); i++ {
		off += len(lines[i-1])
		starts[i] = off
	}
	var magics []magicLine
	out := []byte(code)
	atStart := true // the next token begins a statement
	depth := 0
	from := 0 // where scanning resumes
	for from < len(code) {
		fset := token.NewFileSet()
		file := fset.AddFile("", -1, len(code)-from)
		var s scanner.Scanner
		s.Init(file, []byte(code[from:]), func(token.Position, string) {}, 0)
		resumed := false
		for {
			pos, tok, _ := s.Scan()
			if tok == token.EOF {
				break
			}
			off := from + file.Offset(pos)
			line := sort.SearchInts(starts, off+1) - 1
			if (tok == token.REM || tok == token.NOT) && atStart && depth == 0 && strings.TrimSpace(code[starts[line]:off]) == "" {
				end := starts[line] + len(lines[line])
				text := strings.TrimSpace(code[off+1 : end])
				if tok == token.REM {
					magics = append(magics, magicLine{text: text, line: line + 1})
				} else {
					magics = append(magics, magicLine{text: text, line: line + 1, shell: true})
				}
				for i := off; i < end; i++ {
					if out[i] != '\n' {
						out[i] = ' '
					}
				}
				from, resumed = end, true // the rest of the line is not Go: scan again after it
				break
			}
			switch tok {
			case token.LPAREN, token.LBRACK, token.LBRACE:
				depth++
			case token.RPAREN, token.RBRACK, token.RBRACE:
				depth--
			}
			atStart = tok == token.SEMICOLON || tok == token.LBRACE || tok == token.RBRACE
		}
		if !resumed {
			break
		}
		atStart = true
	}
	return string(out), magics
}

func (k *Kernel) runLineMagic(ctx context.Context, cell string, m magicLine) (display.Bundle, error) {
	if m.shell {
		return nil, k.runShell(ctx, []string{"bash", "-c", m.text}, "")
	}
	name, arg, _ := strings.Cut(m.text, " ")
	arg = strings.TrimSpace(arg)
	switch name {
	case "help":
		io.WriteString(k.stdoutW.pipe, magicHelp)
	case "env":
		return nil, k.env(ctx, arg)
	case "cd":
		return nil, k.cd(ctx, arg)
	case "go":
		return nil, k.goMagic(ctx, arg)
	case "reset":
		return nil, k.reset(ctx)
	case "test":
		return nil, k.test(ctx, arg)
	case "time":
		return k.timeOnce(ctx, cell, arg)
	case "timeit":
		return nil, k.timeit(ctx, cell, arg)
	default:
		return nil, fmt.Errorf("%%%s is not a magic (%%help lists them)", name)
	}
	return nil, nil
}

func (k *Kernel) runCellMagic(ctx context.Context, cell, first, body string) (display.Bundle, error) {
	fields := strings.Fields(strings.TrimPrefix(first, "%%"))
	if len(fields) == 0 {
		return nil, errors.New("%% needs a magic's name (%help lists them)")
	}
	switch name, args := fields[0], fields[1:]; name {
	case "bash", "sh":
		return nil, k.runShell(ctx, append([]string{name, "-s", "--"}, args...), body)
	case "writefile":
		return nil, k.writeFile(args, body)
	case "time":
		return k.timeOnce(ctx, cell, body)
	case "timeit":
		return nil, k.timeit(ctx, cell, body)
	default:
		return nil, fmt.Errorf("%%%%%s is not a cell magic (%%help lists them)", name)
	}
}

// runShell runs argv with script as its stdin, streaming its output to the cell; an interrupt stops it and
// everything it started.
func (k *Kernel) runShell(ctx context.Context, argv []string, script string) error {
	cmd := exec.CommandContext(ctx, argv[0], argv[1:]...)
	cmd.Stdin = strings.NewReader(script)
	cmd.Stdout, cmd.Stderr = k.stdoutW.pipe, k.stderrW.pipe
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	cmd.Cancel = func() error { return syscall.Kill(-cmd.Process.Pid, syscall.SIGKILL) }
	if err := cmd.Run(); err != nil {
		if ctx.Err() != nil {
			return ctx.Err()
		}
		var exit *exec.ExitError
		if errors.As(err, &exit) {
			return fmt.Errorf("%s: %s", strings.Join(argv, " "), exit.ProcessState)
		}
		return err
	}
	return nil
}

// env lists, shows or sets environment variables, as GoNB's and IPython's %env do.
func (k *Kernel) env(ctx context.Context, arg string) error {
	name, value, set := strings.Cut(arg, "=")
	if !set {
		name, value, set = strings.Cut(arg, " ")
	}
	name, value = strings.TrimSpace(name), strings.TrimSpace(value)
	switch {
	case arg == "":
		vars := os.Environ()
		slices.Sort(vars)
		fmt.Fprintln(k.stdoutW.pipe, strings.Join(vars, "\n"))
	case !set:
		v, ok := os.LookupEnv(name)
		if !ok {
			return fmt.Errorf("%%env: %s is not set", name)
		}
		fmt.Fprintln(k.stdoutW.pipe, v)
	default:
		if err := os.Setenv(name, value); err != nil {
			return fmt.Errorf("%%env %s: %w", name, err)
		}
		if err := k.forward(ctx, evalMsg{Op: "setenv", Name: name, Text: value}); err != nil {
			return fmt.Errorf("%%env %s: %w", name, err)
		}
		fmt.Fprintf(k.stdoutW.pipe, "Set: %s=%q\n", name, value)
	}
	return nil
}

func (k *Kernel) cd(ctx context.Context, dir string) error {
	if dir != "" {
		if dir == "~" || strings.HasPrefix(dir, "~/") {
			home, err := os.UserHomeDir()
			if err != nil {
				return fmt.Errorf("%%cd: %w", err)
			}
			dir = filepath.Join(home, strings.TrimPrefix(dir, "~"))
		}
		if err := os.Chdir(dir); err != nil {
			return fmt.Errorf("%%cd: %w", err)
		}
	}
	wd, err := os.Getwd()
	if err != nil {
		return fmt.Errorf("%%cd: %w", err)
	}
	if err := k.forward(ctx, evalMsg{Op: "chdir", Text: wd}); err != nil {
		return fmt.Errorf("%%cd: %w", err)
	}
	k.evMu.Lock()
	k.evalDir = wd
	k.evMu.Unlock()
	if dir == "" {
		fmt.Fprintf(k.stdoutW.pipe, "Current directory: %q\n", wd)
	} else {
		fmt.Fprintf(k.stdoutW.pipe, "Changed directory to %q\n", wd)
	}
	return nil
}

// reset starts a new session in place of the current one.
func (k *Kernel) reset(ctx context.Context) error {
	if err := k.forward(ctx, evalMsg{Op: "reset"}); err != nil {
		return fmt.Errorf("%%reset: %w", err)
	}
	k.forgetSession()
	fmt.Fprintln(k.stdoutW.pipe, "The session was reset: no declarations, no variables.")
	return nil
}

// forward applies a change of the kernel's process (%env, %cd, %reset) in the evaluator too: the kernel runs
// shell commands, the evaluator Go.
func (k *Kernel) forward(ctx context.Context, req evalMsg) error {
	rep, err := k.call(ctx, req)
	if err == nil && rep.Error != nil {
		err = errors.New(rep.Error.EValue)
	}
	return err
}

// writeFile is %%writefile [-a] FILE. The file ends with a newline, as IPython's does, though a notebook's cell
// has none.
func (k *Kernel) writeFile(args []string, body string) error {
	if body != "" && !strings.HasSuffix(body, "\n") {
		body += "\n"
	}
	appending := len(args) > 0 && args[0] == "-a"
	if appending {
		args = args[1:]
	}
	if len(args) != 1 {
		return errors.New("%%writefile [-a] FILE: one file name")
	}
	flags, verb := os.O_WRONLY|os.O_CREATE|os.O_TRUNC, "Writing"
	if appending {
		flags, verb = os.O_WRONLY|os.O_CREATE|os.O_APPEND, "Appending to"
	} else if _, err := os.Stat(args[0]); err == nil {
		verb = "Overwriting"
	}
	f, err := os.OpenFile(args[0], flags, 0o644)
	if err != nil {
		return fmt.Errorf("%%%%writefile: %w", err)
	}
	_, err = f.WriteString(body)
	if cerr := f.Close(); err == nil {
		err = cerr
	}
	if err != nil {
		return fmt.Errorf("%%%%writefile: %w", err)
	}
	fmt.Fprintf(k.stdoutW.pipe, "%s %s\n", verb, args[0])
	return nil
}

// timeOnce runs code once as a cell and prints its wall time, which leaves out getting the modules it imports.
func (k *Kernel) timeOnce(ctx context.Context, cell, code string) (display.Bundle, error) {
	if err := k.prepareModules(ctx, code); err != nil {
		return nil, err
	}
	start := time.Now()
	res, err := k.evaluate(ctx, cell, code)
	fmt.Fprintf(k.stdoutW.pipe, "Wall time: %s\n", roundDuration(time.Since(start)))
	return res, err
}

// timeit runs code's statements in a loop, as IPython's %timeit does: it finds how many runs a loop needs to
// take 0.2 s (1, 2, 5, 10, 20... runs), then times that loop 7 times, or as often as 3 s allow, and prints
// the mean and standard deviation per run. A loop is one cell, so that a run's time is the statements' own,
// not a cell's.
func (k *Kernel) timeit(ctx context.Context, cell, code string) error {
	const (
		enough  = 200 * time.Millisecond
		repeats = 7
		budget  = 3 * time.Second
	)
	if strings.TrimSpace(code) == "" {
		return errors.New("%timeit needs a Go statement")
	}
	if e, err := parser.ParseExpr(code); err == nil {
		// an expression's value, as IPython's %timeit 1+1 times it (Go refuses a value not used)
		if _, call := e.(*ast.CallExpr); !call {
			code = "_ = " + code
		}
	}
	body := code + definedNamesUsed(code)
	loop := func(n int) (time.Duration, error) {
		start := time.Now()
		_, err := k.evaluate(ctx, cell, fmt.Sprintf("for govalentTimeit := 0; govalentTimeit < %d; govalentTimeit++ {\n%s\n}", n, body))
		return time.Since(start), err
	}
	n := 1
	d, err := loop(n)
	for err == nil && d < enough && n < 1e9 {
		if d >= enough/50 { // measurable: straight to the size that takes enough
			n = niceAtLeast(int(float64(n) * float64(enough) / float64(d)))
		} else {
			n *= 10
		}
		d, err = loop(n)
	}
	if err != nil {
		return err
	}
	runs := []time.Duration{d / time.Duration(n)}
	for spent := d; len(runs) < repeats && spent+d < budget; spent += d {
		if d, err = loop(n); err != nil {
			return err
		}
		runs = append(runs, d/time.Duration(n))
	}
	var mean, dev float64
	for _, r := range runs {
		mean += float64(r) / float64(len(runs))
	}
	for _, r := range runs {
		dev += (float64(r) - mean) * (float64(r) - mean) / float64(len(runs))
	}
	fmt.Fprintf(k.stdoutW.pipe, "%s ± %s per loop (mean ± std. dev. of %d runs, %d loops each)\n",
		roundDuration(time.Duration(mean)), roundDuration(time.Duration(math.Sqrt(dev))), len(runs), n)
	return nil
}

// definedNamesUsed returns `_ = x` lines for the variables that code's statements define (`x := f()`), so
// that timing them is not "declared and not used", or "" when there are none or code does not parse.
func definedNamesUsed(code string) string {
	f, err := parser.ParseFile(token.NewFileSet(), "", "package p\nfunc _() {\n"+code+"\n}", parser.SkipObjectResolution)
	if err != nil {
		return ""
	}
	var uses strings.Builder
	use := func(id *ast.Ident) {
		if id.Name != "_" {
			uses.WriteString("\n_ = " + id.Name)
		}
	}
	for _, stmt := range f.Decls[0].(*ast.FuncDecl).Body.List {
		switch st := stmt.(type) {
		case *ast.AssignStmt:
			if st.Tok == token.DEFINE {
				for _, lhs := range st.Lhs {
					if id, ok := lhs.(*ast.Ident); ok {
						use(id)
					}
				}
			}
		case *ast.DeclStmt:
			if gd, ok := st.Decl.(*ast.GenDecl); ok && gd.Tok == token.VAR {
				for _, spec := range gd.Specs {
					for _, id := range spec.(*ast.ValueSpec).Names {
						use(id)
					}
				}
			}
		}
	}
	return uses.String()
}

// niceAtLeast is the least of 1, 2, 5, 10, 20, 50... that is n or more.
func niceAtLeast(n int) int {
	for p := 1; ; p *= 10 {
		for _, m := range []int{1, 2, 5} {
			if m*p >= n {
				return m * p
			}
		}
	}
}

// roundDuration keeps three significant digits.
func roundDuration(d time.Duration) time.Duration {
	for unit := time.Duration(1); unit < time.Hour; unit *= 10 {
		if d < 1000*unit {
			return d.Round(unit)
		}
	}
	return d.Round(time.Second)
}
