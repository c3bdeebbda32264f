package interp

import (
	"context"
	"fmt"
	"go/token"
	"reflect"
	"sort"
	"strings"

	"github.com/govalent/govalent/ct/codec"
)

// A Snapshot is what a new session needs to take the place of this one without running its cells again: the
// declarations, replayed, and the variables whose values are carried over (set by statements, or declared with
// an initializer that may have side effects and so is not run again), each with its type. The kernel keeps the
// latest snapshot of its evaluator's session, and restores it into a new evaluator when the old one dies or is
// replaced.
type Snapshot struct {
	Decls []SnapshotDecl
	Vars  []SnapshotVar
	// Declared are the variables the replayed declarations declare: their initializers run again, and a value
	// carried over, if any, replaces what they give (a later cell may have changed it).
	Declared []SnapshotVar
	Hidden   map[string]string // import path -> the name the variables' types refer to it by
	// Lost lists the variables no restore can carry, with why.
	Lost []string
}

// SnapshotDecl is a top-level declaration as written, with where.
type SnapshotDecl struct {
	Text, Cell string
	Line, Col  int
}

// SnapshotVar is a variable carried over by value.
type SnapshotVar struct {
	Name, Type, Cell string
	Line             int
}

// Snapshot returns what Restore needs, but the variables' values (see Value).
func (s *Session) Snapshot() Snapshot {
	s.mu.Lock()
	defer s.mu.Unlock()
	snap := Snapshot{Hidden: map[string]string{}}
	for _, d := range s.store.all() {
		if d.cell == "prelude" || d.src.text == "" && d.tok != token.IMPORT || strings.HasPrefix(d.names[0], "govalent") {
			continue // the new session has the prelude, and makes the helpers its rewrites need again
		}
		if d.tok == token.VAR && !d.shippable {
			for _, n := range d.names {
				if t := d.src.varTypes[n]; t != "" {
					snap.Vars = append(snap.Vars, SnapshotVar{Name: n, Type: t, Cell: d.cell, Line: d.line})
				} else {
					snap.Lost = append(snap.Lost, n+" (its type is not known: the cell was not type-checked)")
				}
			}
			continue
		}
		snap.Decls = append(snap.Decls, SnapshotDecl{Text: d.text, Cell: d.cell, Line: d.line, Col: d.col})
		if d.tok == token.VAR {
			for _, n := range d.names {
				if t := d.src.varTypes[n]; t != "" && n != "_" {
					snap.Declared = append(snap.Declared, SnapshotVar{Name: n, Type: t, Cell: d.cell, Line: d.line})
				}
			}
		}
	}
	for n, rv := range s.runtimeVars {
		if rv.typ == "" {
			snap.Lost = append(snap.Lost, n+" (its type is not known: the cell was not type-checked)")
			continue
		}
		snap.Vars = append(snap.Vars, SnapshotVar{Name: n, Type: rv.typ, Cell: rv.cell, Line: rv.line})
	}
	sort.Slice(snap.Vars, func(i, j int) bool { return snap.Vars[i].Name < snap.Vars[j].Name })
	sort.Slice(snap.Declared, func(i, j int) bool { return snap.Declared[i].Name < snap.Declared[j].Name })
	sort.Strings(snap.Lost)
	for p, alias := range s.hidden {
		snap.Hidden[p] = alias
	}
	return snap
}

// Value returns the current value of a package-level variable of the session, with its declared type.
func (s *Session) Value(name string) (reflect.Value, bool) {
	s.mu.Lock()
	yi := s.yi
	s.mu.Unlock()
	v, ok := yi.Globals()[name]
	return v, ok && v.IsValid()
}

// Restore replays a snapshot into a session that has run no cell: the declarations are evaluated again as one
// cell (Go's package-level declarations do not depend on their order), the variables are declared with their
// types and set to their values, encoded with package ct/codec (values lacks those that could not be encoded),
// as are the declared variables that have one in values.
// It returns the variables that could not be carried over, with why.
func (s *Session) Restore(ctx context.Context, snap Snapshot, values map[string][]byte) (lost []string, err error) {
	lost = append(lost, snap.Lost...)
	for _, p := range sortedKeys(snap.Hidden) {
		if _, err := s.eval(ctx, "prelude", fmt.Sprintf("import %s %q", snap.Hidden[p], p)); err != nil {
			return nil, fmt.Errorf("interp: restoring the import of %s: %w", p, err)
		}
		s.mu.Lock()
		s.hidden[p] = snap.Hidden[p]
		s.mu.Unlock()
	}
	var decls, vars []item
	for _, d := range snap.Decls {
		it := item{text: d.Text, cell: d.Cell, line: d.Line, col: d.Col}
		split, err := splitCell(d.Cell, d.Text)
		if err != nil || len(split) != 1 {
			return nil, fmt.Errorf("interp: restoring %s:%d: %q is not one declaration", d.Cell, d.Line, d.Text)
		}
		it.kind, it.tok = split[0].kind, split[0].tok
		if err := parseItem(&it); err != nil {
			return nil, err
		}
		decls = append(decls, it)
	}
	for _, v := range snap.Vars {
		it := item{kind: itemStmt, tok: token.VAR, text: "var " + v.Name + " " + v.Type, cell: v.Cell, line: v.Line, col: 1}
		if err := parseItem(&it); err != nil {
			return nil, err
		}
		vars = append(vars, it)
	}
	// The declarations that use a variable (or a declaration that does) are evaluated with the variables, after
	// the others: the variables' types may be among those.
	uses := map[string]bool{}
	for _, v := range snap.Vars {
		uses[v.Name] = true
	}
	first, second := splitByUse(decls, uses)
	for _, items := range [][]item{first, append(second, vars...)} {
		if len(items) == 0 {
			continue
		}
		s.evalMu.Lock()
		_, err := s.evalCell(ctx, "restore", items)
		s.evalMu.Unlock()
		if err != nil {
			return nil, err
		}
	}
	var missing []string
	s.mu.Lock()
	for _, v := range snap.Vars {
		rv := s.runtimeVars[v.Name]
		if rv == nil {
			missing = append(missing, v.Name)
			continue
		}
		rv.cell, rv.line, rv.typ = v.Cell, v.Line, v.Type
	}
	s.mu.Unlock()
	// cells not type-checked (no Go toolchain) declare the variables without a getter
	getters, err := s.makeGetters(ctx, "restore", missing)
	if err != nil {
		return nil, err
	}
	// A variable without a value to restore keeps its zero value; yaegi's zero of an interface the cells declare
	// is one it cannot read until nil is assigned (other types refuse nil, which changes nothing).
	for _, v := range snap.Vars {
		if _, ok := values[v.Name]; !ok {
			s.eval(ctx, "restore", v.Name+" = nil")
		}
	}
	s.mu.Lock()
	defer s.mu.Unlock()
	for _, v := range snap.Vars {
		if g, ok := getters[v.Name]; ok {
			s.store.forget(v.Name)
			s.runtimeVars[v.Name] = &runtimeVar{cell: v.Cell, line: v.Line, get: g, typ: v.Type}
		}
	}
	globals := s.yi.Globals()
	for _, v := range append(snap.Vars, snap.Declared...) {
		data, ok := values[v.Name]
		if !ok {
			continue // the caller lists why
		}
		g := globals[v.Name]
		if !g.IsValid() || !g.CanSet() {
			lost = append(lost, v.Name+" (the new session has no such variable)")
			continue
		}
		p := reflect.New(carriedType(g.Type())) // as Carried encoded it
		if err := codec.Unmarshal(data, p.Interface()); err != nil {
			lost = append(lost, fmt.Sprintf("%s (its value does not decode as %s: %v)", v.Name, v.Type, err))
			continue
		}
		g.Set(p.Elem().Convert(g.Type()))
	}
	s.entries = map[string]reflect.Value{}
	return lost, nil
}

// splitByUse parts declarations into those that use none of the names, even through other declarations, and
// those that do. It adds the names of the latter to uses.
func splitByUse(decls []item, uses map[string]bool) (first, second []item) {
	late := make([]bool, len(decls))
	for grew := true; grew; {
		grew = false
		for i, d := range decls {
			if late[i] || d.kind != itemDecl {
				continue
			}
			for _, f := range freeIdents(d.file) {
				if uses[f] {
					late[i], grew = true, true
					for _, n := range d.declNames {
						uses[n] = true
					}
					break
				}
			}
		}
	}
	for i, d := range decls {
		if late[i] {
			second = append(second, d)
		} else {
			first = append(first, d)
		}
	}
	return first, second
}
