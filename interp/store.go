package interp

import (
	"go/ast"
	"go/parser"
	"go/token"
	"go/types"
	"sort"
)

// decl is one top-level declaration as the user wrote it, kept so that it can be shipped to workers.
type decl struct {
	src       item     // the parsed item, for re-evaluation
	names     []string // declared names; a method is "Type.Method"
	text      string   // source as written (interp rewrites it again wherever it is evaluated)
	cell      string   // where it was written, for line directives
	line, col int
	tok       token.Token // IMPORT, FUNC, TYPE, CONST or VAR
	recv      string      // receiver type of a method
	path      string      // import path
	free      []string    // identifiers it uses that it does not declare
	shippable bool        // false for vars whose initializer may have side effects
	seq       int
}

// declStore maps every top-level name to its latest declaration.
type declStore struct {
	byName  map[string]*decl
	methods map[string]map[string]*decl // receiver type -> method name -> decl
	seq     int
}

func newDeclStore() *declStore {
	return &declStore{byName: map[string]*decl{}, methods: map[string]map[string]*decl{}}
}

// add records d, replacing every declaration it redefines. It returns the replaced declarations whose text
// changed.
func (s *declStore) add(d *decl) (changed []*decl) {
	s.seq++
	d.seq = s.seq
	if d.recv != "" {
		ms := s.methods[d.recv]
		if ms == nil {
			ms = map[string]*decl{}
			s.methods[d.recv] = ms
		}
		if old := ms[d.names[0]]; old != nil && old.text != d.text {
			changed = append(changed, old)
		}
		ms[d.names[0]] = d
		return changed
	}
	for _, n := range d.names {
		if old := s.byName[n]; old != nil {
			if old.text != d.text {
				changed = append(changed, old)
			}
			for _, on := range old.names {
				if s.byName[on] == old {
					delete(s.byName, on)
				}
			}
		}
	}
	for _, n := range d.names {
		s.byName[n] = d
	}
	return changed
}

// forget removes a name that a statement has since defined as a runtime variable.
func (s *declStore) forget(name string) { delete(s.byName, name) }

// clone copies the store's maps (declarations are never mutated) so a failed evaluation can be undone.
func (s *declStore) clone() *declStore {
	c := &declStore{byName: map[string]*decl{}, methods: map[string]map[string]*decl{}, seq: s.seq}
	for k, v := range s.byName {
		c.byName[k] = v
	}
	for t, ms := range s.methods {
		c.methods[t] = map[string]*decl{}
		for k, v := range ms {
			c.methods[t][k] = v
		}
	}
	return c
}

// all returns every live declaration in the order it was made, imports first.
func (s *declStore) all() []*decl {
	seen := map[*decl]bool{}
	var out []*decl
	for _, d := range s.byName {
		if !seen[d] {
			seen[d] = true
			out = append(out, d)
		}
	}
	for _, ms := range s.methods {
		for _, d := range ms {
			out = append(out, d)
		}
	}
	sort.Slice(out, func(i, j int) bool {
		if (out[i].tok == token.IMPORT) != (out[j].tok == token.IMPORT) {
			return out[i].tok == token.IMPORT
		}
		return out[i].seq < out[j].seq
	})
	return out
}

// importPathOf returns the path imported under name, if any.
func (s *declStore) importPathOf(name string) (string, bool) {
	if d := s.byName[name]; d != nil && d.tok == token.IMPORT {
		return d.path, true
	}
	return "", false
}

// freeIdents lists the identifiers node uses without declaring them, leaving out Go's predeclared ones.
func freeIdents(f *ast.File) []string {
	seen := map[string]bool{}
	var out []string
	for _, id := range f.Unresolved {
		if seen[id.Name] || id.Name == "_" || types.Universe.Lookup(id.Name) != nil {
			continue
		}
		seen[id.Name] = true
		out = append(out, id.Name)
	}
	return out
}

// parseFree parses src (declarations without a package clause) and returns its free identifiers.
func parseFree(src string) ([]string, error) {
	f, err := parser.ParseFile(token.NewFileSet(), "", "package p;"+src, 0)
	if err != nil {
		return nil, err
	}
	return freeIdents(f), nil
}

// pureCalls are functions a package-level var may call and still be shipped: they have no side effects.
var pureCalls = map[string]bool{
	"len": true, "cap": true, "make": true, "new": true, "append": true, "complex": true, "real": true,
	"imag": true, "min": true, "max": true,
	"errors.New": true, "fmt.Sprintf": true, "fmt.Sprint": true, "fmt.Errorf": true,
	"regexp.MustCompile": true, "strings.Repeat": true, "strings.Join": true, "strings.Split": true,
	"time.Duration": true, "math.Sqrt": true, "math.Pow": true,
}

// sdkBuilders are the SDK functions that only describe a workflow; ct.Dispatch and friends are not among them.
var sdkBuilders = map[string]bool{
	"Electron": true, "Lattice": true, "Executor": true, "Queue": true, "Name": true, "Retries": true,
	"TimeLimit": true, "Ship": true,
}

// varIsShippable reports whether a var declaration can be re-run on a worker: its initializers call nothing but
// conversions, pure builtins, and the ct SDK (func literals are not called, so their bodies do not count).
func varIsShippable(gd *ast.GenDecl, isType func(string) bool, isSDK func(string) bool) bool {
	ok := true
	for _, spec := range gd.Specs {
		vs := spec.(*ast.ValueSpec)
		for _, v := range vs.Values {
			ast.Inspect(v, func(n ast.Node) bool {
				switch x := n.(type) {
				case *ast.FuncLit:
					return false
				case *ast.CallExpr:
					switch fun := x.Fun.(type) {
					case *ast.Ident:
						if !pureCalls[fun.Name] && !isType(fun.Name) && types.Universe.Lookup(fun.Name) == nil {
							ok = false
						}
					case *ast.SelectorExpr:
						pkg, isIdent := fun.X.(*ast.Ident)
						if !isIdent || !(isSDK(pkg.Name) && sdkBuilders[fun.Sel.Name] || pureCalls[pkg.Name+"."+fun.Sel.Name]) {
							ok = false
						}
					case *ast.ArrayType, *ast.MapType, *ast.ParenExpr, *ast.FuncType, *ast.InterfaceType:
					default:
						ok = false
					}
				}
				return ok
			})
		}
	}
	return ok
}
