package kernel

import (
	"io/fs"
	"os"
	"os/exec"
	"path"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govalent/govalent"
	"github.com/govalent/govalent/internal/testkit/modproxy"
)

// moduleEnv points the go command at a file-system proxy serving the test modules, backed by the module
// cache's downloads (govalent's own dependencies, which an evaluator build needs), with a module cache and an
// evaluator cache of the test's own: no network.
func moduleEnv(t *testing.T) {
	t.Helper()
	out, err := exec.Command("go", "env", "GOMODCACHE").Output()
	if err != nil {
		t.Fatalf("go env GOMODCACHE: %v", err)
	}
	downloads := "file://" + filepath.Join(strings.TrimSpace(string(out)), "cache", "download")
	proxy := modproxy.New(t,
		modproxy.Module{Path: "example.org/greet", Version: "v1.2.0", Dir: "../internal/testkit/modproxy/testdata/greet"},
		modproxy.Module{Path: "example.org/stats", Version: "v1.0.0", Dir: "testdata/modules/stats"},
		modproxy.Module{Path: "example.org/go-words", Version: "v1.0.0", Dir: "testdata/modules/gowords"})
	cache := t.TempDir()
	t.Setenv("GOPROXY", proxy+","+downloads)
	t.Setenv("GOSUMDB", "off")
	t.Setenv("GOFLAGS", "-modcacherw") // TempDir can remove it
	t.Setenv("GOMODCACHE", cache)
	t.Setenv("GOVALENT_EVALUATOR_CACHE", t.TempDir())
}

// run executes a cell, giving an evaluator build time, and returns its reply's content and its streams.
func (c *testClient) run(code string) (map[string]any, map[string]string) {
	c.t.Helper()
	c.request(c.shell, "execute_request", map[string]any{"code": code, "silent": false, "store_history": true, "user_expressions": map[string]any{}})
	rep := c.reply(c.shell, 10*time.Minute)
	if rep == nil {
		c.t.Fatalf("no execute_reply for %q", code)
	}
	return content(rep), streams(c.drainUntilIdle(5 * time.Second))
}

func TestGoModulesInCells(t *testing.T) {
	moduleEnv(t)
	k, c := startTestKernel(t)
	wantOK := func(t *testing.T, code string, out ...string) map[string]string {
		t.Helper()
		start := time.Now()
		rep, streams := c.run(code)
		t.Logf("%q took %s; stderr: %s", code, time.Since(start).Round(time.Millisecond), streams["stderr"])
		if rep["status"] != "ok" {
			t.Fatalf("%q: %v %v", code, rep["evalue"], streams)
		}
		for _, o := range out {
			if !strings.Contains(streams["stdout"]+streams["stderr"], o) {
				t.Errorf("%q printed %q; want %q in it", code, streams, o)
			}
		}
		return streams
	}
	wantError := func(t *testing.T, code, want string) {
		t.Helper()
		rep, streams := c.run(code)
		if rep["status"] != "error" || !strings.Contains(rep["evalue"].(string), want) {
			t.Fatalf("%q: %v %q %v; want an error with %q", code, rep["status"], rep["evalue"], streams, want)
		}
	}
	goMod := func(t *testing.T) string {
		data, err := os.ReadFile(filepath.Join(k.modDir, "go.mod"))
		if err != nil {
			t.Fatal(err)
		}
		return string(data)
	}

	t.Run("GoGet", func(t *testing.T) {
		wantOK(t, "%go get example.org/greet@v1.2.0", "added example.org/greet v1.2.0")
		wantOK(t, "%go mod", "require example.org/greet v1.2.0")
	})
	t.Run("UseAFuncAndAMethod", func(t *testing.T) {
		wantOK(t, `import "example.org/greet"
import "math/rand/v2"
import "strings"
func twice(n int) int { return 2 * n }
x := 21
ch := make(chan int)
sb := &strings.Builder{}
sb.WriteString("written")
pcg := rand.NewPCG(1, 2)
c := &greet.Counter{}
c.Add(2)
fmt.Println(greet.Hello("go"), c.Add(3))`, "building an evaluator with example.org/greet (", "built an evaluator with example.org/greet", "hello, GO 5")
	})
	t.Run("AutoGetReplaysTheSession", func(t *testing.T) {
		// in a %%time cell, which gets its modules as any cell does
		s := wantOK(t, `%%time
import "example.org/stats"
fmt.Println(stats.Mean([]float64{1, 2, 3}), twice(x))`, "added example.org/stats v1.0.0", "2 42", "Wall time: ")
		if !strings.Contains(s["stderr"], "but for: ch (") || !strings.Contains(s["stderr"], "sb (strings.Builder has unexported fields") {
			t.Errorf("the channel's and the builder's losses are not listed: %q", s["stderr"])
		}
		// a value of unexported fields is carried by its MarshalBinary
		wantOK(t, `fmt.Println(pcg.Uint64() == rand.NewPCG(1, 2).Uint64())`, "true")
		if !strings.Contains(goMod(t), "example.org/stats v1.0.0") {
			t.Errorf("go.mod lacks the module got automatically:\n%s", goMod(t))
		}
	})
	t.Run("AFailedChangeKeepsTheSession", func(t *testing.T) {
		// a replacement without the Mean a func of the session calls: the session cannot move to it
		wantOK(t, "func avg(xs ...float64) float64 { return stats.Mean(xs) }")
		dir := t.TempDir()
		os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.org/stats\n\ngo 1.22\n"), 0o600)
		os.WriteFile(filepath.Join(dir, "stats.go"), []byte("package stats\n\nfunc Median(xs []float64) float64 { return xs[len(xs)/2] }\n"), 0o600)
		before := goMod(t)
		wantError(t, "%go mod edit -replace example.org/stats="+dir, "undefined: stats.Mean")
		if goMod(t) != before {
			t.Errorf("go.mod changed:\n%s", goMod(t))
		}
		wantOK(t, `fmt.Println(avg(2, 4), twice(x))`, "3 42")
	})
	t.Run("GenericFunc", func(t *testing.T) {
		wantError(t, `stats.Map([]int{1}, func(i int) int { return i })`, "stats.Map is generic")
	})
	t.Run("ReplaceByALocalDirectory", func(t *testing.T) {
		// relative to the kernel's directory, as the user types it
		wantOK(t, "%go mod edit -replace example.org/greet=./testdata/modules/greetlocal", "replaced example.org/greet")
		wantOK(t, `fmt.Println(greet.Hello("you"), twice(x))`, "local hello, you 42")
	})
	mine := filepath.Join(t.TempDir(), "mine") // kept for the subtests after this one
	t.Run("AnUnpublishedLocalModuleAndItsEdits", func(t *testing.T) {
		dir := mine
		word := func(w string) {
			os.MkdirAll(dir, 0o700)
			os.WriteFile(filepath.Join(dir, "go.mod"), []byte("module example.org/mine\n\ngo 1.22\n"), 0o600)
			os.WriteFile(filepath.Join(dir, "mine.go"), []byte("package mine\n\nfunc Word() string { return \""+w+"\" }\n"), 0o600)
		}
		word("first")
		// no proxy has it, and no -require is needed; a replacement by a directory not made yet is no obstacle
		wantOK(t, "%go mod edit --replace example.org/mine="+dir+" -replace example.org/later=./not-made-yet", "replaced example.org/mine")
		use := "import \"example.org/mine\"\nfmt.Println(mine.Word(), twice(x))"
		wantOK(t, use, "first 42")
		word("second")
		wantOK(t, use, "second 42")
		wantOK(t, `fmt.Println(greet.Hello("too"))`, "local hello, too")
		wantOK(t, "%go mod edit -dropreplace example.org/later")
	})
	t.Run("AMissingModuleIsAnErrorAndTheSessionStays", func(t *testing.T) {
		before := goMod(t)
		wantError(t, "%go get example.org/missing@v1.0.0", "example.org/missing")
		if goMod(t) != before {
			t.Errorf("go.mod changed:\n%s", goMod(t))
		}
		wantError(t, `import "example.org/nothere/pkg"`, "example.org/nothere")
		wantOK(t, `fmt.Println(greet.Hello("again"), twice(x))`, "local hello, again 42")
	})
	t.Run("AutoImportAfterReset", func(t *testing.T) {
		wantOK(t, "%reset")
		wantOK(t, `fmt.Println(greet.Hello("auto"))`, `"example.org/greet"`, "local hello, auto")
	})
	t.Run("APackageNamedOtherwiseThanItsPath", func(t *testing.T) {
		wantOK(t, `import "example.org/go-words"
fmt.Println(words.Shout("hi"))`, "added example.org/go-words v1.0.0", "HI!")
		wantOK(t, "%reset")
		wantOK(t, `fmt.Println(words.Shout("auto"))`, "AUTO!")
	})
	t.Run("UsingAModuleGotButNotImported", func(t *testing.T) {
		wantOK(t, "%reset")
		wantOK(t, "%go get example.org/go-words@none")
		wantOK(t, "%go get example.org/go-words@v1.0.0", "added example.org/go-words v1.0.0")
		if mod := goMod(t); !strings.Contains(mod, "example.org/go-words v1.0.0\n") {
			t.Errorf("a module got is the session's own requirement, not // indirect:\n%s", mod)
		}
		// no import: the evaluator links the module's package in, and auto-import imports it
		wantOK(t, `fmt.Println(words.Shout("named"))`, "NAMED!")
	})
	t.Run("DroppingAModule", func(t *testing.T) {
		// not while the session imports it: the session stays as it was
		wantError(t, "%go get example.org/go-words@none", "could not import example.org/go-words")
		wantOK(t, `fmt.Println(words.Shout("kept"))`, "KEPT!")
		wantOK(t, "%reset")
		s := wantOK(t, "%go get example.org/go-words@none", "removed example.org/go-words")
		if strings.Contains(s["stderr"], "go-words") || strings.Contains(goMod(t), "go-words") {
			t.Errorf("the dropped module is still used: %q\n%s", s["stderr"], goMod(t))
		}
		wantError(t, `fmt.Println(words.Shout("gone"))`, "words")
	})
	t.Run("Misuse", func(t *testing.T) {
		before := goMod(t)
		for _, cell := range []string{"%go", "%go get", "%go build ./..."} {
			wantError(t, cell, "%go get MODULE[@VERSION]")
		}
		wantError(t, "%go mod edit -replace nonsense", "go mod edit")
		wantError(t, "%go get example.org/stats@v9.9.9", "v9.9.9")
		// a go.mod the go command then refuses is undone, and a vendor directory is not made
		wantError(t, "%go mod edit -go=9.99", "that the go command refuses")
		wantError(t, "%go mod vendor", "not vendored")
		if goMod(t) != before {
			t.Errorf("go.mod changed:\n%s", goMod(t))
		}
		wantOK(t, `fmt.Println(greet.Hello("still"))`, "local hello, still")
	})
	t.Run("TidyKeepsWhatCellsImport", func(t *testing.T) {
		wantOK(t, "%go mod tidy")
		if mod := goMod(t); !strings.Contains(mod, "example.org/greet v1.2.0") || !strings.Contains(mod, "example.org/stats v1.0.0") {
			t.Errorf("go mod tidy dropped modules the cells import:\n%s", mod)
		}
		wantOK(t, `fmt.Println(stats.Mean([]float64{4}))`, "4")
	})
	t.Run("DroppingTheOnlyModule", func(t *testing.T) {
		_, c2 := startTestKernel(t)
		run := func(code string) (map[string]any, map[string]string) {
			rep, streams := c2.run(code)
			t.Logf("%q: %v %v %q", code, rep["status"], rep["evalue"], streams)
			return rep, streams
		}
		run("%go get example.org/go-words@v1.0.0")
		if rep, s := run("import \"example.org/go-words\"\nfmt.Println(words.Shout(\"one\"))"); rep["status"] != "ok" || s["stdout"] != "ONE!\n" {
			t.Fatalf("using the module: %v %q", rep, s)
		}
		// refused while the session imports it; then, after %reset, the evaluator goes back to one without modules
		if rep, _ := run("%go get example.org/go-words@none"); rep["status"] != "error" {
			t.Errorf("dropping the module the session imports: %v", rep)
		}
		run("%reset")
		if rep, _ := run("%go get example.org/go-words@none"); rep["status"] != "ok" {
			t.Fatalf("dropping the module: %v", rep)
		}
		if rep, s := run("%go mod"); rep["status"] != "ok" || strings.Contains(s["stdout"], "go-words") {
			t.Errorf("go.mod after the drop: %q", s["stdout"])
		}
		if rep, _ := run("import \"fmt\"\nfmt.Println(words.Shout(\"two\"))"); rep["status"] != "error" {
			t.Errorf("the dropped module's package still works: %v", rep)
		}
	})
	t.Run("AnotherKernelReusesTheCachedEvaluator", func(t *testing.T) {
		_, c2 := startTestKernel(t)
		for _, cell := range []string{"%go get example.org/greet@v1.2.0", `import "example.org/greet"` + "\n" + `fmt.Println(greet.Hello("twice"))`} {
			rep, streams := c2.run(cell)
			if rep["status"] != "ok" || strings.Contains(streams["stderr"], "an evaluator") {
				t.Fatalf("%q: %v %v %q", cell, rep["status"], rep["evalue"], streams)
			}
			if strings.HasPrefix(cell, "import") && !strings.Contains(streams["stdout"], "hello, TWICE") {
				t.Errorf("%q printed %q", cell, streams)
			}
		}
	})
	t.Run("NoToolchain", func(t *testing.T) {
		goCmd, err := exec.LookPath("go")
		if err != nil {
			t.Fatal(err)
		}
		t.Setenv("PATH", t.TempDir())
		wantError(t, "%go get example.org/greet@v1.2.0", "`go` is not on PATH and GOVALENT_GO is not set")
		// the go command GOVALENT_GO names serves as it does for %test and native electrons
		t.Setenv("GOVALENT_GO", goCmd)
		wantOK(t, "%go get example.org/greet@v1.2.0", "go.mod is unchanged")
	})
}

func TestCellImports(t *testing.T) {
	code := "import \"a.org/x\"\nimport (\n\ty \"b.org/y\"\n\t. \"fmt\"\n)\ns := `import \"not/this\"`\nimport _ \"c.org/z\""
	got := strings.Join(cellImports(code), " ")
	if want := "a.org/x b.org/y fmt c.org/z"; got != want {
		t.Errorf("cellImports = %q; want %q", got, want)
	}
}

// TestEvaluatorSourceHasTheKernelsPackages: every package of this module the kernel imports is in the source
// an evaluator is built from (a package added without its embed pattern fails here, not in a user's build).
func TestEvaluatorSourceHasTheKernelsPackages(t *testing.T) {
	out, err := exec.Command("go", "list", "-deps", "-f", "{{.ImportPath}}", ".").Output()
	if err != nil {
		t.Fatalf("go list: %v", err)
	}
	for _, p := range strings.Fields(string(out)) {
		if p != govalentModule && !strings.HasPrefix(p, govalentModule+"/") {
			continue
		}
		dir := strings.TrimPrefix(strings.TrimPrefix(p, govalentModule), "/")
		if dir == "" {
			dir = "."
		}
		names, err := fs.Glob(govalent.EvaluatorSource, path.Join(dir, "*.go"))
		if err != nil || len(names) == 0 {
			t.Errorf("govalent.EvaluatorSource lacks %s, which the kernel imports", p)
		}
	}
}

// ModuleEnv is moduleEnv for the package's external tests.
var ModuleEnv = moduleEnv
