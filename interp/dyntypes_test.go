package interp

import "testing"

// The expected outputs are what `go run` prints for the same program written as a file.

const dynTypesDecls = `import ("fmt"; "reflect")
type rect struct{ w, h float64 }
type shape interface{ Area() float64 }
func (r rect) Area() float64 { return r.w * r.h }
type pt struct{ X, y int }`

// A cell's types held in interfaces print with Go's names: %T, %v, %+v, %#v, and reflect.Type's Name and
// String, also of a reflect.Type kept in a variable.
func TestCellTypesInInterfacesPrintAsGoPrintsThem(t *testing.T) {
	expectCells(t, []string{
		dynTypesDecls,
		`var s shape = rect{2, 3}
fmt.Printf("%T %v %+v\n", s, s, s)
var a any = rect{1, 2}
fmt.Printf("%T|%#v|%10T|\n", a, a, any(&pt{1, 2}))
fmt.Println([]any{rect{1, 2}, 3, "x", nil})
fmt.Printf("%+v %#v\n", []any{rect{1, 2}, pt{3, 4}}, map[string]any{"p": pt{5, 6}})
t := reflect.TypeOf(a)
fmt.Println(t.Name(), t, reflect.TypeOf(s).String(), reflect.TypeOf([]any{a}[0]))
var ps any = []*pt{}
fmt.Printf("%T %T %T\n", ps, any(map[string]rect{}), any(nil))`,
	}, []string{"", "main.rect {2 3} {w:2 h:3}\n" +
		"main.rect|main.rect{w:1, h:2}|  *main.pt|\n" +
		"[{1 2} 3 x <nil>]\n" +
		"[{w:1 h:2} {X:3 y:4}] map[string]interface {}{\"p\":main.pt{X:5, y:6}}\n" +
		"rect main.rect main.rect main.rect\n" +
		"[]*main.pt map[string]main.rect <nil>\n"})
}

// A type redefined in a later cell gets a new reflect type, which is looked up by its new declaration.
func TestRedefinedCellTypesInInterfaces(t *testing.T) {
	expectCells(t, []string{
		"import \"fmt\"\ntype P struct{ A, b int }",
		"v := any(P{1, 2})\nfmt.Printf(\"%T %+v\\n\", v, v)",
		"type P struct{ A, b, c int }",
		"w := any(P{1, 2, 3})\nfmt.Printf(\"%T %+v\\n\", w, w)",
	}, []string{"", "main.P {A:1 b:2}\n", "", "main.P {A:1 b:2 c:3}\n"})
}

// What the interpreter cannot tell apart at run time is refused, naming the cell and line: two types of one
// structure (yaegi gives them one reflect type), a type declared inside a function, and a String method fmt
// would call on a value inside another in an interface (the interpreter loses it).
func TestCellTypesInInterfacesTheInterpreterCannotTellAreRefused(t *testing.T) {
	expectCells(t, []string{
		"import \"fmt\"\ntype A struct{ x int }\ntype B struct{ x int }\ntype C float64\ntype N struct{ n int }\nfunc (n N) String() string { return \"N!\" }",
		"var a any = A{1}\nfmt.Println(\"ok\")\nfmt.Printf(\"%T\\n\", a)",
		"func() {\n\ttype L struct{ l int }\n\tvar l any = L{1}\n\tfmt.Printf(\"%T\\n\", l)\n}()",
		"fmt.Println([]any{N{1}})",
		"fmt.Printf(\"%+v %v\\n\", a, []any{C(2)})",
		"type S struct{ s int }\nfunc (s *S) String() string { return \"S!\" }\nfmt.Println([]any{&S{1}})",
	}, []string{"",
		"ok\nerror: cell2:3:20: the interpreter cannot tell which of main.A, main.B this value is (it gives them one type): print it where its static type is known, or give the types different structures",
		"error: cell3:4:21: the interpreter does not know the name of the type of this value (struct { Xl int \"json:\\\"-\\\" xml:\\\"-\\\"\" }), declared inside a function: declare it at the top level of a cell",
		"error: cell4:1:13: fmt would not call the String method of main.N in this value (the interpreter loses it): call it yourself",
		"{x:1} [2]\n",
		"error: cell6:3:13: fmt would not call the String method of main.S in this value (the interpreter loses it): call it yourself"})
}

// A value of a cell's type with a String method, held in an empty interface, prints through its method, as
// in Go: a named basic type, a struct, a pointer, a type of a later cell, and where a local shadows another.
func TestPrintMethodsOfValuesInInterfaces(t *testing.T) {
	expectCells(t, []string{
		`import "fmt"
type Celsius float64
func (c Celsius) String() string { return fmt.Sprintf("%.1f°C", float64(c)) }
type P struct{ x int }
func (p *P) String() string { return fmt.Sprint("P", p.x) }
type plain float64`,
		`var x any = Celsius(3)
var p any = &P{4}
var q any = plain(2)
fmt.Println(x, p, q)
fmt.Printf("%v|%s|%q\n", x, p, x)`,
		`type Later int
func (l Later) String() string { return "later" }
var l any = Later(1)
fmt.Println(l)
func() {
	P := 7
	fmt.Println(l, P)
}()`,
	}, []string{"", "3.0°C P4 2\n3.0°C|P4|\"3.0°C\"\n", "later\nlater 7\n"})
}

// Arguments spread from a slice (fmt.Println(args...)) print as Go prints them, each with its dynamic type.
func TestSpreadArgumentsPrintAsGoPrintsThem(t *testing.T) {
	expectCells(t, []string{
		dynTypesDecls + "\nimport \"strings\"",
		`args := []any{pt{1, 2}, "s", 3, rect{1, 2}}
fmt.Println(args...)
fmt.Printf("%v %v %v %+v\n", args...)
fmt.Print(fmt.Sprint(args...), "\n")
var b strings.Builder
fmt.Fprintln(&b, args...)
fmt.Print(b.String())
words := []any{"a", "b"}
fmt.Println(words...)`,
	}, []string{"", "{1 2} s 3 {1 2}\n{1 2} s 3 {w:1 h:2}\n{1 2}s3 {1 2}\n{1 2} s 3 {1 2}\na b\n"})
}

// Values of a cell's interface type inside slices, maps and structs print as their dynamic values, as in Go
// (yaegi holds them in a struct of its own, which fmt printed as pointers).
func TestCellInterfacesInsideValuesPrintTheirDynamicValues(t *testing.T) {
	expectCells(t, []string{
		`import "fmt"
type Shape interface{ Area() float64 }
type Sq struct{ S float64 }
func (s Sq) Area() float64 { return s.S * s.S }
type circle struct{ r float64 }
func (c *circle) Area() float64 { return 3 * c.r * c.r }
type Holder struct {
	Name string
	Sh   Shape
}`,
		`shapes := []Shape{Sq{1}, Sq{2}, nil}
fmt.Println(shapes)
fmt.Printf("%v %+v %s\n", shapes, shapes, []Shape{Sq{3}})
fmt.Println(map[string]Shape{"a": Sq{3}}, Holder{"h", Sq{4}})
fmt.Printf("%+v\n", Holder{"h", Sq{4}})
fmt.Println(fmt.Sprint([]Shape{&circle{1}})[:3])`,
	}, []string{"", "[{1} {2} <nil>]\n[{1} {2} <nil>] [{S:1} {S:2} <nil>] [{%!s(float64=3)}]\nmap[a:{3}] {h {4}}\n{Name:h Sh:{S:4}}\n[0x\n"})
}

// Type switches are yaegi's own, which gets these right: cases of types holding interfaces (walking decoded
// JSON), of generic types, and a switch on a value of an interface type the cells declare.
func TestTypeSwitchesOnValuesHoldingInterfaces(t *testing.T) {
	expectCells(t, []string{
		`import ("encoding/json"; "fmt")
type Expr interface{}
type Num int
type Box[T any] struct{ V T }
func walk(x any) string {
	switch v := x.(type) {
	case map[string]any:
		return fmt.Sprint("object ", len(v))
	case []any:
		return fmt.Sprint("array ", len(v))
	case Num:
		return "Num"
	}
	return "other"
}
func classify(x any) string {
	switch v := x.(type) {
	case Box[int]:
		return fmt.Sprint("Box[int] ", v.V+1)
	case Num:
		return "Num"
	}
	return "other"
}`,
		`var doc any
json.Unmarshal([]byte(` + "`" + `{"a":[1,2]}` + "`" + `), &doc)
var e Expr = Num(1)
switch v := e.(type) {
case Num:
	fmt.Println("expr", int(v))
default:
	fmt.Println("default")
}
fmt.Println(walk(doc), walk(doc.(map[string]any)["a"]), walk(Num(2)), classify(Box[int]{1}))`,
	}, []string{"", "expr 1\nobject 1 array 2 Num Box[int] 2\n"})
}

// Values spread into fmt from a slice print through their String methods, and values of a cell's interface
// type nested in others print as their dynamic values.
func TestSpreadStringersAndNestedInterfaceValues(t *testing.T) {
	expectCells(t, []string{
		`import "fmt"
type Color int
func (c Color) String() string { return "C" + fmt.Sprint(int(c)) }
func show(args ...any) { fmt.Println(args...) }
type Step interface{ Run() }
type Shell struct {
	Cmd  string
	Next Step
}
func (Shell) Run() {}`,
		`show(Color(1), 2)
s := Shell{"a", Shell{"b", nil}}
fmt.Println(s, []Step{s})
fmt.Printf("%+v\n", s)`,
	}, []string{"", "C1 2\n{a {b <nil>}} [{a {b <nil>}}]\n{Cmd:a Next:{Cmd:b Next:<nil>}}\n"})
}

// Where a wrapper cannot go (a cell's shown value, which has its own; a deferred call's arguments, copied
// before the defer), the cell still compiles and runs; a format spread from a slice keeps its verbs' meaning.
func TestWrappersStayOutOfShownValuesAndDeferredArguments(t *testing.T) {
	expectCells(t, []string{
		`import "fmt"
type Shape interface{ Area() float64 }
type Sq struct{ S float64 }
func (s Sq) Area() float64 { return s.S }
type Level int
func (l Level) String() string { return "L" }
func logf(format string, args ...any) { fmt.Printf(format, args...) }
var a, b Shape = Sq{1}, Sq{1}`,
		"a != nil",
		`var x any = Sq{2}
func() {
	defer fmt.Println("deferred", x)
}()
logf("%d|%T\n", Level(2), 3)`,
	}, []string{"", "=> true", "deferred {2}\n2|int\n"})
}
