// Package interp evaluates Go cells with yaegi and keeps what it needs to rebuild each electron on a worker.
//
// A Session is one notebook (or one file run by `govalent run`). Each cell is type-checked with go/types
// against the session before it runs (check.go): Go's own messages, at cellN:line:col, and what Go rejects is
// rejected, except what a notebook's top level allows (a variable or import not used yet, the last expression
// as the cell's value). Standard-library packages a cell uses without importing them are imported
// (autoimport.go). The cell then runs (run.go): its imports, its declarations (recorded in a store so that
// ct.Dispatch can ship the declarations an electron needs), then its statements as the body of one function
// called once, whose top-level variables are package-level variables of their go/types types, kept for later
// cells; a func main runs once, after them. Go newer than yaegi v0.16.1 is rewritten with the types the check
// found (language.go). Where no Go toolchain is installed, cells run unchecked, statement by statement.
//
// It also works around yaegi's traps: a top-level func literal call re-running on later evaluations, a panic in
// an interpreted goroutine killing the process, redefined types going stale, callers of a redefined func
// keeping the old one, stale values returned by Eval, and its log lines and compiler panics (quiet.go).
package interp

import (
	"bytes"
	"context"
	"errors"
	"fmt"
	"go/ast"
	"go/token"
	"io"
	"os"
	"reflect"
	"regexp"
	"slices"
	"sort"
	"strings"
	"sync"
	"sync/atomic"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/interp/stdlib"
	"github.com/govalent/govalent/interp/stdlib/unrestricted"
	yaegi "github.com/traefik/yaegi/interp"
	yaegiunsafe "github.com/traefik/yaegi/stdlib/unsafe"
)

//go:generate go run github.com/traefik/yaegi/cmd/yaegi@v0.16.1 extract github.com/govalent/govalent/ct
//go:generate go run github.com/traefik/yaegi/cmd/yaegi@v0.16.1 extract github.com/govalent/govalent/kernel/display
//go:generate go run github.com/traefik/yaegi/cmd/yaegi@v0.16.1 extract github.com/govalent/govalent/ct/quantum

// Symbols holds the compiled packages interpreted code may import besides the standard library.
var Symbols = yaegi.Exports{}

// SDKPath is the import path of the SDK, pre-imported as ct in every session.
const SDKPath = "github.com/govalent/govalent/ct"

// rtAlias is the name under which rewritten code reaches the SDK, whatever the user called it.
const rtAlias = "govalentrt"

// DisplayPath is the import path of the rich display helpers.
const DisplayPath = "github.com/govalent/govalent/kernel/display"

// displayAlias is the name under which the cell value is captured for rich display.
const displayAlias = "govalentdisplay"

const prelude = `import (
	ct "` + SDKPath + `"
	` + rtAlias + ` "` + SDKPath + `"
	` + displayAlias + ` "` + DisplayPath + `"
	` + builtinAlias + ` "` + builtinPath + `"
)
var govalentValue any`

// builtinPath is the compiled package holding what rewritten cells call for the builtins yaegi lacks.
const builtinPath = "govalent/builtin"

// builtinAlias is the name rewritten code reaches builtinPath by.
const builtinAlias = "govalentbuiltin"

// builtins are the funcs of builtinPath: clear, on a map or a slice passed as any (a map with NaN keys too).
var builtins = yaegi.Exports{builtinPath + "/builtin": {
	"Clear":  reflect.ValueOf(func(x any) { reflect.ValueOf(x).Clear() }),
	"Values": reflect.ValueOf(func(xs ...any) any { return values(xs) }),
}}

// values are the results of a call of several as a cell's value, shown together as gophernotes shows them.
type values []any

func (v values) String() string { return strings.TrimSuffix(fmt.Sprintln([]any(v)...), "\n") }

// Options configure a session.
type Options struct {
	Stdin          io.Reader
	Stdout, Stderr io.Writer
	// OnGoroutinePanic is called when an interpreted goroutine panics; by default the panic is printed to
	// Stderr. Either way the process survives.
	OnGoroutinePanic func(value any)
	// Imports are pre-imported, name -> path (the kernel pre-imports display).
	Imports map[string]string
	// Exit, if set, is called when an interpreted goroutine calls os.Exit (`govalent run` ends the process);
	// otherwise that is reported like a goroutine's panic. os.Exit in a cell's own code ends the cell with an
	// *ExitError.
	Exit func(code int)
	// ModuleDir is the session's Go module: a directory holding its go.mod and go.sum (the kernel's %go get
	// writes them). Imports outside the standard library resolve there when cells are type-checked, and the two
	// files travel with every program the session ships, so native electrons build with the same versions.
	// Empty: the standard library only.
	ModuleDir string
}

// exitRequest is what interpreted code's os.Exit panics with.
type exitRequest struct{ code int }

func (r exitRequest) String() string { return fmt.Sprintf("os.Exit(%d)", r.code) }

func exit(code int) { panic(exitRequest{code}) }

// ExitError is a cell that called os.Exit. Deferred calls have run (unlike Go's os.Exit).
type ExitError struct {
	Code int
	Cell string
	Line int
}

func (e *ExitError) Error() string {
	if e.Line > 0 {
		return fmt.Sprintf("%s:%d: os.Exit(%d)", e.Cell, e.Line, e.Code)
	}
	return fmt.Sprintf("%s: os.Exit(%d)", e.Cell, e.Code)
}

// Session is one interpreter with its declaration store.
type Session struct {
	id   string
	opts Options

	evalMu sync.Mutex // one cell at a time

	mu          sync.Mutex // guards the fields below, also read by Ship during a cell's ct.Dispatch
	yi          *yaegi.Interpreter
	trace       *panicTrace
	store       *declStore
	runtimeVars map[string]*runtimeVar
	refs        map[string]*shipRef
	cells       int
	entries     map[string]reflect.Value
	sources     []string // cell names, indexed as encoded in line directives
	sourceIdx   map[string]int
	hidden      map[string]string // import path -> the name it is imported under to write a variable's type
	noteOnce    sync.Once         // tells once why cells are not type-checked
}

// runtimeVar is a variable set by a statement: not a declaration, so it is shipped by value if at all.
type runtimeVar struct {
	cell string
	line int
	get  reflect.Value // func() any reading its current value
	typ  string        // its go/types type as Go source in the session; empty if the cell was not checked
}

var (
	sessionSeq atomic.Int64
	sessions   sync.Map // id -> *Session, for routing goroutine panics
)

// New starts a session with ct pre-imported.
func New(opts Options) (*Session, error) {
	if opts.Stdout == nil {
		opts.Stdout = os.Stdout
	}
	if opts.Stderr == nil {
		opts.Stderr = os.Stderr
	}
	if opts.Stdin == nil {
		opts.Stdin = os.Stdin
	}
	quietInterpreterLogs()
	go warmUp(opts.ModuleDir)
	s := &Session{
		id:          fmt.Sprintf("s%d-%d", os.Getpid(), sessionSeq.Add(1)),
		opts:        opts,
		store:       newDeclStore(),
		runtimeVars: map[string]*runtimeVar{},
		refs:        map[string]*shipRef{},
		entries:     map[string]reflect.Value{},
		sources:     []string{"prelude"},
		sourceIdx:   map[string]int{"prelude": 0},
		hidden:      map[string]string{},
	}
	yi, trace, err := s.newInterpreter()
	if err != nil {
		return nil, err
	}
	s.yi, s.trace = yi, trace
	for name, path := range map[string]string{"ct": SDKPath, rtAlias: SDKPath, displayAlias: DisplayPath} {
		s.store.add(&decl{names: []string{name}, tok: token.IMPORT, path: path, text: `import ` + name + ` "` + path + `"`, cell: "prelude", line: 1, col: 1, shippable: true})
	}
	for name, path := range opts.Imports {
		// imports need no type check (and the first cell, not the session's start, says if there is none)
		items, err := splitCell("prelude", fmt.Sprintf("import %s %q", name, path))
		if err == nil {
			err = s.evalImports(context.Background(), items)
		}
		if err != nil {
			return nil, fmt.Errorf("interp: pre-importing %s: %w", path, err)
		}
	}
	sessions.Store(s.id, s)
	ct.RegisterShipper(s.id, s)
	return s, nil
}

// Close releases the session.
func (s *Session) Close() {
	sessions.Delete(s.id)
	dynRegistries.Delete(s.id)
	ct.UnregisterShipper(s.id)
}

// ID identifies the session in shipped references.
func (s *Session) ID() string { return s.id }

func (s *Session) newInterpreter() (*yaegi.Interpreter, *panicTrace, error) {
	trace := &panicTrace{out: s.opts.Stderr}
	// Unrestricted: yaegi otherwise gives interpreted code a copy of the environment, which os.Setenv in a cell,
	// %env and the commands a cell starts would not share.
	// The standard library of the Go govalent is built with, its generic packages interpreted from source
	// (interp/stdlib), and os/exec: a notebook is no sandbox.
	yi := yaegi.New(stdlib.Options(yaegi.Options{Stdin: s.opts.Stdin, Stdout: s.opts.Stdout, Stderr: trace, Unrestricted: true}))
	for _, symbols := range []yaegi.Exports{stdlib.Exports(), unrestricted.Exports(), yaegiunsafe.Symbols} {
		if err := yi.Use(symbols); err != nil {
			return nil, nil, err
		}
	}
	if err := yi.Use(Exports()); err != nil {
		return nil, nil, err
	}
	// os.Exit unwinds the cell (see ExitError) instead of yaegi's panic with a message
	if err := yi.Use(yaegi.Exports{"os/os": {"Exit": reflect.ValueOf(exit)}}); err != nil {
		return nil, nil, err
	}
	if err := yi.Use(builtins); err != nil {
		return nil, nil, err
	}
	if _, err := yi.Eval(prelude); err != nil {
		return nil, nil, fmt.Errorf("interp: prelude: %w", err)
	}
	return yi, trace, nil
}

// Result is what a cell evaluated to.
type Result struct {
	Value    reflect.Value // valid when the cell ended with an expression that has one value
	Warnings []string      // things the user should know (e.g. variables reset by a rebuild)
}

// Eval evaluates one cell, numbered in order ("cell1", "cell2", ...).
func (s *Session) Eval(ctx context.Context, src string) (Result, error) {
	s.mu.Lock()
	s.cells++
	name := fmt.Sprintf("cell%d", s.cells)
	s.mu.Unlock()
	return s.EvalNamed(ctx, name, src)
}

// EvalNamed evaluates src as a cell called name; errors are reported as name:line:col.
func (s *Session) EvalNamed(ctx context.Context, name, src string) (Result, error) {
	s.evalMu.Lock()
	defer s.evalMu.Unlock()
	items, err := splitCell(name, src)
	if err != nil {
		return Result{}, err
	}
	return s.evalCell(ctx, name, items)
}

func (s *Session) evalItems(ctx context.Context, items []item) (Result, error) {
	var res Result
	var imports []item
	for _, it := range items {
		if it.kind == itemImport {
			imports = append(imports, it)
		}
	}
	if err := s.evalImports(ctx, imports); err != nil {
		return res, err
	}
	lastStmt := -1
	for i, it := range items {
		if it.kind != itemImport {
			lastStmt = i
		}
		if err := returnError(&items[i], false); err != nil {
			return res, err
		}
	}
	for i := 0; i < len(items); {
		switch items[i].kind {
		case itemImport:
			i++
		case itemDecl:
			j := i
			var group []item
			for ; j < len(items) && items[j].kind != itemStmt; j++ {
				if items[j].kind == itemDecl {
					group = append(group, items[j])
				}
			}
			if err := s.evalDecls(ctx, group, &res); err != nil {
				return res, err
			}
			i = j
		default:
			if _, ok := items[i].stmt.(*ast.ReturnStmt); ok {
				return res, nil // a return ends the cell
			}
			v, err := s.evalStmt(ctx, &items[i], i == lastStmt)
			if err != nil {
				return res, err
			}
			res.Value = v
			i++
		}
	}
	return res, nil
}

// eval compiles and runs src in the interpreter, turning yaegi's errors into CellErrors.
func (s *Session) eval(ctx context.Context, cell string, src string) (reflect.Value, error) {
	prog, err := s.compile(cell, src)
	if err != nil {
		return reflect.Value{}, err
	}
	return s.execute(ctx, cell, prog)
}

// compile checks and compiles src without running it.
func (s *Session) compile(cell string, src string) (prog *yaegi.Program, err error) {
	s.mu.Lock()
	yi := s.yi
	s.mu.Unlock()
	defer func() {
		if r := recover(); r != nil { // yaegi's compiler panics on some code
			msg := fmt.Sprint(r)
			ce := &CellError{Cell: cell}
			if m := posRe.FindStringSubmatch(msg); m != nil {
				ce.Cell, ce.Line, ce.Col = s.parsePos(msg, cell)
				msg = msg[len(m[0]):]
			} else if m := directiveRe.FindStringSubmatch(src); m != nil {
				ce.Cell, ce.Line, ce.Col = s.parsePos(m[1]+": ", cell)
			}
			ce.Msg = "the interpreter cannot compile this: " + msg
			err = ce
		}
	}()
	prog, err = yi.Compile(src)
	if err != nil {
		return nil, s.cellError(err, cell, nil)
	}
	return prog, nil
}

func (s *Session) execute(ctx context.Context, cell string, prog *yaegi.Program) (reflect.Value, error) {
	s.mu.Lock()
	yi, trace := s.yi, s.trace
	s.mu.Unlock()
	trace.start()
	v, err := yi.ExecuteWithContext(ctx, prog)
	frames := trace.stop()
	if err != nil {
		return v, s.cellError(err, cell, frames)
	}
	return v, nil
}

var posRe = regexp.MustCompile(`^(?:([^\s:]*):)?(\d+):(\d+): `)

// directiveRe finds the first line directive of a source, the position of the text that follows it.
var directiveRe = regexp.MustCompile(`/\*line (:\d+:\d+)\*/`)

func (s *Session) cellError(err error, cell string, frames []string) error {
	if errors.Is(err, context.Canceled) || errors.Is(err, context.DeadlineExceeded) {
		return err
	}
	ce := &CellError{Cell: cell}
	var p yaegi.Panic
	if errors.As(err, &p) {
		if refused, ok := p.Value.(*CellError); ok {
			return refused // what a rewritten cell's helper found it cannot print as Go does
		}
		if req, ok := p.Value.(exitRequest); ok {
			ee := &ExitError{Code: req.code, Cell: cell}
			if len(frames) > 0 {
				ee.Cell, ee.Line, _ = s.parsePos(frames[0], cell)
			}
			return ee
		}
		ce.Msg = s.decodePositions(fmt.Sprintf("panic: %v", p.Value))
		ce.Stack = s.formatFrames(frames)
		if len(frames) > 0 {
			ce.Cell, ce.Line, ce.Col = s.parsePos(frames[0], cell)
		}
		return ce
	}
	msg := err.Error()
	if m := posRe.FindStringSubmatch(msg); m != nil {
		ce.Cell, ce.Line, ce.Col = s.parsePos(msg, cell)
		msg = msg[len(m[0]):]
	}
	ce.Msg = futureHint(s.decodePositions(msg))
	return ce
}

// futureHint explains an error about a ct.Future, which a lattice's code sees in place of values.
func futureHint(msg string) string {
	if strings.Contains(msg, "ct.Future") || strings.Contains(msg, "Future") && strings.Contains(msg, "mismatched types") {
		msg += " (a ct.Future has no value while the lattice builds its graph: branch on values inside an electron)"
	}
	return msg
}

// linesPerSource spaces sources (cells, shipped declarations) apart in the single line space yaegi sees. Go's
// scanner takes line numbers up to 1<<30: this spacing leaves room for 10,737 sources (executed cells) of up to
// 100,000 lines each in a session.
const linesPerSource = 100_000

// directive makes positions in the text that follows it decode to cell:line:col. yaegi scopes imports by file
// name, so the directive keeps the file name empty and encodes the cell in the line number instead.
func (s *Session) directive(cell string, line, col int) string {
	s.mu.Lock()
	idx, ok := s.sourceIdx[cell]
	if !ok {
		idx = len(s.sources)
		s.sources = append(s.sources, cell)
		s.sourceIdx[cell] = idx
	}
	s.mu.Unlock()
	return fmt.Sprintf("/*line :%d:%d*/", idx*linesPerSource+line, col)
}

// parsePos decodes the position at the start of msg; cell is the fallback name.
func (s *Session) parsePos(msg, cell string) (string, int, int) {
	m := posRe.FindStringSubmatch(msg)
	if m == nil {
		return cell, 0, 0
	}
	var line, col int
	fmt.Sscan(m[2], &line)
	fmt.Sscan(m[3], &col)
	s.mu.Lock()
	defer s.mu.Unlock()
	if idx := line / linesPerSource; idx < len(s.sources) {
		cell, line = s.sources[idx], line%linesPerSource
	}
	return cell, line, col
}

// formatFrames writes a panic's interpreted frames at cell positions, without the frames of the code the
// session generates around a cell (the call of its main and of its statements).
func (s *Session) formatFrames(frames []string) string {
	var out []string
	for _, f := range frames {
		f = s.FormatFrame(f)
		if strings.HasPrefix(f, "prelude:") {
			continue
		}
		out = append(out, strings.Replace(f, "."+mainFunc+"(", ".main(", 1))
	}
	return strings.Join(out, "\n")
}

// rawPosRe finds positions in yaegi's line space inside a message (see directive).
var rawPosRe = regexp.MustCompile(`\b(\d{7,}):(\d+)\b`)

// decodePositions rewrites the positions inside a message (a runtime panic's value may hold one) as
// cell:line:col.
func (s *Session) decodePositions(msg string) string {
	return rawPosRe.ReplaceAllStringFunc(msg, func(m string) string {
		cell, line, col := s.parsePos(m+": ", "")
		if cell == "" {
			return m
		}
		return fmt.Sprintf("%s:%d:%d", cell, line, col)
	})
}

// FormatFrame rewrites the position at the start of a yaegi message as cell:line:col.
func (s *Session) FormatFrame(msg string) string {
	m := posRe.FindStringSubmatch(msg)
	if m == nil {
		return msg
	}
	cell, line, col := s.parsePos(msg, "")
	return fmt.Sprintf("%s:%d:%d: %s", cell, line, col, msg[len(m[0]):])
}

// evalStmt runs one statement. The last expression of a cell is assigned to a variable and read back, because
// the value Eval returns for a statement without one is stale.
func (s *Session) evalStmt(ctx context.Context, it *item, last bool) (reflect.Value, error) {
	text := s.directive(it.cell, it.line, it.col) + s.rewrite(it)
	if it.tok == token.FUNC {
		// A top-level func literal call would run again on every later Eval; inside a block it runs once.
		_, err := s.eval(ctx, it.cell, "{"+text+"\n}")
		return reflect.Value{}, err
	}
	if it.isExpr && last && s.singleValued(ctx, it) {
		// Compiling the assignment fails when the expression has no single value (a call of a func without
		// results, or with several); then the statement is run as it is. The value goes through a variable and
		// display.Capture so that yaegi keeps the methods (HTML, String, ...) of interpreted types.
		// (The any() form is compiled first because yaegi compiles `x := f()` for an f without results.)
		prog, err := s.compile(it.cell, "govalentValue = any("+text+",\n)")
		capture := ""
		if err == nil {
			if tmp, terr := s.compile(it.cell, "govalentTmp := "+text+"\n"); terr == nil {
				prog, capture = tmp, "govalentValue = "+displayAlias+".Capture(govalentTmp, any(govalentTmp))"
			}
		}
		if err == nil {
			if _, err := s.execute(ctx, it.cell, prog); err != nil {
				return reflect.Value{}, err
			}
			if capture != "" {
				if _, err := s.yi.Eval(capture); err != nil {
					s.yi.Eval("govalentValue = any(govalentTmp)")
				}
			}
			v, err := s.yi.Eval("govalentValue")
			if err == nil && v.IsValid() && v.Kind() == reflect.Interface {
				v = v.Elem() // before the reset below, which overwrites the variable v refers to
			}
			s.yi.Eval("govalentValue = nil")
			return v, err
		}
	}
	if _, err := s.eval(ctx, it.cell, text); err != nil {
		return reflect.Value{}, err
	}
	for _, name := range it.defines {
		if err := s.defineRuntimeVar(ctx, name, it); err != nil {
			return reflect.Value{}, err
		}
	}
	return reflect.Value{}, nil
}

// singleValued reports whether the expression statement may have one value. yaegi compiles any(f()) even when
// f has no results or several, so a call of a named func or method has its result count checked by looking up
// the func value, which is free of side effects as long as the callee is a plain (qualified) name.
func (s *Session) singleValued(ctx context.Context, it *item) bool {
	call, ok := it.stmt.(*ast.ExprStmt).X.(*ast.CallExpr)
	if !ok || !plainName(call.Fun) {
		return true
	}
	off := func(p token.Pos) int { return it.fset.File(p).Offset(p) - it.base }
	fun := it.text[off(call.Fun.Pos()):off(call.Fun.End())]
	prog, err := s.compile(it.cell, "govalentFun := "+fun)
	if err != nil {
		return true // a conversion, a builtin: let evaluation decide
	}
	if _, err := s.execute(ctx, it.cell, prog); err != nil {
		return true
	}
	v, err := s.yi.Eval("govalentFun")
	if err != nil || !v.IsValid() {
		return true
	}
	if v.Kind() == reflect.Interface {
		v = v.Elem()
	}
	return v.Kind() != reflect.Func || v.Type().NumOut() == 1
}

// plainName reports whether e is an identifier or a chain of selectors on one.
func plainName(e ast.Expr) bool {
	switch x := e.(type) {
	case *ast.Ident:
		return true
	case *ast.SelectorExpr:
		return plainName(x.X)
	}
	return false
}

func (s *Session) defineRuntimeVar(ctx context.Context, name string, it *item) error {
	// A getter lets Ship read the variable later without an Eval, which may not run while a cell runs.
	getter := "govalentGet_" + name
	if _, err := s.yi.EvalWithContext(ctx, getter+" := func() any { return "+name+" }"); err != nil {
		return fmt.Errorf("interp: reading %s: %w", name, err)
	}
	get, err := s.yi.EvalWithContext(ctx, getter)
	if err != nil {
		return fmt.Errorf("interp: reading %s: %w", name, err)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	s.store.forget(name)
	s.runtimeVars[name] = &runtimeVar{cell: it.cell, line: it.line, get: get}
	delete(s.entries, name)
	return nil
}

// evalImports imports each package not imported yet under the same name (yaegi refuses a second import).
func (s *Session) evalImports(ctx context.Context, items []item) error {
	for _, it := range items {
		for _, spec := range it.file.Imports {
			name, path := importName(spec), strings.Trim(spec.Path.Value, `"`)
			s.mu.Lock()
			prev, ok := s.store.importPathOf(name)
			s.mu.Unlock()
			if ok && prev == path {
				continue
			}
			p := it.fset.Position(spec.Pos())
			if slices.Contains(stdlib.GenericOnly, path) {
				return &CellError{Cell: it.cell, Line: p.Line, Col: p.Column, Msg: fmt.Sprintf(
					"package %q cannot be imported in a cell: its API is all generic, which the interpreter can only run from source, and govalent has no interpreted copy of it", path)}
			}
			text := fmt.Sprintf("import %s %q", name, path)
			prog, err := s.compile(it.cell, s.directive(it.cell, p.Line, p.Column)+text)
			if err != nil {
				return err
			}
			// Compiling declared the import: it is the session's even if the run below is interrupted, or the
			// next cell's import of it would be a redeclaration.
			d := &decl{names: []string{name}, text: text, cell: it.cell, line: p.Line, col: p.Column, tok: token.IMPORT, path: path, shippable: true}
			s.mu.Lock()
			s.store.add(d)
			s.mu.Unlock()
			if _, err := s.execute(ctx, it.cell, prog); err != nil {
				return err
			}
		}
	}
	return nil
}

// evalDecls evaluates declarations and records them. Redefining a type rebuilds the interpreter from the store
// (yaegi keeps stale type information otherwise); redefining a func re-evaluates the declarations that use it
// (yaegi's callers keep the old func otherwise).
func (s *Session) evalDecls(ctx context.Context, items []item, res *Result) error {
	decls := make([]*decl, len(items))
	for i := range items {
		d, err := s.newDecl(&items[i])
		if err != nil {
			return err
		}
		decls[i] = d
	}
	s.mu.Lock()
	saved := s.store.clone()
	var changed []*decl
	for _, d := range decls {
		if d.tok == token.FUNC && d.recv == "" && d.names[0] == "main" {
			continue // yaegi runs main when it is declared; keeping it would run it again on a rebuild
		}
		changed = append(changed, s.store.add(d)...)
	}
	typeChanged := false
	for _, old := range changed {
		if old.tok == token.TYPE {
			typeChanged = true
		}
	}
	s.mu.Unlock()

	var err error
	if typeChanged {
		err = s.rebuild(ctx, res)
	} else {
		err = s.evalTexts(ctx, items)
		if err == nil && len(changed) > 0 {
			err = s.refreshDependents(ctx, changed, decls)
		}
	}
	if err == nil && (typeChanged || slices.ContainsFunc(decls, func(d *decl) bool { return d.tok == token.TYPE })) {
		s.registerTypes(ctx)
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.store = saved
		return err
	}
	for _, d := range decls {
		for _, n := range d.names {
			delete(s.runtimeVars, n)
			delete(s.entries, n)
		}
	}
	return nil
}

func (s *Session) evalTexts(ctx context.Context, items []item) error {
	err := s.evalJoined(ctx, items)
	if err == nil || !strings.Contains(err.Error(), "definition loop") {
		return err
	}
	// yaegi's false loop: evaluate the vars holding func literals as define statements, after the rest
	var rest, vars []item
	for _, it := range items {
		if needsDefine(&it) {
			vars = append(vars, it)
		} else {
			rest = append(rest, it)
		}
	}
	if len(rest) > 0 {
		if err := s.evalJoined(ctx, rest); err != nil {
			return err
		}
	}
	for i := range vars {
		text := s.directive(vars[i].cell, vars[i].line, vars[i].col) + s.rewriteItem(&vars[i], true)
		if _, err := s.eval(ctx, vars[i].cell, text); err != nil {
			return err
		}
	}
	return nil
}

func (s *Session) evalJoined(ctx context.Context, items []item) error {
	var b strings.Builder
	for i := range items {
		b.WriteString(s.directive(items[i].cell, items[i].line, items[i].col))
		b.WriteString(s.rewrite(&items[i]))
		b.WriteString("\n")
	}
	_, err := s.eval(ctx, items[0].cell, b.String())
	return err
}

// refreshDependents re-evaluates the functions, methods and side-effect-free vars that use a redefined name,
// transitively, so that they call the new definition.
func (s *Session) refreshDependents(ctx context.Context, changed, fresh []*decl) error {
	s.mu.Lock()
	dirty := map[string]bool{}
	for _, d := range changed {
		for _, n := range d.names {
			dirty[n] = true
		}
	}
	skip := map[*decl]bool{}
	for _, d := range fresh {
		skip[d] = true
	}
	var redo []*decl
	for grew := true; grew; {
		grew = false
		for _, d := range s.store.all() {
			if skip[d] || d.tok == token.IMPORT || (d.tok == token.VAR && !d.shippable) {
				continue
			}
			for _, f := range d.free {
				if dirty[f] {
					skip[d] = true
					redo = append(redo, d)
					for _, n := range d.names {
						dirty[n] = true
					}
					grew = true
					break
				}
			}
		}
	}
	s.mu.Unlock()
	if len(redo) == 0 {
		return nil
	}
	items := make([]item, len(redo))
	s.mu.Lock()
	for i, d := range redo {
		items[i] = d.src
		for _, n := range d.names {
			delete(s.entries, n)
		}
	}
	s.mu.Unlock()
	return s.evalTexts(ctx, items)
}

// rebuild replaces the interpreter with a fresh one holding every stored declaration. Variables set by
// statements, and vars whose initializers have side effects (which are not run again), are declared with their
// types and keep their values, unless their type changed; the user is told which were reset.
func (s *Session) rebuild(ctx context.Context, res *Result) error {
	yi, trace, err := s.newInterpreter()
	if err != nil {
		return err
	}
	s.mu.Lock()
	old, oldTrace := s.yi, s.trace
	s.yi, s.trace = yi, trace
	all := s.store.all()
	vars := s.runtimeVars
	hidden := s.hidden
	s.mu.Unlock()
	var decls []item
	var reset []string
	type carried struct {
		name, typ, cell string
		line            int
		statement       bool
	}
	var carry []carried
	for _, d := range all {
		switch {
		case d.tok == token.IMPORT:
			if d.cell != "prelude" && err == nil {
				_, err = s.eval(ctx, d.cell, d.text)
			}
		case d.tok == token.VAR && !d.shippable:
			for _, n := range d.names {
				if t := d.src.varTypes[n]; t != "" {
					carry = append(carry, carried{name: n, typ: t, cell: d.cell, line: d.line})
				} else {
					reset = append(reset, n)
				}
			}
		default:
			decls = append(decls, d.src)
		}
	}
	for _, p := range sortedKeys(hidden) {
		if err == nil {
			_, err = s.eval(ctx, "prelude", fmt.Sprintf("import %s %q", hidden[p], p))
		}
	}
	for n, rv := range vars {
		if rv.typ != "" {
			carry = append(carry, carried{name: n, typ: rv.typ, cell: rv.cell, line: rv.line, statement: true})
		} else {
			reset = append(reset, n)
		}
	}
	for _, c := range carry {
		it := item{kind: itemDecl, tok: token.VAR, text: "var " + c.name + " " + c.typ, cell: c.cell, line: c.line, col: 1}
		if err == nil {
			err = parseItem(&it)
		}
		decls = append(decls, it)
	}
	if err == nil && len(decls) > 0 {
		err = s.evalTexts(ctx, decls)
	}
	newVars := map[string]*runtimeVar{}
	if err == nil {
		oldGlobals, globals := old.Globals(), yi.Globals()
		var kept []string
		for _, c := range carry {
			ov, nv := oldGlobals[c.name], globals[c.name]
			if !ov.IsValid() || !nv.IsValid() || !nv.CanSet() || !ov.Type().AssignableTo(nv.Type()) {
				reset = append(reset, c.name)
				continue
			}
			nv.Set(ov)
			if c.statement {
				kept = append(kept, c.name)
				newVars[c.name] = &runtimeVar{cell: c.cell, line: c.line, typ: vars[c.name].typ}
			}
		}
		var getters map[string]reflect.Value
		if getters, err = s.makeGetters(ctx, "prelude", kept); err == nil {
			for n, g := range getters {
				newVars[n].get = g
			}
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.yi, s.trace = old, oldTrace
		return err
	}
	for _, n := range reset {
		s.store.forget(n)
	}
	if len(reset) > 0 {
		sort.Strings(reset)
		w := fmt.Sprintf("a type was redefined, so the interpreter was rebuilt from the declarations; variables whose type changed (or is not known: cells not type-checked) were reset: %s", strings.Join(reset, ", "))
		res.Warnings = append(res.Warnings, w)
		fmt.Fprintln(s.opts.Stderr, "govalent:", w)
	}
	s.runtimeVars = newVars
	s.entries = map[string]reflect.Value{}
	return nil
}

// makeGetters defines, for each variable, a func returning its current value: Ship reads variables through
// them, since it may not Eval while a cell runs.
func (s *Session) makeGetters(ctx context.Context, cell string, names []string) (map[string]reflect.Value, error) {
	out := map[string]reflect.Value{}
	if len(names) == 0 {
		return out, nil
	}
	gnames := make([]string, len(names))
	getters := make([]string, len(names))
	for i, n := range names {
		gnames[i] = "govalentGet_" + n
		getters[i] = "func() any { return " + n + " }"
	}
	if _, err := s.eval(ctx, cell, strings.Join(gnames, ", ")+" := "+strings.Join(getters, ", ")); err != nil {
		return nil, err
	}
	s.mu.Lock()
	yi := s.yi
	s.mu.Unlock()
	globals := yi.Globals()
	for i, n := range names {
		get := globals[gnames[i]]
		if get.Kind() == reflect.Interface {
			get = get.Elem()
		}
		out[n] = get
	}
	return out, nil
}

// newDecl records what the store needs to know of a declaration item.
func (s *Session) newDecl(it *item) (*decl, error) {
	d := &decl{src: *it, names: it.declNames, text: it.text, cell: it.cell, line: it.line, col: it.col, tok: it.tok, recv: it.recv, shippable: true}
	if it.tok == token.FUNC && it.recv != "" {
		d.names = []string{it.declNames[0][len(it.recv)+1:]}
	}
	d.free = freeIdents(it.file)
	if it.tok == token.VAR {
		s.mu.Lock()
		aliases := s.sdkAliases()
		store := s.store
		s.mu.Unlock()
		d.shippable = varIsShippable(it.file.Decls[0].(*ast.GenDecl), func(n string) bool {
			s.mu.Lock()
			defer s.mu.Unlock()
			od := store.byName[n]
			return od != nil && od.tok == token.TYPE
		}, func(n string) bool { return aliases[n] })
	}
	return d, nil
}

// sdkAliases are the names the SDK is imported under. The caller holds s.mu.
func (s *Session) sdkAliases() map[string]bool {
	out := map[string]bool{rtAlias: true}
	for n, d := range s.store.byName {
		if d.tok == token.IMPORT && d.path == SDKPath {
			out[n] = true
		}
	}
	return out
}

// Lookup returns the current value of a top-level name.
func (s *Session) Lookup(name string) (reflect.Value, error) {
	s.mu.Lock()
	if v, ok := s.entries[name]; ok {
		s.mu.Unlock()
		return v, nil
	}
	yi := s.yi
	s.mu.Unlock()
	v, err := yi.Eval(name)
	if err != nil {
		return v, err
	}
	s.mu.Lock()
	s.entries[name] = v
	s.mu.Unlock()
	return v, nil
}

// panicTrace passes the interpreter's stderr through, except the "file:line:col: panic: f(...)" lines yaegi
// prints while a panic unwinds interpreted frames: those are kept as the panic's stack.
type panicTrace struct {
	mu        sync.Mutex
	out       io.Writer
	capturing bool
	frames    []string
}

var frameRe = regexp.MustCompile(`^(?:[^\s:]*:)?\d+:\d+: panic`)

func (t *panicTrace) Write(p []byte) (int, error) {
	t.mu.Lock()
	defer t.mu.Unlock()
	line := string(bytes.TrimRight(p, "\n"))
	if t.capturing && frameRe.MatchString(line) && !strings.Contains(line, "\n") {
		t.frames = append(t.frames, line)
		return len(p), nil
	}
	return t.out.Write(p)
}

func (t *panicTrace) start() {
	t.mu.Lock()
	t.capturing, t.frames = true, nil
	t.mu.Unlock()
}

func (t *panicTrace) stop() []string {
	t.mu.Lock()
	defer t.mu.Unlock()
	t.capturing = false
	f := t.frames
	t.frames = nil
	return f
}

// goroutinePanic is what rewritten go statements call with the value they recovered.
func goroutinePanic(session string, value any) {
	if value == nil {
		return
	}
	v, ok := sessions.Load(session)
	if !ok {
		fmt.Fprintf(os.Stderr, "govalent: panic in goroutine: %v\n", value)
		return
	}
	s := v.(*Session)
	if req, ok := value.(exitRequest); ok && s.opts.Exit != nil {
		s.opts.Exit(req.code)
		return
	}
	if s.opts.OnGoroutinePanic != nil {
		s.opts.OnGoroutinePanic(value)
		return
	}
	fmt.Fprintf(s.opts.Stderr, "panic in goroutine: %v\n", value)
}

func init() {
	ct.SetGoroutinePanicHandler(goroutinePanic)
}

// Name is a top-level name a cell can use, for completion and inspection.
type Name struct {
	Name   string
	Kind   string // "func", "type", "var", "const", "import" or "method" (Name is then "Type.Method")
	Source string // the declaration as written; for an import, its path; empty for statement variables
	Cell   string
}

// Names lists the session's top-level names: declarations, imports and variables set by statements.
func (s *Session) Names() []Name {
	s.mu.Lock()
	defer s.mu.Unlock()
	var out []Name
	for n, d := range s.store.byName {
		if d.cell == "prelude" && (n == rtAlias || n == displayAlias) || strings.HasPrefix(n, helperPrefix) {
			continue
		}
		kind, src := d.tok.String(), d.text
		if d.tok == token.IMPORT {
			src = d.path
		}
		out = append(out, Name{Name: n, Kind: kind, Source: src, Cell: d.cell})
	}
	for typ, ms := range s.store.methods {
		for m, d := range ms {
			out = append(out, Name{Name: typ + "." + m, Kind: "method", Source: d.text, Cell: d.cell})
		}
	}
	for n, rv := range s.runtimeVars {
		out = append(out, Name{Name: n, Kind: "var", Cell: rv.cell})
	}
	sort.Slice(out, func(i, j int) bool { return out[i].Name < out[j].Name })
	return out
}

// PackageSymbols returns the exported symbols of an importable compiled package (the standard library or the
// SDK) by import path, or nil.
func PackageSymbols(path string) map[string]reflect.Value {
	key := path + "/" + packageName(path)
	for _, exports := range []yaegi.Exports{Symbols, stdlib.Exports(), unrestricted.Exports()} {
		if m, ok := exports[key]; ok {
			return m
		}
	}
	return nil
}

// Packages lists the import paths PackageSymbols knows.
func Packages() []string {
	var out []string
	for _, exports := range []yaegi.Exports{stdlib.Exports(), unrestricted.Exports(), Symbols} {
		for k := range exports {
			if i := strings.LastIndex(k, "/"); i > 0 {
				out = append(out, k[:i])
			}
		}
	}
	sort.Strings(out)
	return out
}
