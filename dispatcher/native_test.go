package dispatcher_test

import (
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/dispatcher"
)

// whereCell declares an electron that tells which process ran it: its os.Args[0] is the native binary (in the
// data dir's native cache) when it ran compiled, the worker's own binary when interpreted.
const whereCell = `
import "os"
func Where() string { return os.Args[0] }
var where = ct.Electron(Where)
var whereInterp = ct.Electron(Where, ct.Interpreted())
var both = ct.Lattice(func() []ct.Future { return []ct.Future{where(), whereInterp()} })
res, err := ct.DispatchSync(both)
`

func ranNative(t *testing.T, e *env, out any) bool {
	t.Helper()
	p, ok := out.(string)
	if !ok {
		t.Fatalf("output %v", out)
	}
	return strings.HasPrefix(p, filepath.Join(e.dir, "native", "bin")+string(filepath.Separator))
}

func TestElectronsRunNativeUnlessInterpreted(t *testing.T) {
	e, _ := startEnv(t, dispatcher.Config{Native: dispatcher.NativeAlways})
	e.cell(whereCell)
	r := e.result("res")
	if r.Status != ct.StatusCompleted {
		t.Fatalf("status %s: %s", r.Status, r.Error)
	}
	if !ranNative(t, e, r.Nodes[0].Output) || ranNative(t, e, r.Nodes[1].Output) {
		t.Fatalf("want the first native and the ct.Interpreted() one interpreted: %v, %v", r.Nodes[0].Output, r.Nodes[1].Output)
	}
	if !strings.Contains(strings.Join(r.Notes, "\n"), "built the native worker of this program") {
		t.Fatalf("notes %q", r.Notes)
	}
	// The second dispatch of the program finds it built: no build note.
	e.cell(`res, err = ct.DispatchSync(both)`)
	if r := e.result("res"); r.Status != ct.StatusCompleted || len(r.Notes) != 0 || !ranNative(t, e, r.Nodes[0].Output) {
		t.Fatalf("second run: %s %q %v", r.Status, r.Notes, r.Nodes[0].Output)
	}
}

func TestWithoutAToolchainElectronsRunInterpreted(t *testing.T) {
	t.Setenv("PATH", t.TempDir())
	t.Setenv("GOVALENT_GO", "")
	e, _ := startEnv(t, dispatcher.Config{Native: dispatcher.NativeAuto})
	e.cell(whereCell)
	r := e.result("res")
	if r.Status != ct.StatusCompleted || ranNative(t, e, r.Nodes[0].Output) {
		t.Fatalf("status %s, ran at %v", r.Status, r.Nodes[0].Output)
	}
	if notes := strings.Join(r.Notes, "\n"); !strings.Contains(notes, "electrons run interpreted: no Go toolchain: go is not on PATH") {
		t.Fatalf("the notes should say why the electrons ran interpreted: %q", r.Notes)
	}
	if _, err := dispatcher.New(dispatcher.Config{DataDir: t.TempDir(), Native: dispatcher.NativeAlways, Executors: testExecutors(t, nil)}); err == nil || !strings.Contains(err.Error(), "no Go toolchain") {
		t.Fatalf("native always without a toolchain: %v", err)
	}
}

// Cells are type-checked, but go/types accepts a little the compiler rejects (here an array larger than the
// address space); a native dispatch of it fails at once, with the compiler's message at the cell's line, before
// any node runs.
func TestCodeTheCompilerRejectsFailsTheDispatch(t *testing.T) {
	e, _ := startEnv(t, dispatcher.Config{Native: dispatcher.NativeAlways})
	e.cell(`
func Huge(n int) int {
	var a [1 << 50]byte
	return n + int(a[n])
}
var huge = ct.Electron(Huge)
var wf = ct.Lattice(func(n int) ct.Future { return huge(n) })
`)
	start := time.Now()
	e.cell(`res, err := ct.DispatchSync(wf, 3)`)
	r := e.result("res")
	if r.Status != ct.StatusFailed || !strings.Contains(r.Error, "cell1:3:6: type [1125899906842624]byte larger than address space") {
		t.Fatalf("want the compiler's message at cell1:3:6, got %s: %s", r.Status, r.Error)
	}
	if n := r.Nodes[0]; n.Status != ct.StatusCancelled || n.Attempts != 0 {
		t.Fatalf("the node should never have run: %+v", n)
	}
	if d := time.Since(start); d > time.Minute {
		t.Fatalf("took %s", d)
	}
	// What go/types rejects never reaches a dispatch, interpreted or native.
	e2, _ := startEnv(t, dispatcher.Config{Native: dispatcher.NativeNever})
	err := e2.cellErr(`
func Sloppy(n int) int {
	unused := n * 2
	return n
}`)
	if !strings.Contains(err.Error(), "cell1:3:2: declared and not used: unused") {
		t.Fatalf("interpreted: %v", err)
	}
}

func TestNativeModeIsChecked(t *testing.T) {
	if _, err := dispatcher.New(dispatcher.Config{DataDir: t.TempDir(), Native: "sometimes", Executors: testExecutors(t, nil)}); err == nil || !strings.Contains(err.Error(), `"sometimes" is not auto, always or never`) {
		t.Fatalf("got %v", err)
	}
}
