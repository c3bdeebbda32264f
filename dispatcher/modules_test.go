package dispatcher_test

import (
	"bytes"
	"context"
	"fmt"
	"maps"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"
	"time"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/dispatcher"
	"github.com/govalent/govalent/internal/testkit/modproxy"
	"github.com/govalent/govalent/internal/testkit/wait"
	"github.com/govalent/govalent/interp"
)

// greetSession replaces e's session by one whose module is moduleDir, whose cells can import example.org/greet
// as an evaluator built with its symbols can (the worker processes cannot: they interpret the standard library
// alone). greet.Keep hands the test a cell's result: cells importing a module are not type-checked, so each
// cell here imports it, and no cell without the import reads the session's variables.
func greetSession(t *testing.T, e *env, moduleDir string) *ct.Result {
	kept := new(ct.Result)
	greetSessionWith(t, e, moduleDir, map[string]reflect.Value{"Keep": reflect.ValueOf(func(r *ct.Result) { *kept = *r })})
	return kept
}

// greetSessionWith is greetSession with the given funcs in the cells' example.org/greet besides Hello.
func greetSessionWith(t *testing.T, e *env, moduleDir string, funcs map[string]reflect.Value) {
	interp.Symbols["example.org/greet/greet"] = map[string]reflect.Value{
		"Hello": reflect.ValueOf(func(n string) string { return "the kernel's hello, " + n }),
	}
	maps.Copy(interp.Symbols["example.org/greet/greet"], funcs)
	t.Cleanup(func() { delete(interp.Symbols, "example.org/greet/greet") })
	var out bytes.Buffer
	s, err := interp.New(interp.Options{Stdout: &out, Stderr: &out, ModuleDir: moduleDir})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(s.Close)
	e.sess, e.out = s, &out
}

// greetCell declares an electron calling the module, dispatches it, and keeps the result.
const greetCell = `import "example.org/greet"

func Greet(name string) string { return greet.Hello(name) }

var greetE = ct.Electron(Greet)
var greetWF = ct.Lattice(func(name string) ct.Future { return greetE(name) })
res, err := ct.DispatchSync(greetWF, "go")
if err != nil { panic(err) }
greet.Keep(res)
`

// An electron calling a module the session got runs natively, built with the version the session's go.mod
// names (the proxy also serves v1.3.0, which greets differently), though no worker has module access.
func TestElectronsUseTheSessionsModulesNatively(t *testing.T) {
	modproxy.UseProxy(t, modproxy.GreetVersions(t))
	dir := modproxy.ModuleDir(t, "example.org/greet@v1.2.0")
	e, _ := startEnv(t, dispatcher.Config{Native: dispatcher.NativeAlways})
	kept := greetSession(t, e, dir)
	e.cell(greetCell)
	if kept.Status != ct.StatusCompleted || len(kept.Nodes) != 1 || kept.Nodes[0].Output != "hello, GO" {
		t.Fatalf("want greet v1.2.0's greeting from a native worker, got %s %q: %+v", kept.Status, kept.Error, kept.Nodes)
	}
	// %go get of another version between dispatches: the next one is built with it.
	modproxy.GoGet(t, dir, "example.org/greet@v1.3.0")
	e.cell(strings.Replace(greetCell, "res, err :=", "res, err =", 1))
	if kept.Status != ct.StatusCompleted || kept.Nodes[0].Output != "v1.3.0 says hi to go" {
		t.Fatalf("after the upgrade: %s %q: %+v", kept.Status, kept.Error, kept.Nodes)
	}
}

// Electrons importing modules cannot run interpreted: without a native worker the dispatch fails at once,
// naming the package and why there is none, before any node runs (never the interpreter's GOPATH message).
func TestElectronsWithModulesNeedANativeWorker(t *testing.T) {
	modproxy.UseProxy(t, modproxy.GreetVersions(t))
	dir := modproxy.ModuleDir(t, "example.org/greet@v1.2.0")
	check := func(name string, kept *ct.Result, want string) {
		t.Helper()
		if kept.Status != ct.StatusFailed || !strings.Contains(kept.Error, want) || strings.Contains(kept.Error, "GOPATH") {
			t.Errorf("%s: want a failure saying %q, got %s: %s", name, want, kept.Status, kept.Error)
		} else if n := kept.Nodes[0]; n.Attempts != 0 {
			t.Errorf("%s: the node should never have run: %+v", name, n)
		}
	}

	e, _ := startEnv(t, dispatcher.Config{Native: dispatcher.NativeNever})
	kept := greetSession(t, e, dir)
	e.cell(greetCell)
	check("native never", kept, "the electrons import example.org/greet, outside the standard library, which only a native worker (the electrons compiled with the session's go.mod) can run, and this dispatcher's native tier is off")

	e, _ = startEnv(t, dispatcher.Config{Native: dispatcher.NativeAlways})
	kept = greetSession(t, e, dir)
	e.cell(strings.Replace(greetCell, "ct.Electron(Greet)", "ct.Electron(Greet, ct.Interpreted())", 1))
	check("ct.Interpreted", kept, "Greet cannot run interpreted (ct.Interpreted): the electrons import example.org/greet")

	e, _ = startEnv(t, dispatcher.Config{Native: dispatcher.NativeAlways})
	kept = greetSession(t, e, dir)
	e.cell(strings.Replace(greetCell, "ct.DispatchSync(greetWF,", "ct.DispatchSync(ct.Lattice(func(n string) ct.Future { return ct.Electron(greetWF)(n) }),", 1))
	check("sublattice", kept, "sublattice greetWF cannot run: its graph is built by the interpreter on a worker, and the electrons import example.org/greet")

	t.Setenv("PATH", t.TempDir())
	t.Setenv("GOVALENT_GO", "")
	e, _ = startEnv(t, dispatcher.Config{Native: dispatcher.NativeAuto})
	kept = greetSession(t, e, dir)
	e.cell(greetCell)
	check("no toolchain", kept, "this dispatcher cannot build one: no Go toolchain: go is not on PATH")
}

// A module the session's go.mod does not name fails the dispatch with the go command's message about it, in
// the time a build takes (the cell is given a minute), before any node runs.
func TestAMissingModuleFailsTheDispatch(t *testing.T) {
	modproxy.UseProxy(t, modproxy.GreetVersions(t))
	dir := modproxy.ModuleDir(t) // no %go get
	e, _ := startEnv(t, dispatcher.Config{Native: dispatcher.NativeAlways})
	kept := greetSession(t, e, dir)
	ctx, cancel := context.WithTimeout(context.Background(), time.Minute)
	defer cancel()
	if _, err := e.sess.Eval(ctx, greetCell); err != nil {
		t.Fatal(err)
	}
	if kept.Status != ct.StatusFailed || !strings.Contains(kept.Error, "cannot find module providing package example.org/greet") || kept.Nodes[0].Attempts != 0 {
		t.Fatalf("got %s: %s (%+v)", kept.Status, kept.Error, kept.Nodes)
	}
}

// A dispatch of electrons with modules resumed after a dispatcher restart builds them with the go.mod and go.sum
// it was shipped with, which are stored with its program: the restarted dispatcher has no session to ask.
func TestADispatchWithModulesResumesWithItsVersions(t *testing.T) {
	modproxy.UseProxy(t, modproxy.GreetVersions(t))
	moduleDir := modproxy.ModuleDir(t, "example.org/greet@v1.2.0")
	dataDir, gate := t.TempDir(), filepath.Join(t.TempDir(), "gate")
	e, stop := startEnv(t, dispatcher.Config{DataDir: dataDir, Native: dispatcher.NativeAlways})
	var id string
	greetSessionWith(t, e, moduleDir, map[string]reflect.Value{"KeepID": reflect.ValueOf(func(s string) { id = s })})
	e.cell(fmt.Sprintf(`import (
	"os"
	"time"

	"example.org/greet"
)

func GreetLater(gate, name string) string {
	for {
		if _, err := os.Stat(gate); err == nil {
			return greet.Hello(name)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

var later = ct.Electron(GreetLater)
id, err := ct.Dispatch(ct.Lattice(func(gate, name string) ct.Future { return later(gate, name) }), %q, "go")
if err != nil { panic(err) }
greet.KeepID(id)
`, gate))
	wait.For(t, "the electron to start", 2*time.Minute, func() bool {
		res, err := e.client().GetResult(id, false)
		return err == nil && res.Node(0).Status == ct.StatusRunning
	})
	stop()
	modproxy.GoGet(t, moduleDir, "example.org/greet@v1.3.0") // the session moves on; the dispatch keeps its versions
	e2, _ := startEnv(t, dispatcher.Config{DataDir: dataDir, Native: dispatcher.NativeAlways})
	if err := os.WriteFile(gate, nil, 0o600); err != nil {
		t.Fatal(err)
	}
	res, err := e2.client().GetResult(id, true)
	if err != nil || res.Status != ct.StatusCompleted || res.Node(0).Output != "hello, GO" {
		t.Fatalf("after a restart: %v %s %q (%+v)", err, res.Status, res.Error, res.Nodes)
	}
}
