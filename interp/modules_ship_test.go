package interp

import (
	"bytes"
	"context"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	"github.com/govalent/govalent/ct"
)

// withGreet lets cells import example.org/greet, as an evaluator built with the module's symbols does; its Keep
// hands the test what a cell shipped. (Cells that import the module are not type-checked without the module's
// export data, so each cell here that needs the module imports it.)
func withGreet(t *testing.T) *ct.Program {
	kept := new(ct.Program)
	Symbols["example.org/greet/greet"] = map[string]reflect.Value{
		"Hello": reflect.ValueOf(func(n string) string { return "hello, " + n }),
		"Keep":  reflect.ValueOf(func(p ct.Program) { *kept = p }),
	}
	t.Cleanup(func() { delete(Symbols, "example.org/greet/greet") })
	return kept
}

func moduleSession(t *testing.T, dir string) *Session {
	t.Helper()
	var out bytes.Buffer
	s, err := New(Options{Stdout: &out, Stderr: &out, ModuleDir: dir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	return s
}

func writeModule(t *testing.T, dir, gomod, gosum string) {
	t.Helper()
	if err := os.WriteFile(filepath.Join(dir, "go.mod"), []byte(gomod), 0o600); err != nil {
		t.Fatal(err)
	}
	if gosum != "" {
		if err := os.WriteFile(filepath.Join(dir, "go.sum"), []byte(gosum), 0o600); err != nil {
			t.Fatal(err)
		}
	}
}

const greetCell = `import ct "github.com/govalent/govalent/ct"
import "example.org/greet"

func Greet(name string) string { return greet.Hello(name) }

var greetE = ct.Electron(Greet)
var greetWF = ct.Lattice(func(name string) ct.Future { return greetE(name) })
`

// shipCell dispatches workflow wf as far as shipping it, and keeps the program.
func shipCell(wf string) string {
	return `import "example.org/greet"
_, prog, err := ct.BuildGraph(` + wf + `, "go")
if err != nil { panic(err) }
greet.Keep(prog)`
}

func ship(t *testing.T, s *Session, kept *ct.Program, wf string) ct.Program {
	t.Helper()
	*kept = ct.Program{}
	eval(t, s, shipCell(wf))
	return *kept
}

const (
	greetMod12 = "module govalent.session\n\ngo 1.22\n\nrequire example.org/greet v1.2.0\n"
	greetSum12 = "example.org/greet v1.2.0 h1:AAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAAA=\nexample.org/greet v1.2.0/go.mod h1:BBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBBB=\n"
)

// The session's go.mod and go.sum travel with a program that imports a module, read when it ships: a %go get
// between two dispatches changes what the second one carries.
func TestProgramsShipTheSessionsGoModAndGoSum(t *testing.T) {
	kept := withGreet(t)
	dir := t.TempDir()
	writeModule(t, dir, greetMod12, greetSum12)
	s := moduleSession(t, dir)
	eval(t, s, greetCell)
	prog := ship(t, s, kept, "greetWF")
	if prog.GoMod != greetMod12 || prog.GoSum != greetSum12 {
		t.Fatalf("shipped go.mod %q, go.sum %q", prog.GoMod, prog.GoSum)
	}
	if !strings.Contains(prog.Source, `"example.org/greet"`) {
		t.Fatalf("the program should import the module:\n%s", prog.Source)
	}
	upgraded := strings.ReplaceAll(greetMod12, "v1.2.0", "v1.3.0")
	writeModule(t, dir, upgraded, strings.ReplaceAll(greetSum12, "v1.2.0", "v1.3.0"))
	if prog := ship(t, s, kept, "greetWF"); prog.GoMod != upgraded || !strings.Contains(prog.GoSum, "v1.3.0") {
		t.Fatalf("after the upgrade, shipped go.mod %q, go.sum %q", prog.GoMod, prog.GoSum)
	}
}

// A program of the standard library alone ships as it always has, module directory or not.
func TestProgramsWithoutModulesShipNoGoMod(t *testing.T) {
	kept := withGreet(t)
	dir := t.TempDir()
	writeModule(t, dir, greetMod12, greetSum12)
	s := moduleSession(t, dir)
	eval(t, s, greetCell+`
func Twice(n string) string { return n + n }
var twice = ct.Electron(Twice)
var twiceWF = ct.Lattice(func(n string) ct.Future { return twice(n) })`)
	if prog := ship(t, s, kept, "twiceWF"); prog.GoMod != "" || prog.GoSum != "" || strings.Contains(prog.Source, "greet") {
		t.Fatalf("a program without modules shipped %q, %q:\n%s", prog.GoMod, prog.GoSum, prog.Source)
	}
}

// A replace to a directory relative to the session's module is made absolute: the program is built elsewhere.
func TestRelativeReplacementsShipAbsolute(t *testing.T) {
	kept := withGreet(t)
	dir := t.TempDir()
	writeModule(t, dir, greetMod12+"\nreplace example.org/greet => ../greet-local\n", "")
	s := moduleSession(t, dir)
	eval(t, s, greetCell)
	prog := ship(t, s, kept, "greetWF")
	want := "example.org/greet => " + filepath.Join(filepath.Dir(dir), "greet-local")
	if !strings.Contains(prog.GoMod, want) || prog.GoSum != "" {
		t.Fatalf("want %q in the shipped go.mod:\n%s\n(go.sum %q)", want, prog.GoMod, prog.GoSum)
	}
}

// Without a module directory, or without its go.mod, a program importing a module cannot ship: the error
// names the package.
func TestModulesWithoutAGoModAreRefused(t *testing.T) {
	withGreet(t)
	for name, dir := range map[string]string{"no module dir": "", "no go.mod": t.TempDir()} {
		s := moduleSession(t, dir)
		eval(t, s, greetCell)
		_, err := s.Eval(context.Background(), shipCell("greetWF"))
		if err == nil || !strings.Contains(err.Error(), "the electrons import example.org/greet") {
			t.Errorf("%s: got %v", name, err)
		}
	}
}

// A local module's path may lack a dot: the session's go.mod says it is a module, and the program ships it.
func TestLocalModulesShipTheGoMod(t *testing.T) {
	kept := withGreet(t)
	Symbols["mylib/stats/stats"] = map[string]reflect.Value{"Mean": reflect.ValueOf(func(a, b float64) float64 { return (a + b) / 2 })}
	t.Cleanup(func() { delete(Symbols, "mylib/stats/stats") })
	dir := t.TempDir()
	gomod := "module govalent.session\n\ngo 1.22\n\nrequire mylib v0.0.0\n\nreplace mylib => /opt/mylib\n"
	writeModule(t, dir, gomod, "")
	s := moduleSession(t, dir)
	eval(t, s, `import ct "github.com/govalent/govalent/ct"
import "mylib/stats"

func Mean(a, b float64) float64 { return stats.Mean(a, b) }

var meanE = ct.Electron(Mean)
var meanWF = ct.Lattice(func(s string) ct.Future { return meanE(1, 2) })
`)
	if prog := ship(t, s, kept, "meanWF"); prog.GoMod != gomod || !strings.Contains(prog.Source, `"mylib/stats"`) {
		t.Fatalf("shipped go.mod %q:\n%s", prog.GoMod, prog.Source)
	}
}

// A worker that has to interpret a program importing a module says so, instead of the toolchain's message
// about a missing go.mod.
func TestLoadingAProgramWithModulesSaysItNeedsANativeWorker(t *testing.T) {
	s := moduleSession(t, "")
	err := s.LoadProgram(context.Background(), "package main\n\nimport (\n\tgreet \"example.org/greet\"\n)\n\n/*line cell2:1:1*/func Greet(name string) string { return greet.Hello(name) }\n")
	if err == nil || !strings.Contains(err.Error(), "the electrons import example.org/greet, from a Go module, which the interpreter cannot load: they run only as a native worker") {
		t.Fatalf("got %v", err)
	}
}

// A package no module of the session provides is refused with all of the go command's message, on one line.
func TestAnImportNoModuleProvides(t *testing.T) {
	t.Setenv("GOFLAGS", "") // -mod=readonly: the go command does not look the package up
	t.Setenv("GOPROXY", "off")
	dir := t.TempDir()
	writeModule(t, dir, "module govalent.session\n\ngo 1.22\n", "")
	s := moduleSession(t, dir)
	_, err := s.Eval(context.Background(), `import "example.org/nowhere/pkg"
var _ = pkg.X`)
	if err == nil || !strings.Contains(err.Error(), "no required module provides package example.org/nowhere/pkg; to add it: go get example.org/nowhere/pkg") {
		t.Fatalf("got %v", err)
	}
}
