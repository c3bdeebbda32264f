package gui_test

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/chromedp/chromedp"
	"github.com/govalent/govalent/ct"
	"github.com/govalent/govalent/dispatcher"
	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/builtins"
	"github.com/govalent/govalent/internal/testkit/workerbin"
	"github.com/govalent/govalent/interp"
	"github.com/govalent/govalent/results"
)

var workerBinary string

func TestMain(m *testing.M) { workerbin.Main(m, &workerBinary) }

// testExecutors builds the built-in executors with n pool processes of the test binary.
func testExecutors(t testing.TB, n int) map[string]executors.Executor {
	t.Helper()
	execs, err := builtins.New(builtins.Config{Workers: n, WorkerCommand: []string{workerBinary, "worker", "--pipe"},
		Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
	if err != nil {
		t.Fatal(err)
	}
	return execs
}

const chromium = "/usr/bin/chromium"

// stored is how many finished dispatches the store holds before the dispatcher starts: the list page must stay
// quick with that many.
const stored = 10_000

// workflows is the notebook cell the test dispatches: one that waits for a file (to watch it finish live), one
// that fails, one that sleeps (to cancel), one whose names and output are HTML, and one of 1,000 nodes.
const workflows = `import (
	"bytes"
	"errors"
	"image"
	"image/color"
	"image/png"
	"os"
	"time"

	ct "github.com/govalent/govalent/ct"
)

func WaitGate(path string) string {
	for {
		if _, err := os.Stat(path); err == nil {
			return "opened"
		}
		time.Sleep(20 * time.Millisecond)
	}
}
func After(s string) string { return s + "!" }
func Evil() string { return "<script>window.__xss=1</script><img src=x onerror=\"window.__xss=2\">" }
func Fail(x int) (int, error) { return 0, errors.New("boom: <b>not bold</b>") }
func Panicky(xs []int) int { return xs[len(xs)] }
func Sleep() int { time.Sleep(10 * time.Minute); return 1 }
func Inc(x int) int { return x + 1 }
// Plot draws what a plotting library would: a PNG, returned as its bytes.
func Plot(w, h int) []byte {
	img := image.NewRGBA(image.Rect(0, 0, w, h))
	for x := 0; x < w; x++ {
		img.Set(x, h/2, color.RGBA{B: 255, A: 255})
	}
	var buf bytes.Buffer
	png.Encode(&buf, img)
	return buf.Bytes()
}
func Drawing() string {
	return "<svg xmlns=\"http://www.w3.org/2000/svg\" width=\"40\" height=\"30\" onload=\"window.__xss=5\"><script>window.__xss=6</script><rect width=\"40\" height=\"30\" fill=\"red\"/></svg>"
}
func Sum(xs []int) int { s := 0; for _, x := range xs { s += x }; return s }

var waitGate = ct.Electron(WaitGate)
var after = ct.Electron(After)
var evil = ct.Electron(Evil, ct.Name("<img src=x onerror=\"window.__xss=3\">evil"))
var fail = ct.Electron(Fail)
var panicky = ct.Electron(Panicky)
var sleep = ct.Electron(Sleep)
var inc = ct.Electron(Inc)
var sum = ct.Electron(Sum)
var plotE = ct.Electron(Plot)
var drawing = ct.Electron(Drawing)

var gated = ct.Lattice(func(path string) ct.Future { return after(waitGate(path)) }, ct.Name("gated"))
var xss = ct.Lattice(func() ct.Future { return evil() }, ct.Name("<script>window.__xss=4</script>xss"))
var failing = ct.Lattice(func() ct.Future {
	panicky([]int{1, 2})
	return inc(fail(1))
}, ct.Name("failing"))
var inner = ct.Lattice(func(x int) ct.Future { return inc(x) }, ct.Name("inner"))
var innerE = ct.Electron(inner)
var outer = ct.Lattice(func() ct.Future { return inc(innerE(1)) }, ct.Name("outer"))
var pictures = ct.Lattice(func() ct.Future { drawing(); return plotE(120, 80) }, ct.Name("pictures"))
var sleepy = ct.Lattice(func() ct.Future { return sleep() }, ct.Name("sleepy"))
var big = ct.Lattice(func(n int) ct.Future {
	var parts []ct.Future
	for i := 0; i < n; i++ {
		parts = append(parts, inc(inc(i)))
	}
	return sum(parts)
}, ct.Name("big"))
var bigGated = ct.Lattice(func(path string, n int) ct.Future {
	gate := waitGate(path)
	var parts []ct.Future
	for i := 0; i < n; i++ {
		parts = append(parts, inc(ct.WaitFor(inc(i), gate)))
	}
	return sum(parts)
}, ct.Name("big, gated"))
`

type browserEnv struct {
	t         *testing.T
	url       string
	client    *ct.Client
	ctx       context.Context
	artefacts string
}

// fill stores n finished dispatches directly, as a long-lived dispatcher would have them.
func fill(t *testing.T, dir string, n int) {
	st, err := results.Open(dir)
	if err != nil {
		t.Fatal(err)
	}
	defer st.Close()
	graph := []byte(`{"name":"x","nodes":[{"node_id":0,"name":"a","kind":"list"}],"output":{"node":0}}`)
	base := time.Now().Add(-time.Duration(n) * time.Minute)
	start := time.Now()
	for i := range n {
		created := base.Add(time.Duration(i) * time.Minute)
		rec := &results.DispatchRecord{ID: fmt.Sprintf("bulk-%05d", i), Name: fmt.Sprintf("stored workflow %d", i), Status: ct.StatusCompleted,
			Created: created, Started: created, Ended: created.Add(time.Duration(i%97) * time.Second), ParentNode: -1, NodeCount: 1}
		rec.RootID = rec.ID
		if err := st.CreateDispatch(t.Context(), rec, graph, ct.Program{}); err != nil {
			t.Fatal(err)
		}
	}
	t.Logf("stored %d dispatches in %v", n, time.Since(start).Round(time.Millisecond))
}

func newBrowserEnv(t *testing.T) *browserEnv {
	if _, err := os.Stat(chromium); err != nil {
		t.Fatalf("%s is missing (%v): run install/test-deps.sh, which installs Debian's chromium", chromium, err)
	}
	dir := t.TempDir()
	fill(t, dir, stored)
	logf, err := os.Create(filepath.Join(dir, dispatcher.LogFileName))
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { logf.Close() })
	log := slog.New(slog.NewTextHandler(logf, nil))
	// Interpreted: the browser's waits are for the page to follow the dispatches, and the native build of each
	// new program (seconds on a loaded 2-core CI machine) would sit inside them; the dispatcher's own suite runs
	// in both tiers.
	d, err := dispatcher.New(dispatcher.Config{DataDir: dir, Executors: testExecutors(t, 2), Logger: log, Native: dispatcher.NativeNever})
	if err != nil {
		t.Fatal(err)
	}
	srv := httptest.NewServer(d.Handler())
	t.Cleanup(func() {
		srv.CloseClientConnections() // event streams of pages still open
		srv.Close()
		d.Close()
	})
	artefacts := os.Getenv("GOVALENT_ARTIFACTS")
	if artefacts == "" {
		artefacts = filepath.Join(t.TempDir(), "artefacts")
	}
	if err := os.MkdirAll(artefacts, 0o755); err != nil {
		t.Fatal(err)
	}
	t.Logf("screenshots go to %s (set GOVALENT_ARTIFACTS to keep them)", artefacts)
	alloc, cancelAlloc := chromedp.NewExecAllocator(context.Background(),
		chromedp.ExecPath(chromium), chromedp.Headless, chromedp.NoSandbox, chromedp.DisableGPU, chromedp.NoFirstRun,
		chromedp.NoDefaultBrowserCheck, chromedp.UserDataDir(t.TempDir()), chromedp.WindowSize(1400, 900),
		chromedp.Flag("disable-quic", true), chromedp.Flag("disable-background-networking", true),
		chromedp.Flag("disable-component-update", true), chromedp.Flag("disable-sync", true))
	ctx, cancelCtx := chromedp.NewContext(alloc)
	t.Cleanup(func() {
		cancelCtx()
		cancelAlloc()
	})
	if err := chromedp.Do(ctx); err != nil {
		t.Fatalf("starting %s: %v", chromium, err)
	}
	// The user opens the login link `govalent start` prints; the UI works from its session cookie after.
	if err := chromedp.Do(ctx, chromedp.Navigate(d.LoginLink(srv.URL))); err != nil {
		t.Fatalf("opening the login link: %v", err)
	}
	return &browserEnv{t: t, url: srv.URL, client: ct.NewClient(srv.URL), ctx: ctx, artefacts: artefacts}
}

// run runs browser actions with a deadline.
func (b *browserEnv) run(what string, actions ...chromedp.Action[chromedp.Void]) {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	if err := chromedp.Do(ctx, actions...); err != nil {
		b.shot("failed-" + strings.ReplaceAll(b.t.Name(), "/", "-"))
		b.t.Fatalf("%s: %v", what, err)
	}
}

// eval evaluates a JavaScript expression in the page.
func eval[T any](b *browserEnv, expr string) T {
	b.t.Helper()
	ctx, cancel := context.WithTimeout(b.ctx, 30*time.Second)
	defer cancel()
	v, err := chromedp.Run(ctx, chromedp.Evaluate[T](expr))
	if err != nil {
		b.shot("failed-" + strings.ReplaceAll(b.t.Name(), "/", "-"))
		b.t.Fatalf("evaluating %s: %v", expr, err)
	}
	return v
}

// waitJS polls a JavaScript expression until it is true.
func (b *browserEnv) waitJS(what, expr string) {
	b.t.Helper()
	deadline := time.Now().Add(20 * time.Second)
	for !eval[bool](b, "!!("+expr+")") {
		if time.Now().After(deadline) {
			b.shot("failed-" + strings.ReplaceAll(b.t.Name(), "/", "-"))
			b.t.Fatalf("timed out waiting for %s (%s)", what, expr)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (b *browserEnv) shot(name string) {
	ctx, cancel := context.WithTimeout(b.ctx, 10*time.Second)
	defer cancel()
	png, err := chromedp.Run(ctx, chromedp.CaptureScreenshot())
	if err != nil {
		b.t.Logf("screenshot %s: %v", name, err)
		return
	}
	if err := os.WriteFile(filepath.Join(b.artefacts, name+".png"), png, 0o644); err != nil {
		b.t.Errorf("saving screenshot: %v", err)
	}
}

// click clicks the element a CSS selector matches, as a user's mouse would.
func click(sel string) chromedp.Action[chromedp.Void] { return chromedp.Click(chromedp.CSS(sel)) }

func (b *browserEnv) open(hash string) {
	b.t.Helper()
	b.run("opening "+hash, chromedp.Navigate(b.url+"/"+hash))
}

// nodeSel selects a node of the graph by its id.
func nodeSel(id int) string { return fmt.Sprintf(`g.node[data-node-id="%d"]`, id) }

func nodeHasStatus(id int, status string) string {
	return fmt.Sprintf(`document.querySelector('%s')?.getAttribute('class').includes('st-%s')`, nodeSel(id), status)
}

func js(s string) string { b, _ := json.Marshal(s); return string(b) }

func (b *browserEnv) nodeID(dispatchID, name string) int {
	b.t.Helper()
	res, err := b.client.GetResult(dispatchID, false)
	if err != nil {
		b.t.Fatal(err)
	}
	n := res.NodeByName(name)
	if n == nil {
		b.t.Fatalf("dispatch %s has no node %s", dispatchID, name)
	}
	return n.NodeID
}

func (b *browserEnv) waitStatus(id string, want ct.Status) {
	b.t.Helper()
	deadline := time.Now().Add(30 * time.Second)
	for {
		res, err := b.client.GetResult(id, false)
		if err != nil {
			b.t.Fatal(err)
		}
		if res.Status == want {
			return
		}
		if time.Now().After(deadline) {
			b.t.Fatalf("dispatch %s is %s, want %s", id, res.Status, want)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// The web UI in a real browser against a real dispatcher with worker processes.
func TestBrowser(t *testing.T) {
	b := newBrowserEnv(t)
	t.Setenv("GOVALENT_DISPATCHER", b.url)
	var out strings.Builder
	sess, err := interp.New(interp.Options{Stdout: &out, Stderr: &out})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(sess.Close)
	gate := filepath.Join(t.TempDir(), "gate")
	cell := func(src string) {
		t.Helper()
		ctx, cancel := context.WithTimeout(context.Background(), 2*time.Minute)
		defer cancel()
		if _, err := sess.Eval(ctx, src); err != nil {
			t.Fatalf("cell: %v\n%s\n%s", err, src, out.String())
		}
	}
	str := func(name string) string {
		t.Helper()
		r, err := sess.Eval(context.Background(), name)
		if err != nil {
			t.Fatal(err)
		}
		return r.Value.Interface().(string)
	}
	cell(workflows)
	cell(fmt.Sprintf(`gatedID, _ := ct.Dispatch(gated, %q)
failedID, _ := ct.Dispatch(failing)
sleepyID, _ := ct.Dispatch(sleepy)
xssID, _ := ct.Dispatch(xss)
bigID, _ := ct.Dispatch(big, 499)
outerID, _ := ct.Dispatch(outer)
picturesID, _ := ct.Dispatch(pictures)
`, gate))
	gatedID, failedID, sleepyID, xssID, bigID, outerID := str("gatedID"), str("failedID"), str("sleepyID"), str("xssID"), str("bigID"), str("outerID")
	picturesID := str("picturesID")
	for _, id := range []string{gatedID, failedID, sleepyID, xssID, bigID, outerID, picturesID} {
		if id == "" {
			t.Fatalf("a dispatch failed:\n%s", out.String())
		}
	}

	// The subtests share the browser and the dispatcher, in order; each reports through b.t.
	t.Run("List", func(t *testing.T) {
		b.t = t
		b.open("#/dispatches")
		b.waitJS("the first page of dispatches", `document.querySelector('table.dispatches[data-ready]') && window.govalentTimings.list`)
		type listTimes struct {
			Rows, Total                   int
			Fetch, Render, All, SinceLoad float64
		}
		tm := eval[listTimes](b, `window.govalentTimings.list`)
		t.Logf("list page, %d dispatches stored: %d rows painted %.1f ms after the page started (API %.1f ms, building the table %.1f ms), %.1f ms after the browser began loading the UI", tm.Total, tm.Rows, tm.All, tm.Fetch, tm.Render, tm.SinceLoad)
		if tm.Total < stored || tm.Rows != 50 {
			t.Fatalf("list shows %d rows of %d, want 50 of at least %d", tm.Rows, tm.Total, stored)
		}
		b.shot("list")
		b.run("next page", click(`.pager button:nth-of-type(3)`))
		b.waitJS("the second page", `document.querySelector('.pager .range').textContent.startsWith('51–100')`)
		b.run("filter failed", chromedp.SetValue(chromedp.CSS(`#status-filter`), "FAILED"), chromedp.Func(func(ctx context.Context, t *chromedp.Target) error {
			_, err := chromedp.Evaluate[bool](`document.querySelector('#status-filter').dispatchEvent(new Event('change'))`)(ctx, t)
			return err
		}))
		b.waitJS("only the failed dispatch", fmt.Sprintf(`document.querySelectorAll('table.dispatches tbody tr').length === 1 && document.querySelector('tr[data-id=%s]')`, js(failedID)))
		b.open("#/dispatches?sort=name&order=asc")
		b.waitJS("sorted by name", `document.querySelector('#sort').value === 'name' && document.querySelector('table.dispatches[data-ready] tbody td.name')?.textContent === '<script>window.__xss=4</script>xss'`)
	})

	t.Run("LiveNode", func(t *testing.T) {
		b.t = t
		b.open("#/dispatches")
		b.run("search", chromedp.WaitVisible(chromedp.CSS(`#search`)), chromedp.SendKeys(chromedp.CSS(`#search`), "gated"))
		row := fmt.Sprintf(`tr[data-id=%s]`, js(gatedID))
		b.waitJS("the gated dispatch alone in the list", fmt.Sprintf(`document.querySelectorAll('table.dispatches tbody tr').length === 1 && document.querySelector('%s')`, row))
		b.run("open it", click(row+` td.name a`))
		waitNode := b.nodeID(gatedID, "WaitGate")
		afterNode := b.nodeID(gatedID, "After")
		b.waitJS("the graph", `document.querySelector('.graph-host[data-ready]')`)
		b.waitJS("WaitGate running", nodeHasStatus(waitNode, "RUNNING"))
		eval[string](b, `window.__samePage = 'yes'`)
		b.shot("dispatch-running")
		if err := os.WriteFile(gate, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		b.waitJS("WaitGate completed, live", nodeHasStatus(waitNode, "COMPLETED"))
		b.waitJS("After completed, live", nodeHasStatus(afterNode, "COMPLETED"))
		b.waitJS("the dispatch completed, live", `document.querySelector('.dhead .badge').textContent === 'COMPLETED'`)
		same := eval[string](b, `window.__samePage || ''`)
		if same != "yes" {
			t.Fatal("the page was reloaded: the updates were not live")
		}
		b.run("open the After node", click(nodeSel(afterNode)))
		b.waitJS("After's output", `document.querySelector('pre.node-output')?.textContent === 'opened!'`)
		b.shot("dispatch-completed")
	})

	t.Run("FailedNode", func(t *testing.T) {
		b.t = t
		b.waitStatus(failedID, ct.StatusFailed)
		failNode := b.nodeID(failedID, "Fail")
		b.open("#/dispatches/" + failedID)
		b.waitJS("the graph", `document.querySelector('.graph-host[data-ready]')`)
		b.waitJS("Fail marked failed", nodeHasStatus(failNode, "FAILED"))
		b.run("open the failed node", click(nodeSel(failNode)))
		b.waitJS("the error", `document.querySelector('pre.node-error')`)
		msg := eval[string](b, `document.querySelector('pre.node-error').textContent`)
		if !strings.Contains(msg, "boom: <b>not bold</b>") {
			t.Fatalf("the node's error reads %q", msg)
		}
		b.run("open the source", click(`#panel details.source summary`))
		b.waitJS("Fail's source", `document.querySelector('#panel details.source pre')?.textContent.startsWith('func Fail(')`)
		b.shot("failed-node")
		b.run("open the panicking node", click(nodeSel(b.nodeID(failedID, "Panicky"))))
		b.waitJS("its traceback", `document.querySelector('pre.node-stack')`)
		stack := eval[string](b, `document.querySelector('pre.node-error').textContent + '\n' + document.querySelector('pre.node-stack').textContent`)
		if !strings.Contains(stack, "index out of range") || !strings.Contains(stack, "Panicky") {
			t.Fatalf("the panic reads %q", stack)
		}
		b.shot("panicked-node")
	})

	t.Run("Sublattice", func(t *testing.T) {
		b.t = t
		b.waitStatus(outerID, ct.StatusCompleted)
		b.open("#/dispatches/" + outerID)
		b.waitJS("the graph", `document.querySelector('.graph-host[data-ready]')`)
		b.run("open the sublattice node", click(`g.node.kind-sublattice`))
		b.run("follow its link", click(`#sub-dispatch`))
		b.waitJS("the child dispatch", `document.querySelector('.dname')?.textContent === 'inner' && document.querySelector('.dhead .meta a')`)
		b.run("back to the parent", click(`.dhead .meta a`))
		b.waitJS("the parent dispatch", `document.querySelector('.dname')?.textContent === 'outer'`)
	})

	t.Run("XSS", func(t *testing.T) {
		b.t = t
		b.waitStatus(xssID, ct.StatusCompleted)
		b.open("#/dispatches?search=xss")
		b.waitJS("the xss dispatch", fmt.Sprintf(`document.querySelector('tr[data-id=%s] td.name')`, js(xssID)))
		name := eval[string](b, fmt.Sprintf(`document.querySelector('tr[data-id=%s] td.name').textContent`, js(xssID)))
		if name != "<script>window.__xss=4</script>xss" {
			t.Fatalf("the name is shown as %q", name)
		}
		evilNode := b.nodeID(xssID, `<img src=x onerror="window.__xss=3">evil`)
		b.open("#/dispatches/" + xssID)
		b.waitJS("the graph", `document.querySelector('.graph-host[data-ready]')`)
		b.run("open the node", click(nodeSel(evilNode)))
		b.waitJS("its output", `document.querySelector('pre.node-output')`)
		type shown struct {
			Output, Title, Label string
			XSS                  any
			Injected             int
		}
		got := eval[shown](b, `({output: document.querySelector('pre.node-output').textContent, title: document.querySelector('.dname').textContent,
			label: document.querySelector('#panel .nname').textContent, xss: window.__xss ?? null,
			injected: document.querySelectorAll('main script, main img, #panel b').length})`)
		if got.Output != `<script>window.__xss=1</script><img src=x onerror="window.__xss=2">` || got.Title != "<script>window.__xss=4</script>xss" ||
			got.Label != `<img src=x onerror="window.__xss=3">evil` {
			t.Fatalf("HTML not shown as text: %+v", got)
		}
		if got.XSS != nil || got.Injected != 0 {
			t.Fatalf("injected markup ran or was parsed: window.__xss=%v, %d elements", got.XSS, got.Injected)
		}
		b.shot("xss")
	})

	t.Run("ImageOutputs", func(t *testing.T) {
		b.t = t
		b.waitStatus(picturesID, ct.StatusCompleted)
		b.open("#/dispatches/" + picturesID)
		b.waitJS("the result, shown as the image", `document.querySelector('img.image')?.complete && document.querySelector('img.image').naturalWidth === 120`)
		b.waitJS("the graph", `document.querySelector('.graph-host[data-ready]')`)
		b.run("open the SVG node", click(nodeSel(b.nodeID(picturesID, "Drawing"))))
		b.waitJS("the SVG, drawn", `document.querySelector('#panel img.node-output')?.complete && document.querySelector('#panel img.node-output').naturalWidth === 40`)
		if xss := eval[any](b, `window.__xss ?? null`); xss != nil {
			t.Fatalf("the SVG's script ran: window.__xss=%v", xss)
		}
		b.run("open the plot node", click(nodeSel(b.nodeID(picturesID, "Plot"))))
		b.waitJS("the plot, drawn", `document.querySelector('#panel img.node-output')?.complete && document.querySelector('#panel img.node-output').naturalHeight === 80`)
		b.shot("image-output")
	})

	t.Run("CancelAndDelete", func(t *testing.T) {
		b.t = t
		b.waitStatus(sleepyID, ct.StatusRunning)
		b.open("#/dispatches?search=sleepy")
		row := fmt.Sprintf(`tr[data-id=%s]`, js(sleepyID))
		b.waitJS("the sleepy dispatch running", fmt.Sprintf(`document.querySelector('%s .badge')?.textContent === 'RUNNING'`, row))
		b.run("cancel", click(row+` button.cancel`))
		b.waitJS("the confirmation", `document.querySelector('#confirm').open`)
		b.shot("cancel-confirm")
		b.run("confirm", click(`#confirm-ok`))
		b.waitStatus(sleepyID, ct.StatusCancelled)
		b.waitJS("the row cancelled, live", fmt.Sprintf(`document.querySelector('%s .badge')?.textContent === 'CANCELLED'`, row))
		b.shot("cancelled")
		b.run("delete", click(row+` button.delete`))
		b.waitJS("the confirmation", `document.querySelector('#confirm').open`)
		b.run("confirm", click(`#confirm-ok`))
		b.waitJS("the row gone", fmt.Sprintf(`!document.querySelector('%s')`, row))
		if _, err := b.client.GetResult(sleepyID, false); err == nil || !strings.Contains(err.Error(), "not found") {
			t.Fatalf("after delete: %v", err)
		}
	})

	t.Run("Graph1000", func(t *testing.T) {
		b.t = t
		b.waitStatus(bigID, ct.StatusCompleted)
		b.run("leave the UI", chromedp.Navigate("about:blank")) // so that the graph's page is loaded cold
		b.open("#/dispatches/" + bigID)
		b.waitJS("the graph", `document.querySelector('.graph-host[data-ready]') && window.govalentTimings.graph`)
		type graphTimes struct {
			Nodes, Drawn                               int
			Fetch, Layout, Draw, DOM, Total, SinceLoad float64
		}
		tm := eval[graphTimes](b, `window.govalentTimings.graph`)
		t.Logf("graph of %d nodes: painted %.1f ms after the page started (API %.1f ms, layout %.1f ms, SVG %.1f ms, page complete at %.1f ms), %.1f ms after the browser began loading the UI", tm.Nodes, tm.Total, tm.Fetch, tm.Layout, tm.Draw, tm.DOM, tm.SinceLoad)
		count := eval[int](b, `document.querySelectorAll('g.node.st-COMPLETED').length`)
		if tm.Nodes != 1000 || count != 1000 {
			t.Fatalf("%d nodes in the graph, %d drawn completed; want 1000", tm.Nodes, count)
		}
		b.shot("graph-1000")
		b.run("hide collections", click(`#opt-collections`))
		b.waitJS("the list node hidden", `document.querySelectorAll('g.node').length === 999 && !document.querySelector('g.node.kind-list')`)
		b.run("show parameters", click(`#opt-params`))
		b.waitJS("parameter nodes", `document.querySelectorAll('g.node.kind-parameter').length === 499`)
		b.run("find node", chromedp.SendKeys(chromedp.CSS(`input.find`), "Sum\r"))
		b.waitJS("Sum selected", `document.querySelector('#panel .nname')?.textContent === 'Sum'`)
		b.waitJS("the minimap, zoomed in", `!document.querySelector('canvas.minimap').hidden`)
		b.shot("graph-1000-params")
		b.run("fit", click(`.toolbar button:first-child`))
		b.waitJS("no minimap, the whole graph in view", `document.querySelector('canvas.minimap').hidden`)
	})

	// A thousand nodes finishing within a second or two, watched live: every one must end up coloured COMPLETED.
	t.Run("LiveLargeGraph", func(t *testing.T) {
		b.t = t
		gate2 := filepath.Join(t.TempDir(), "gate2")
		cell(fmt.Sprintf("bigGatedID, _ := ct.Dispatch(bigGated, %q, 499)", gate2))
		id := str("bigGatedID")
		b.open("#/dispatches/" + id)
		b.waitJS("the graph", `document.querySelector('.graph-host[data-ready]')`)
		b.waitJS("the gate running, nothing done", nodeHasStatus(b.nodeID(id, "WaitGate"), "RUNNING")+` && !document.querySelector('g.node.st-COMPLETED')`)
		eval[string](b, `window.__samePage = 'big'`)
		start := time.Now()
		if err := os.WriteFile(gate2, nil, 0o644); err != nil {
			t.Fatal(err)
		}
		b.waitJS("1,001 nodes completed, live", `document.querySelectorAll('g.node.st-COMPLETED').length === 1001 && document.querySelector('.dhead .badge').textContent === 'COMPLETED'`)
		t.Logf("1,001-node graph: all nodes shown COMPLETED %v after the gate opened", time.Since(start).Round(time.Millisecond))
		if same := eval[string](b, `window.__samePage || ''`); same != "big" {
			t.Fatal("the page was reloaded: the updates were not live")
		}
		b.shot("graph-1000-live-done")
	})

	t.Run("Token", func(t *testing.T) {
		b.t = t
		d, err := dispatcher.New(dispatcher.Config{DataDir: t.TempDir(), Executors: testExecutors(t, 1), Token: "s3cret",
			Logger: slog.New(slog.NewTextHandler(io.Discard, nil))})
		if err != nil {
			t.Fatal(err)
		}
		srv := httptest.NewServer(d.Handler())
		defer func() {
			srv.CloseClientConnections() // the page's event stream
			srv.Close()
			d.Close()
		}()
		b.run("open the UI of a dispatcher with a token", chromedp.Navigate(srv.URL+"/#/dispatches"))
		b.waitJS("the token dialog", `document.querySelector('#token').open`)
		b.run("give the token", chromedp.SendKeys(chromedp.CSS(`#token-input`), "s3cret"), click(`#token-ok`))
		b.waitJS("the list, with the token", `document.querySelector('table.dispatches[data-ready]') && document.querySelector('.pager .range').textContent.endsWith('of 0')`)
		b.waitJS("the event stream, with the token", `document.querySelector('#live.on')`)
	})

	t.Run("Pages", func(t *testing.T) {
		b.t = t
		b.open("#/")
		b.waitJS("the dashboard", `document.querySelector('.cards')`)
		text := eval[string](b, `document.querySelector('main').textContent`)
		for _, want := range []string{"failing", "boom"} {
			if !strings.Contains(text, want) {
				t.Fatalf("the dashboard does not show %q:\n%s", want, text)
			}
		}
		b.shot("dashboard")
		b.open("#/workers")
		b.waitJS("the executors", `document.querySelector('main table.list')`)
		text = eval[string](b, `document.querySelector('main').textContent`)
		if !strings.Contains(text, "pool") {
			t.Fatalf("the workers page does not list the pool executor:\n%s", text)
		}
		b.shot("workers")
		b.open("#/logs")
		b.waitJS("the log", `document.querySelector('#log').textContent.includes('msg=')`)
		b.shot("logs")
		if xss := eval[bool](b, `window.__xss !== undefined || document.querySelectorAll('main script, main img').length > 0`); xss {
			t.Fatal("markup from the log or the dashboard was parsed")
		}
	})
}
