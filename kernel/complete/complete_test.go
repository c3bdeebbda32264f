package complete

import (
	"context"
	"io"
	"slices"
	"strings"
	"testing"
	"unicode/utf8"

	"github.com/govalent/govalent/interp"
)

const setup = `import "strings"
type Box struct { W, h int; strings.Builder }
func (b Box) Area() int { return b.W * b.h }
func (b *Box) Grow() { b.W++ }
// Hello greets name.
func Hello(name string) string { return "hi " + name }
var (
	g1 = 1
	// g2 is a string.
	g2 = "x"
)
var sb strings.Builder
b := Box{W: 2}
pb := &Box{}
n := 3
`

func newSession(t *testing.T) *interp.Session {
	t.Helper()
	s, err := interp.New(interp.Options{Stdout: io.Discard, Stderr: io.Discard})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	if _, err := s.Eval(context.Background(), setup); err != nil {
		t.Fatal(err)
	}
	return s
}

// at splits code at "|", the cursor, and returns the code and the cursor in code points.
func at(code string) (string, int) {
	before, after, ok := strings.Cut(code, "|")
	if !ok {
		return code, utf8.RuneCountInString(code)
	}
	return before + after, utf8.RuneCountInString(before)
}

func TestComplete(t *testing.T) {
	s := newSession(t)
	tests := []struct {
		code       string // "|" marks the cursor, else it is at the end
		want, not  []string
		start, end int // in code points
	}{
		{code: "fm", want: []string{"fmt"}, start: 0, end: 2}, // not imported yet
		{code: "strings.Rep", want: []string{"strings.Repeat", "strings.Replace"}, not: []string{"strings.Builder"}, end: 11},
		{code: "ct.Disp", want: []string{"ct.Dispatch", "ct.DispatchSync", "ct.DispatcherURL"}, end: 7},
		{code: "bytes.Buf", want: []string{"bytes.Buffer"}, end: 9}, // not imported
		{code: "Box.", want: []string{"Box.Area", "Box.Grow", "Box.W", "Box.h", "Box.Builder"}, end: 4},
		{code: "b.A", want: []string{"b.Area"}, not: []string{"b.W"}, end: 3}, // a statement var of a session type
		{code: "pb.G", want: []string{"pb.Grow"}, end: 4},
		{code: "sb.WriteS", want: []string{"sb.WriteString"}, end: 9}, // pointer methods of a compiled type
		{code: "Hel", want: []string{"Hello"}, end: 3},
		{code: "Bo", want: []string{"Box"}, not: []string{"Box.Area"}, end: 2},
		{code: "g", want: []string{"g1", "g2", "go", "goto"}, end: 1},
		{code: "le", want: []string{"len"}, end: 2},
		{code: "x := strings.Rep|(1)", want: []string{"strings.Repeat"}, start: 5, end: 16},
		{code: "x := fmt.Sprint(n, h|)", want: []string{"hex"}, start: 19, end: 20},
		// code points, not bytes: é and 😀 are one code point each but two and four bytes
		{code: `s := "héllo 😀"; strings.Rep`, want: []string{"strings.Repeat"}, start: 16, end: 27},
		{code: `s := "😀" + f| + "é"`, want: []string{"fmt"}, start: 11, end: 12},
		{code: `x := "fm`, start: 8, end: 8},       // in a string
		{code: "x := 1 // fm", start: 12, end: 12}, // in a comment
		{code: "x := 1.", start: 7, end: 7},        // a number
		{code: "os.Stdout.Wr", start: 12, end: 12}, // chained selectors are not resolved
	}
	for _, tt := range tests {
		code, cursor := at(tt.code)
		got, start, end := Complete(s, code, cursor)
		if start != tt.start || end != tt.end {
			t.Errorf("Complete(%q) range = [%d, %d), want [%d, %d)", tt.code, start, end, tt.start, tt.end)
		}
		if got == nil {
			t.Errorf("Complete(%q) = nil, want a list", tt.code)
		}
		for _, w := range tt.want {
			if !slices.Contains(got, w) {
				t.Errorf("Complete(%q) = %q, missing %q", tt.code, got, w)
			}
		}
		for _, w := range tt.not {
			if slices.Contains(got, w) {
				t.Errorf("Complete(%q) = %q, should not have %q", tt.code, got, w)
			}
		}
		if tt.want == nil && len(got) > 0 {
			t.Errorf("Complete(%q) = %q, want none", tt.code, got)
		}
	}
}

func TestCompleteOrder(t *testing.T) {
	s := newSession(t)
	got, _, _ := Complete(s, "strings.Re", 10)
	if !slices.IsSorted(got) || len(slices.Compact(slices.Clone(got))) != len(got) {
		t.Errorf("matches not sorted and unique: %q", got)
	}
	// case-sensitive matches first, then case-insensitive ones
	got, _, _ = Complete(s, "bo", 2)
	if i, j := slices.Index(got, "bool"), slices.Index(got, "Box"); i < 0 || j < 0 || i > j {
		t.Errorf(`Complete("bo") = %q, want bool before Box`, got)
	}
	// a cursor past the end is the end
	if got, start, end := Complete(s, "fm", 99); !slices.Contains(got, "fmt") || start != 0 || end != 2 {
		t.Errorf(`Complete("fm", 99) = %q, %d, %d`, got, start, end)
	}
	// without a session: keywords, predeclared names and packages still complete
	if got, _, _ := Complete(nil, "strings.Rep", 11); !slices.Contains(got, "strings.Repeat") {
		t.Errorf("Complete(nil session) = %q", got)
	}
}

func TestInspect(t *testing.T) {
	s := newSession(t)
	tests := []struct {
		code string // "|" marks the cursor, else it is at the end
		want []string
	}{
		{"fmt.Println", []string{"func fmt.Println("}},
		{"strings.Rep|eat", []string{"func strings.Repeat("}},
		{`strings.Repeat("é", |`, []string{"func strings.Repeat("}}, // inside the call
		{`x := strings.Repeat(n|`, []string{"var n int"}},           // the argument, not the call
		{"ct.Dispatch", []string{"func ct.Dispatch("}},
		{"ct.DefaultDispatcher", []string{"const ct.DefaultDispatcher = "}},
		{"ct.Client", []string{"type ct.Client struct", "Dispatch("}},
		{"Hello", []string{"func Hello(name string) string\n\nHello greets name."}}, // the user's doc comment
		{"Box.Area", []string{"func (b Box) Area() int"}},
		{"b.Grow", []string{"func (b *Box) Grow()"}},
		{"b.W", []string{"field Box.W int"}},
		{"Box", []string{"type Box struct"}},
		{"b", []string{"var b Box"}},
		{"pb", []string{"var pb *Box"}},
		{"n", []string{"var n int"}},
		{"g2", []string{`var g2 = "x"`, "g2 is a string."}},
		{"sb.WriteString", []string{"WriteString(string) (int, error)"}},
		{"strings", []string{`package strings // import "strings"`}},
		{"len", []string{"len"}},
		// the cursor counts code points: in bytes it would land past Println
		{`s := "日本語"; fmt.Pri|ntln(s)`, []string{"func fmt.Println("}},
	}
	for _, tt := range tests {
		code, cursor := at(tt.code)
		found, text := Inspect(s, code, cursor)
		if !found {
			t.Errorf("Inspect(%q) found nothing", tt.code)
			continue
		}
		for _, w := range tt.want {
			if !strings.Contains(text, w) {
				t.Errorf("Inspect(%q) = %q, want it to contain %q", tt.code, text, w)
			}
		}
	}
	for _, code := range []string{"", "nosuch", "for", "x := 1 + ", "strings.NoSuch"} {
		if found, text := Inspect(s, code, utf8.RuneCountInString(code)); found || text != "" {
			t.Errorf("Inspect(%q) = %v, %q, want nothing", code, found, text)
		}
	}
	if found, text := Inspect(s, "Hello", 5); found && strings.Contains(text, "return") {
		t.Errorf("Inspect(Hello) shows the body: %q", text)
	}
}

// TestInspectDoc needs the standard library's source, which a Go installation has.
func TestInspectDoc(t *testing.T) {
	if goDoc("strings") == nil {
		t.Skip("no standard library source in GOROOT")
	}
	found, text := Inspect(nil, "strings.Repeat", 14)
	want := "func strings.Repeat(s string, count int) string\n\nRepeat returns a new string consisting of count copies of the string s."
	if !found || !strings.HasPrefix(text, want) {
		t.Errorf("Inspect(strings.Repeat) = %q, want it to start with %q", text, want)
	}
	if _, text := Inspect(nil, "strings.Builder", 15); !strings.Contains(text, "type strings.Builder struct {\n\t// contains filtered or unexported fields\n}") {
		t.Errorf("Inspect(strings.Builder) = %q", text)
	}
	if _, text := Inspect(nil, "strings.NewReader", 17); !strings.HasPrefix(text, "func strings.NewReader(s string) *Reader") {
		t.Errorf("Inspect(strings.NewReader) = %q", text) // a constructor go/doc files under its type
	}
	if _, text := Inspect(nil, "math.Pi", 7); !strings.HasPrefix(text, "const math.Pi = 3.14159") {
		t.Errorf("Inspect(math.Pi) = %q", text)
	}
}

// The SDK's doc comments come from the source embedded in the binary: no checkout or GOROOT needed.
func TestInspectDocOfTheSDK(t *testing.T) {
	s := newSession(t)
	for code, want := range map[string]string{
		"ct.Dispatch":   "func ct.Dispatch(wf *Workflow, args ...any) (string, error)\n\nDispatch builds the workflow's graph",
		"ct.Electron(|": "func ct.Electron(fn any, opts ...Option) ElectronFunc\n\nElectron turns fn into a task.",
		"display.HTML":  "func display.HTML(s string)\n\nHTML displays an HTML fragment.",
	} {
		code, cursor := at(code)
		if found, text := Inspect(s, code, cursor); !found || !strings.HasPrefix(text, want) {
			t.Errorf("Inspect(%q) = %q, want it to start with %q", code, text, want)
		}
	}
}

func TestIsComplete(t *testing.T) {
	tests := []struct {
		code, status, indent string
	}{
		{"", "complete", ""},
		{`fmt.Println("hi")`, "complete", ""},
		{"x := 1", "complete", ""},
		{"func f() {}", "complete", ""},
		{"type T struct {\n\tA int\n}\nx := T{}", "complete", ""},
		{"x++", "complete", ""},
		{"x := 1 // and +", "complete", ""},
		{"func f() {", "incomplete", "\t"},
		{"for i := 0; i < 3; i++ {", "incomplete", "\t"},
		{"x := []int{1,", "incomplete", "\t"},
		{"if x {\n\tfor {", "incomplete", "\t\t"},
		{"f(g(", "incomplete", "\t"}, // brackets opened on one line indent once
		{"x := 1 +", "incomplete", "\t"},
		{"x := a.", "incomplete", "\t"},
		{"import", "incomplete", ""},
		{"x := `raw\n", "incomplete", ""},
		{"/* comment", "incomplete", ""},
		{"}", "invalid", ""},
		{"x := )", "invalid", ""},
		{"func f() { ) }", "invalid", ""},
		{"x := [}", "invalid", ""},
		{`x := "abc`, "invalid", ""}, // an interpreted string cannot continue on the next line
		{"x := #", "invalid", ""},
	}
	for _, tt := range tests {
		status, indent := IsComplete(tt.code)
		if status != tt.status || indent != tt.indent {
			t.Errorf("IsComplete(%q) = %q, %q, want %q, %q", tt.code, status, indent, tt.status, tt.indent)
		}
	}
}
