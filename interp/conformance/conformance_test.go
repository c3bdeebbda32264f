package conformance

import (
	"context"
	"errors"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"testing"
	"time"
)

// childTimeout is generous: the regression test must not fail on a loaded machine for a program that passes.
const childTimeout = 30 * time.Second

var (
	childOnce sync.Once
	childBin  string
	childErr  error
)

// buildChild builds the gotest-conformance command (without -race, whatever the test runs with, so that the
// programs run as in the recorded baseline) once per test binary.
func buildChild(t *testing.T) *Runner {
	t.Helper()
	childOnce.Do(func() {
		dir, err := os.MkdirTemp("", "conformance-child-")
		if err != nil {
			childErr = err
			return
		}
		childBin = filepath.Join(dir, "gotest-conformance")
		out, err := exec.Command("go", "build", "-o", childBin, "./cmd/gotest-conformance").CombinedOutput()
		if err != nil {
			childErr = errors.New("go build ./cmd/gotest-conformance: " + err.Error() + "\n" + string(out))
		}
	})
	if childErr != nil {
		t.Fatal(childErr)
	}
	return &Runner{Child: []string{childBin}, Timeout: childTimeout}
}

func TestMain(m *testing.M) {
	code := m.Run()
	if childBin != "" {
		os.RemoveAll(filepath.Dir(childBin))
	}
	os.Exit(code)
}

// TestSampleNotWorse runs a fixed sample of Go's test programs in both modes and fails when one that passed in
// the recorded baseline no longer does. Programs that now pass where the baseline says fail are logged: record
// them with `go run ./interp/conformance/cmd/gotest-conformance -write`.
func TestSampleNotWorse(t *testing.T) {
	goroot, err := GoEnv("GOROOT")
	if err != nil {
		t.Fatal(err)
	}
	progs, _, err := Select(filepath.Join(goroot, "test"))
	if err != nil {
		t.Fatal(err)
	}
	f, err := os.Open("results.tsv")
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	recorded, err := ReadBaseline(f)
	if err != nil {
		t.Fatal(err)
	}
	byName := map[string]Program{}
	var names []string
	for _, p := range progs {
		byName[p.Name] = p
		names = append(names, p.Name)
	}
	r := buildChild(t)
	for _, name := range Sample(names, SampleSize) {
		p := byName[name]
		want, ok := recorded[name]
		if !ok || want.SHA256 != p.SHA256 {
			t.Fatalf("%s is not in results.tsv as it is in %s: the results were recorded with other Go test files; record them again with this Go: go run ./interp/conformance/cmd/gotest-conformance -write", name, p.Path)
		}
		t.Run(strings.TrimSuffix(name, ".go"), func(t *testing.T) {
			t.Parallel() // bounded by -parallel, GOMAXPROCS by default
			for _, m := range []struct {
				mode Mode
				want Outcome
			}{{FileMode, want.File}, {CellMode, want.Cell}} {
				if m.want.Status == Fail && strings.HasPrefix(m.want.Reason, "timeout") {
					continue // it would only spend its time limit; a full run with -write notices when it passes
				}
				got := r.Run(context.Background(), p, m.mode)
				switch {
				case m.want.Status == Pass && got.Status != Pass:
					t.Errorf("%s mode: passed in results.tsv, now %s: %s", m.mode, got.Status, got.Reason)
				case m.want.Status != Pass && got.Status == Pass:
					t.Logf("%s mode: now passes (results.tsv says %s): record it with -write", m.mode, m.want.Status)
				}
			}
		})
	}
}

func TestSampleIsSpreadAndFixed(t *testing.T) {
	names := make([]string, 100)
	for i := range names {
		names[i] = string(rune('a'+i/26)) + string(rune('a'+i%26))
	}
	got := Sample(names, 4)
	if want := []string{"aa", "az", "by", "cx"}; strings.Join(got, " ") != strings.Join(want, " ") {
		t.Errorf("Sample(100 names, 4) = %v, want %v", got, want)
	}
	if got := Sample(names[:3], 4); len(got) != 3 {
		t.Errorf("Sample of 3 names, 4 = %v, want all 3", got)
	}
}

func writeFiles(t *testing.T, files map[string]string) string {
	t.Helper()
	dir := t.TempDir()
	for name, text := range files {
		if err := os.WriteFile(filepath.Join(dir, name), []byte(text), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	return dir
}

func TestSelectFollowsTestdirRecipes(t *testing.T) {
	dir := writeFiles(t, map[string]string{
		"plain.go":       "// run\n\npackage main\n\nfunc main() {}\n",
		"without.go":     "// run\n\npackage main\n\nfunc main() { println(1) }\n",
		"without.out":    "1\n",
		"constrained.go": "//go:build ignore_me_everywhere\n\n// run\n\npackage main\n\nfunc main() {}\n",
		"built.go":       "//go:build " + "gc\n\n// run\n\npackage main\n\nfunc main() {}\n",
		"args.go":        "// run -gcflags=-l\n\npackage main\n\nfunc main() {}\n",
		"runoutput.go":   "// runoutput\n\npackage main\n\nfunc main() {}\n",
		"errorcheck.go":  "// errorcheck\n\npackage main\n",
	})
	progs, skipped, err := Select(dir)
	if err != nil {
		t.Fatal(err)
	}
	var got []string
	for _, p := range progs {
		got = append(got, p.Name+"="+string(p.Want))
	}
	if want := "built.go= plain.go= without.go=1\n"; strings.Join(got, " ") != want {
		t.Errorf("selected %q, want %q", strings.Join(got, " "), want)
	}
	if len(skipped) != 2 || skipped[0] != (Skipped{"args.go", skipArgs}) || skipped[1] != (Skipped{"constrained.go", skipConstraint}) {
		t.Errorf("skipped %v, want args.go (arguments) and constrained.go (constraint)", skipped)
	}
	if _, _, err := Select(t.TempDir()); err == nil {
		t.Error("Select of a directory without Go files: no error")
	}
}

const cellProgram = `// run

// Package comment.
package main

import "fmt"

var x = 1

// main's doc
func main() {
	a := x; b := 2
	fmt.Println(a, b)
	return
}

func init() { x++ }

type T int
`

func TestCellsSplitsLikeANotebook(t *testing.T) {
	cells, err := Cells("p.go", []byte(cellProgram))
	if err != nil {
		t.Fatal(err)
	}
	if len(cells) != 3 {
		t.Fatalf("%d cells, want 3: declarations, init, main", len(cells))
	}
	for i, want := range []string{`import "fmt" var x = 1 type T int`, `{ x++ }`, `a := x; b := 2 fmt.Println(a, b) return`} {
		if got := strings.Join(strings.Fields(cells[i]), " "); got != want {
			t.Errorf("cell %d: %q, want %q", i+1, got, want)
		}
	}
	for i, c := range cells {
		if strings.Count(c, "\n") != strings.Count(cellProgram, "\n") {
			t.Errorf("cell %d does not keep the file's lines:\n%s", i+1, c)
		}
	}
	if !strings.Contains(strings.Split(cells[2], "\n")[11], "a := x; b := 2") {
		t.Errorf("main's first statement is not on line 12 of its cell, as in the file:\n%s", cells[2])
	}
}

// A return in main stays in its cell: at the top level of a cell it ends the cell.
func TestCellsKeepsReturns(t *testing.T) {
	src := "package main\n\nfunc main() {\n\tif true {\n\t\treturn\n\t}\n\tprintln()\n\treturn\n}\n"
	cells, err := Cells("p.go", []byte(src))
	if err != nil {
		t.Fatal(err)
	}
	if got := strings.Join(strings.Fields(cells[len(cells)-1]), " "); got != "if true { return } println() return" {
		t.Errorf("main's cell: %q", got)
	}
	if _, err := Cells("p.go", []byte("package main\n\nfunc f() {}\n")); err == nil {
		t.Error("Cells of a program without main: no error")
	}
}

// TestRunnerClassifies gives the runner a shell script as child, which ends in each way a program can, and
// checks what the runner records.
func TestRunnerClassifies(t *testing.T) {
	// The runner calls: script -child MODE -report FILE PROGRAM; the program's name says what to do.
	const script = `case "$5" in
*interleaved.go) echo a; echo b >&2; echo c ;;
*quiet-exit.go) exit 4 ;;
*exit.go) echo partial; exit 3 ;;
*error.go) echo "the error, printed" >&2; printf 'cell2:3:4: undefined: x' > "$4"; exit 1 ;;
*loop.go) exec sleep 60 ;;
esac`
	r := &Runner{Child: []string{"sh", "-c", script, "sh"}, Timeout: 2 * time.Second}
	for _, c := range []struct {
		name, want string
		status     Status
		reason     string
	}{
		{"interleaved.go", "a\nb\nc\n", Pass, ""},
		{"interleaved.go", "a\nc\nb\n", Fail, `output: line 2: got "b\n", want "c\n"`},
		{"interleaved.go", "a\nb\n", Fail, `output: line 3: got "c\n", want end of output`},
		{"exit.go", "", Fail, `exit status 3: line 1: got "partial\n", want end of output`},
		{"quiet-exit.go", "", Fail, "exit status 4"},
		{"error.go", "", Fail, "cell2:3:4: undefined: x"},
		{"loop.go", "", Fail, "timeout after 2s"},
	} {
		p := Program{Name: c.name, Path: filepath.Join(t.TempDir(), c.name), Want: []byte(c.want)}
		if got := r.Run(context.Background(), p, FileMode); got != (Outcome{c.status, c.reason}) {
			t.Errorf("%s wanting %q: %s %q, want %s %q", c.name, c.want, got.Status, got.Reason, c.status, c.reason)
		}
	}
}

// TestChildRunsBothModes runs programs through the real child, in both modes.
func TestChildRunsBothModes(t *testing.T) {
	r := buildChild(t)
	dir := writeFiles(t, map[string]string{
		"hello.go":   "package main\n\nimport (\n\t\"fmt\"\n\t\"os\"\n)\n\nfunc main() {\n\tfmt.Println(\"hello\")\n\tfmt.Fprintln(os.Stderr, \"to stderr\")\n}\n",
		"undef.go":   "package main\n\nfunc main() {\n\tnosuch()\n}\n",
		"returns.go": "package main\n\nfunc main() {\n\tif len(\"x\") == 1 {\n\t\tprintln(\"early\")\n\t\treturn\n\t}\n\tprintln(\"late\")\n}\n",
	})
	prog := func(name, want string) Program {
		return Program{Name: name, Path: filepath.Join(dir, name), Want: []byte(want)}
	}
	for _, c := range []struct {
		prog   Program
		mode   Mode
		status Status
		reason string // a part of the reason
	}{
		{prog("hello.go", "hello\nto stderr\n"), FileMode, Pass, ""},
		{prog("hello.go", "hello\nto stderr\n"), CellMode, Pass, ""},
		{prog("hello.go", "hullo\nto stderr\n"), CellMode, Fail, `output: line 1: got "hello\n", want "hullo\n"`},
		{prog("undef.go", ""), FileMode, Fail, "undefined: nosuch"},
		{prog("returns.go", "early\n"), FileMode, Pass, ""},
		{prog("returns.go", "early\n"), CellMode, Pass, ""},
	} {
		got := r.Run(context.Background(), c.prog, c.mode)
		if got.Status != c.status || !strings.Contains(got.Reason, c.reason) {
			t.Errorf("%s in %s mode: %s %q, want %s with %q", c.prog.Name, c.mode, got.Status, got.Reason, c.status, c.reason)
		}
	}
}

func TestBaselineRoundTrip(t *testing.T) {
	results := []Result{
		{Program: "a.go", SHA256: "0123456789ab", File: Outcome{Pass, ""}, Cell: Outcome{Fail, "cell2:3:4: undefined: x"}},
		{Program: "b.go", File: Outcome{Skip, skipArgs}, Cell: Outcome{Skip, skipArgs}},
	}
	var b strings.Builder
	if err := WriteBaseline(&b, "test", results); err != nil {
		t.Fatal(err)
	}
	got, err := ReadBaseline(strings.NewReader(b.String()))
	if err != nil {
		t.Fatal(err)
	}
	for _, want := range results {
		if got[want.Program] != want {
			t.Errorf("%s read back as %+v, want %+v", want.Program, got[want.Program], want)
		}
	}
	if _, err := ReadBaseline(strings.NewReader("program\tfile\n")); err == nil {
		t.Error("a baseline with another header: no error")
	}
	if _, err := ReadBaseline(strings.NewReader(baselineColumns + "\na.go\t-\tgood\tpass\t\t\n")); err == nil {
		t.Error("a baseline with an unknown status: no error")
	}
}

func TestCategoryGroupsReasons(t *testing.T) {
	for reason, want := range map[string]string{
		"cell2:15:6: undefined: r":        "undefined: r",
		"rename.go: cannot compile: x":    "cannot compile: x",
		"timeout after 10s":               "timeout",
		"output: line 2: got \"a\"":       "wrong output (exit status 0)",
		"exit status 2: line 1: got \"\"": "exit status 2 without an interpreter error (a Go panic, os.Exit or a crash)",
		`a.go:13:9: import "unsafe" error: unable to find source related to: "unsafe". Either`: `import "unsafe": package not available to the interpreter`,
		"cell2:3:10: panic: u32 != iu32": "panic: uN != iuN",
	} {
		if got := Category(reason); got != want {
			t.Errorf("Category(%q) = %q, want %q", reason, got, want)
		}
	}
}

func TestCompareCountsBothRuns(t *testing.T) {
	baseline := map[string]Result{
		"a.go": {Program: "a.go", File: Outcome{Status: Pass}, Cell: Outcome{Status: Pass}},
		"b.go": {Program: "b.go", File: Outcome{Status: Fail}, Cell: Outcome{Status: Fail}},
	}
	now := []Result{
		{Program: "a.go", File: Outcome{Status: Pass}, Cell: Outcome{Status: Fail}},
		{Program: "b.go", File: Outcome{Status: Pass}, Cell: Outcome{Status: Pass}},
	}
	got := Compare(baseline, now)
	for _, want := range []string{
		"| file mode: pass | 1 / 2 (50%) | 2 / 2 (100%) |",
		"| cell mode: pass | 1 / 2 (50%) | 1 / 2 (50%) |",
		"Passed in the baseline, fail now in cell mode: a.go.",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("Compare is missing %q:\n%s", want, got)
		}
	}
}
