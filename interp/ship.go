package interp

import (
	"encoding/json"
	"errors"
	"fmt"
	"go/ast"
	"go/parser"
	"go/token"
	"io/fs"
	"os"
	"path/filepath"
	"reflect"
	"sort"
	"strconv"
	"strings"

	"golang.org/x/mod/modfile"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/native"
)

// Ship implements ct.Shipper: it returns one program holding the declarations the referenced electrons need,
// and the symbol each reference is reachable by in it. Named functions are looked up when Ship runs, so a func
// redefined in a later cell is what the next dispatch runs. Variables set by statements are shipped by value
// (as JSON) when they can be, and refused with the variable's name and cell when they cannot.
func (s *Session) Ship(refs []string) (ct.Program, map[string]string, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	b := &programBuilder{s: s, included: map[*decl]bool{}, done: map[string]bool{}}
	entries := map[string]string{}
	for _, ref := range refs {
		key := strings.TrimPrefix(ref, s.id+"/")
		r := s.refs[key]
		if r == nil {
			return ct.Program{}, nil, fmt.Errorf("interp: unknown electron reference %q", ref)
		}
		entry, err := b.entry(r)
		if err != nil {
			return ct.Program{}, nil, err
		}
		entries[ref] = entry
	}
	prog := b.program()
	if err := s.shipModules(&prog); err != nil {
		return ct.Program{}, nil, err
	}
	return prog, entries, nil
}

// shipModules adds the session's go.mod and go.sum to a program that imports packages from modules, as they
// are now (a %go get since the last dispatch counts). A program of the standard library alone ships without
// them, as it always has. Relative replacement directories are made absolute: they are the session's module
// directory's, and the program is built elsewhere on the machine.
func (s *Session) shipModules(prog *ct.Program) error {
	var dir string
	var gomod []byte
	if s.opts.ModuleDir != "" {
		var err error
		if dir, err = filepath.Abs(s.opts.ModuleDir); err != nil {
			return err
		}
		if gomod, err = os.ReadFile(filepath.Join(dir, "go.mod")); err != nil && !errors.Is(err, fs.ErrNotExist) {
			return fmt.Errorf("reading the session's go.mod: %w", err)
		}
	}
	pkgs := native.ModulePackages(prog.Source, string(gomod))
	if len(pkgs) == 0 {
		return nil
	}
	if len(gomod) == 0 {
		return fmt.Errorf("the electrons import %s, outside the standard library, but this session has no go.mod to name its version (%%go get it)", strings.Join(pkgs, ", "))
	}
	gosum, err := os.ReadFile(filepath.Join(dir, "go.sum"))
	if err != nil && !errors.Is(err, fs.ErrNotExist) {
		return fmt.Errorf("reading the session's go.sum: %w", err)
	}
	f, err := modfile.Parse(filepath.Join(dir, "go.mod"), gomod, nil)
	if err != nil {
		return fmt.Errorf("the session's go.mod: %w", err)
	}
	changed := false
	for _, r := range f.Replace {
		if modfile.IsDirectoryPath(r.New.Path) && !filepath.IsAbs(r.New.Path) {
			if err := f.AddReplace(r.Old.Path, r.Old.Version, filepath.Join(dir, r.New.Path), ""); err != nil {
				return err
			}
			changed = true
		}
	}
	if changed {
		if gomod, err = f.Format(); err != nil {
			return err
		}
	}
	prog.GoMod, prog.GoSum = string(gomod), string(gosum)
	return nil
}

type programBuilder struct {
	s        *Session
	included map[*decl]bool
	decls    []*decl
	done     map[string]bool
	extra    []string // synthesised declarations: func literals and captured values
	notes    []string
	needsRT  bool
	user     string // the electron being resolved, for error messages
	userCell string
	userLine int
}

// entry makes the referenced function reachable by a top-level name and pulls in what it needs.
func (b *programBuilder) entry(r *shipRef) (string, error) {
	b.user, b.userCell, b.userLine = r.ident, r.cell, r.line
	if r.ident != "" {
		if rv := b.s.runtimeVars[r.ident]; rv != nil {
			return "", fmt.Errorf("electron %s is a variable set by a statement (%s:%d), not a declaration: declare it with func %s(...) to ship it", r.ident, rv.cell, rv.line, r.ident)
		}
		return r.ident, b.need(r.ident)
	}
	b.user = "lambda at " + r.cell + ":" + strconv.Itoa(r.line)
	var name, src string
	if strings.HasPrefix(r.expr, "func") {
		name = "govalentLit_" + shortHash(r.expr)
		src = "func " + name + strings.TrimPrefix(r.expr, "func")
	} else {
		name = "govalentExpr_" + shortHash(r.expr)
		src = "var " + name + " = " + r.expr
	}
	if b.done[name] {
		return name, nil
	}
	b.done[name] = true
	free, err := parseFree(src)
	if err != nil {
		return "", err
	}
	b.extra = append(b.extra, linePrefix(r.cell, r.line, r.col)+src)
	for _, f := range free {
		if err := b.need(f); err != nil {
			return "", err
		}
	}
	return name, nil
}

// need includes the declaration of name and, transitively, what it uses.
func (b *programBuilder) need(name string) error {
	if b.done[name] {
		return nil
	}
	b.done[name] = true
	st := b.s.store
	if d := st.byName[name]; d != nil && (d.tok != token.VAR || d.shippable) {
		if err := b.include(d); err != nil {
			return err
		}
		if d.tok == token.TYPE {
			for _, m := range st.methods[name] {
				if err := b.include(m); err != nil {
					return err
				}
			}
		}
		return nil
	}
	if rv := b.s.runtimeVars[name]; rv != nil {
		return b.capture(name, rv.cell, rv.line, rv.get.Call(nil)[0])
	}
	if d := st.byName[name]; d != nil {
		return fmt.Errorf("electron %s (%s:%d) uses %s, declared in %s:%d with an initializer that may have side effects, so it is not re-run on workers: make it a constant, or pass it as an argument", b.user, b.userCell, b.userLine, name, d.cell, d.line)
	}
	return fmt.Errorf("electron %s (%s:%d) uses %s, which is not declared at the top level of a cell: pass it to the electron as an argument", b.user, b.userCell, b.userLine, name)
}

func (b *programBuilder) include(d *decl) error {
	if b.included[d] {
		return nil
	}
	b.included[d] = true
	b.decls = append(b.decls, d)
	for _, f := range d.free {
		if err := b.need(f); err != nil {
			return err
		}
	}
	return nil
}

// capture ships a variable's current value as JSON, if its type can be written in Go source.
func (b *programBuilder) capture(name, cell string, line int, v reflect.Value) error {
	refuse := func(why string) error {
		return fmt.Errorf("electron %s (%s:%d) uses %s, a variable set by a statement in %s:%d, whose value cannot be shipped (%s): declare it at the top level with a constant value, or pass it as an argument", b.user, b.userCell, b.userLine, name, cell, line, why)
	}
	if v.Kind() == reflect.Interface {
		v = v.Elem()
	}
	if !v.IsValid() {
		return refuse("it is nil")
	}
	typ := v.Type().String()
	if _, err := parser.ParseExpr(typ); err != nil || strings.Contains(typ, "interp.") || strings.Contains(typ, "main.") {
		return refuse("its type " + typ + " has no name a worker knows")
	}
	for _, pkg := range qualifiers(typ) {
		if err := b.need(pkg); err != nil {
			return refuse("its type " + typ + " is from a package the cells do not import")
		}
	}
	raw, err := json.Marshal(v.Interface())
	if err != nil {
		return refuse(err.Error())
	}
	b.needsRT = true
	b.extra = append(b.extra, fmt.Sprintf("var %s %s = *(%s.DecodeInto(%s, new(%s)).(*%s))", name, typ, rtAlias, strconv.Quote(string(raw)), typ, typ))
	b.notes = append(b.notes, fmt.Sprintf("%s (set in %s:%d) was captured by value at dispatch, as JSON: %s", name, cell, line, truncate(string(raw), 200)))
	return nil
}

// qualifiers lists the package names a type expression refers to ("time" in "map[string]time.Time").
func qualifiers(typ string) []string {
	var out []string
	expr, err := parser.ParseExpr(typ)
	if err != nil {
		return nil
	}
	seen := map[string]bool{}
	ast.Inspect(expr, func(n ast.Node) bool {
		if sel, ok := n.(*ast.SelectorExpr); ok {
			if pkg, ok := sel.X.(*ast.Ident); ok && !seen[pkg.Name] {
				seen[pkg.Name] = true
				out = append(out, pkg.Name)
			}
		}
		return true
	})
	return out
}

func truncate(s string, n int) string {
	if len(s) <= n {
		return s
	}
	return s[:n] + "..."
}

// program writes the source: a package clause, the imports used, then each declaration behind a line directive
// naming the cell and line it came from, so errors and panics on workers point at the user's cells.
func (b *programBuilder) program() ct.Program {
	sort.Slice(b.decls, func(i, j int) bool { return b.decls[i].seq < b.decls[j].seq })
	var src strings.Builder
	src.WriteString("package main\n\nimport (\n")
	if b.needsRT {
		fmt.Fprintf(&src, "\t%s %q\n", rtAlias, SDKPath)
	}
	for _, d := range b.decls {
		if d.tok == token.IMPORT {
			fmt.Fprintf(&src, "\t%s %q\n", d.names[0], d.path)
		}
	}
	src.WriteString(")\n\n")
	for _, d := range b.decls {
		if d.tok != token.IMPORT {
			src.WriteString(linePrefix(d.cell, d.line, d.col) + d.text + "\n")
		}
	}
	for _, e := range b.extra {
		src.WriteString(e + "\n")
	}
	return ct.Program{Source: src.String(), Notes: b.notes}
}
