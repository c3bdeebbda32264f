package main

import (
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// A program written as Go is written runs as Go runs it: its main's statements as the body of one function (a
// comma-ok at their top level, a define of several values inside a loop, a dispatch in a loop, a defer),
// newer Go rewritten, and os.Exit's status is the process's.
const goLikeProgram = `package main

import (
	"fmt"
	"os"
	"strings"

	"github.com/govalent/govalent/ct"
)

func Square(x int) int { return x * x }

var square = ct.Electron(Square)
var wf = ct.Lattice(func(n int) ct.Future { return square(n) })

func main() {
	defer fmt.Println("deferred, not run by os.Exit in Go, run here")
	m := map[string]int{"a": 1}
	v, ok := m["a"]
	var x any = []any{1}
	xs, isSlice := x.([]any)
	ch := make(chan int, 1)
	ch <- 2
	r, open := <-ch
	fmt.Println(v, ok, len(xs), isSlice, r, open)
	rd := strings.NewReader("ab")
	for {
		b, err := rd.ReadByte()
		if err != nil {
			break
		}
		fmt.Print(string(b))
	}
	fmt.Println()
	for n := range 3 {
		res, err := ct.DispatchSync(wf, n)
		if err != nil {
			fmt.Println("dispatch:", err)
			os.Exit(1)
		}
		fmt.Println("square", n, res.Result, min(n, 1))
	}
	close(ch)
	os.Exit(3)
}
`

func TestRunProgramsAsGoRunsThem(t *testing.T) {
	file := filepath.Join(t.TempDir(), "golike.go")
	os.WriteFile(file, []byte(goLikeProgram), 0o644)
	out, err := govalent(t, nil, "run", "--embedded", file)
	want := "1 true 1 true 2 true\nab\nsquare 0 0 0\nsquare 1 1 1\nsquare 2 4 1\n"
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 3 || !strings.Contains(out, want) {
		t.Fatalf("want exit status 3 and\n%s\ngot err %v, output:\n%s", want, err, out)
	}
	if strings.Contains(out, "nil type") || strings.Contains(out, "panic") {
		t.Fatalf("internals reached the output:\n%s", out)
	}
}

// Without a working Go toolchain cells are not type-checked but still run, and the user is told why, once.
func TestRunWithoutAGoToolchain(t *testing.T) {
	file := filepath.Join(t.TempDir(), "plain.go")
	os.WriteFile(file, []byte("import \"fmt\"\nx := 2\nfmt.Println(\"x is\", x)\nfmt.Println(\"twice\", 2*x)\n"), 0o644)
	out, err := govalent(t, []string{"PATH=" + t.TempDir()}, "run", file)
	if err != nil || !strings.Contains(out, "x is 2\ntwice 4\n") || strings.Count(out, "no Go toolchain") != 1 {
		t.Fatalf("err %v, output:\n%s", err, out)
	}
	// a toolchain that fails (here: one that would have to be downloaded) is the same
	out, err = govalent(t, []string{"GOTOOLCHAIN=go1.99.0", "GOPROXY=off"}, "run", file)
	if err != nil || !strings.Contains(out, "x is 2\ntwice 4\n") || strings.Count(out, "the Go toolchain failed") != 1 {
		t.Fatalf("err %v, output:\n%s", err, out)
	}
}

// A script's top-level return ends it, and a declared struct prints with Go's names; unchecked (no toolchain),
// a return the interpreter cannot run is a clear error, not a crash.
func TestRunScriptWithReturnAndDeclaredTypes(t *testing.T) {
	file := filepath.Join(t.TempDir(), "script.go")
	os.WriteFile(file, []byte("import \"fmt\"\ntype pt struct{ x, y int }\np := pt{1, 2}\nfmt.Printf(\"%T %+v %#v\\n\", p, p, &p)\nif p.x == 1 {\n\treturn\n}\nfmt.Println(\"not reached\")\n"), 0o644)
	out, err := govalent(t, nil, "run", file)
	if err != nil || !strings.Contains(out, "main.pt {x:1 y:2} &main.pt{x:1, y:2}\n") || strings.Contains(out, "not reached") {
		t.Fatalf("err %v, output:\n%s", err, out)
	}
	out, err = govalent(t, []string{"PATH=" + t.TempDir()}, "run", file)
	if ee, ok := err.(*exec.ExitError); !ok || ee.ExitCode() != 1 || !strings.Contains(out, "6:2: a return inside a top-level statement needs the type check, which is off here") {
		t.Fatalf("unchecked: err %v, output:\n%s", err, out)
	}
}
