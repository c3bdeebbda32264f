package interp

import (
	"context"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"reflect"
	"runtime/debug"
	"strconv"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/native"
)

// LoadProgram evaluates a program written by Ship in this (fresh) session, recording its declarations so that
// a sublattice built here can ship them again. Line directives keep the user's cell positions in errors.
func (s *Session) LoadProgram(ctx context.Context, src string) error {
	fset := token.NewFileSet()
	f, err := parser.ParseFile(fset, "program.go", src, 0)
	if err != nil {
		return fmt.Errorf("interp: shipped program: %w", err)
	}
	for _, spec := range f.Imports {
		if p, _ := strconv.Unquote(spec.Path.Value); native.NeedsModule(p) && PackageSymbols(p) == nil {
			return fmt.Errorf("the electrons import %s, from a Go module, which the interpreter cannot load: they run only as a native worker, and none was built for this worker (its platform, or the dispatcher's native tier)", p)
		}
	}
	tf := fset.File(f.Pos())
	var items []item
	for _, d := range f.Decls {
		start, end := tf.Offset(d.Pos()), tf.Offset(d.End())
		p := fset.Position(d.Pos())
		it := item{kind: itemDecl, text: src[start:end], cell: p.Filename, line: p.Line, col: p.Column}
		if gd, ok := d.(*ast.GenDecl); ok {
			it.tok = gd.Tok
			if gd.Tok == token.IMPORT {
				it.kind = itemImport
			}
		} else {
			it.tok = token.FUNC
		}
		if err := parseItem(&it); err != nil {
			return err
		}
		items = append(items, it)
	}
	s.evalMu.Lock()
	defer s.evalMu.Unlock()
	_, err = s.evalCell(ctx, "program", items)
	return err
}

// TaskError is a failure of user code: an error return, a panic, or bad arguments.
type TaskError struct {
	Msg   string
	Stack string // interpreted frames ("cell3:5:2: panic: main.F(...)"), then the Go stack for panics
}

func (e *TaskError) Error() string { return e.Msg }

// Call runs the electron entry with encoded arguments (ct/codec) and returns its encoded output: the single result, or a list
// of them when there are several; a non-nil trailing error fails the call.
func (s *Session) Call(entry string, args [][]byte) (out []byte, err error) {
	fn, err := s.Lookup(entry)
	if err != nil {
		return nil, &TaskError{Msg: fmt.Sprintf("cannot find %s in the shipped program: %v", entry, err)}
	}
	if fn.Kind() != reflect.Func {
		return nil, &TaskError{Msg: fmt.Sprintf("%s is a %s, not a func", entry, fn.Type())}
	}
	in, err := ct.DecodeArgs(fn.Type(), entry, args)
	if err != nil {
		return nil, &TaskError{Msg: err.Error()}
	}
	res, err := s.call(fn, in)
	if err != nil {
		return nil, err
	}
	out, err = ct.EncodeOutput(fn.Type(), entry, res)
	if err != nil {
		return nil, &TaskError{Msg: err.Error()}
	}
	return out, nil
}

// BuildSublattice calls the lattice held by the variable entry with encoded arguments and returns its graph.
func (s *Session) BuildSublattice(entry string, args [][]byte) (*ct.Graph, ct.Program, error) {
	v, err := s.Lookup(entry)
	if err != nil {
		return nil, ct.Program{}, &TaskError{Msg: fmt.Sprintf("cannot find lattice %s: %v", entry, err)}
	}
	wf, ok := v.Interface().(*ct.Workflow)
	if !ok {
		if v.Kind() != reflect.Func {
			return nil, ct.Program{}, &TaskError{Msg: fmt.Sprintf("%s is not a lattice", entry)}
		}
		wf = ct.Lattice(v.Interface())
	}
	in, err := ct.DecodeArgs(wf.FuncType(), entry, args)
	if err != nil {
		return nil, ct.Program{}, &TaskError{Msg: err.Error()}
	}
	vals := make([]any, len(in))
	for i, a := range in {
		vals[i] = a.Interface()
	}
	g, prog, err := ct.BuildGraph(wf, vals...)
	if err != nil {
		return nil, prog, &TaskError{Msg: err.Error()}
	}
	return g, prog, nil
}

// call invokes an interpreted func, turning a panic into a TaskError with the interpreted frames and the source
// line where it happened.
func (s *Session) call(fn reflect.Value, in []reflect.Value) (res []reflect.Value, err error) {
	s.mu.Lock()
	trace := s.trace
	s.mu.Unlock()
	trace.start()
	defer func() {
		frames := trace.stop()
		if r := recover(); r != nil {
			msg := fmt.Sprintf("panic: %v", r)
			if len(frames) > 0 {
				cell, line, col := s.parsePos(frames[0], "")
				msg += fmt.Sprintf(" (at %s:%d:%d)", cell, line, col)
			}
			err = &TaskError{Msg: msg, Stack: s.formatFrames(frames) + "\n\n" + string(debug.Stack())}
		}
	}()
	return fn.Call(in), nil
}
