package kernel_test

// The example notebooks in examples/ run headless with nbconvert (nbclient) against a real dispatcher, and
// their executed outputs are checked: streams, the rendered results, the live progress displays (which
// nbclient updates in place), a function redefined between two dispatches, and a workflow that outlives the
// kernel that dispatched it.

import (
	"bytes"
	"encoding/json"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/govalent/govalent/ct"
)

const nbExamples = "../examples"

// nbDispatcher starts `govalent start --foreground` on a free loopback port with two workers and returns its
// URL once /healthz answers; the process is stopped when the test ends.
func nbDispatcher(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dir := t.TempDir()
	cmd := exec.Command(binary, "start", "--foreground", "--port", strconv.Itoa(port), "--data-dir", dir, "--workers", "2")
	cmd.Env = append(os.Environ(), "GOVALENT_CONFIG="+filepath.Join(dir, "none.toml"))
	logf, err := os.Create(filepath.Join(dir, "dispatcher.log"))
	if err != nil {
		t.Fatal(err)
	}
	cmd.Stdout, cmd.Stderr = logf, logf
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	exited := make(chan struct{})
	go func() { cmd.Wait(); logf.Close(); close(exited) }()
	t.Cleanup(func() {
		cmd.Process.Signal(syscall.SIGTERM)
		select {
		case <-exited:
		case <-time.After(5 * time.Second):
			cmd.Process.Kill()
			<-exited
		}
		if t.Failed() {
			if log, err := os.ReadFile(filepath.Join(dir, "dispatcher.log")); err == nil {
				t.Logf("dispatcher log:\n%s", log)
			}
		}
	})
	url := "http://127.0.0.1:" + strconv.Itoa(port)
	deadline := time.Now().Add(15 * time.Second)
	for {
		resp, err := http.Get(url + "/healthz")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK {
				return url
			}
		}
		select {
		case <-exited:
			t.Fatalf("the dispatcher exited: %v", cmd.ProcessState)
		default:
		}
		if time.Now().After(deadline) {
			t.Fatalf("the dispatcher at %s did not answer /healthz: %v", url, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// nbNotebook is the part of an executed notebook the tests read.
type nbNotebook struct {
	NBFormat int `json:"nbformat"`
	Metadata struct {
		Kernelspec struct {
			Name        string `json:"name"`
			DisplayName string `json:"display_name"`
			Language    string `json:"language"`
		} `json:"kernelspec"`
		LanguageInfo struct {
			Name          string `json:"name"`
			FileExtension string `json:"file_extension"`
		} `json:"language_info"`
	} `json:"metadata"`
	Cells []nbCell `json:"cells"`
}

type nbCell struct {
	CellType       string          `json:"cell_type"`
	Source         json.RawMessage `json:"source"`
	ExecutionCount *int            `json:"execution_count"`
	Outputs        []nbOutput      `json:"outputs"`
}

type nbOutput struct {
	OutputType string                     `json:"output_type"`
	Name       string                     `json:"name"` // stream
	Text       json.RawMessage            `json:"text"` // stream
	Data       map[string]json.RawMessage `json:"data"` // display_data, execute_result
	Ename      string                     `json:"ename"`
	Evalue     string                     `json:"evalue"`
	Traceback  []string                   `json:"traceback"`
}

// nbText reads nbformat's multiline strings: a string or a list of strings.
func nbText(raw json.RawMessage) string {
	if len(raw) == 0 {
		return ""
	}
	var s string
	if json.Unmarshal(raw, &s) == nil {
		return s
	}
	var parts []string
	json.Unmarshal(raw, &parts)
	return strings.Join(parts, "")
}

func (c *nbCell) source() string { return nbText(c.Source) }

// stream is everything the cell wrote to the stream name.
func (c *nbCell) stream(name string) string {
	var b strings.Builder
	for _, o := range c.Outputs {
		if o.OutputType == "stream" && o.Name == name {
			b.WriteString(nbText(o.Text))
		}
	}
	return b.String()
}

// outputs returns the cell's outputs of one type.
func (c *nbCell) outputs(typ string) []nbOutput {
	var out []nbOutput
	for _, o := range c.Outputs {
		if o.OutputType == typ {
			out = append(out, o)
		}
	}
	return out
}

// result is the cell's execute_result bundle: text/plain and text/html ("" when absent).
func (c *nbCell) result(t *testing.T) (plain, html string) {
	t.Helper()
	rs := c.outputs("execute_result")
	if len(rs) != 1 {
		t.Fatalf("cell %q: %d execute_results, want 1: %+v", c.source(), len(rs), c.Outputs)
	}
	return nbText(rs[0].Data["text/plain"]), nbText(rs[0].Data["text/html"])
}

// cell finds the one code cell whose source contains s.
func (nb *nbNotebook) cell(t *testing.T, s string) *nbCell {
	t.Helper()
	var found *nbCell
	for i := range nb.Cells {
		if c := &nb.Cells[i]; c.CellType == "code" && strings.Contains(c.source(), s) {
			if found != nil {
				t.Fatalf("two code cells contain %q", s)
			}
			found = c
		}
	}
	if found == nil {
		t.Fatalf("no code cell contains %q", s)
	}
	return found
}

// cellIs finds the one code cell whose source is exactly s (trimmed).
func (nb *nbNotebook) cellIs(t *testing.T, s string) *nbCell {
	t.Helper()
	for i := range nb.Cells {
		if c := &nb.Cells[i]; c.CellType == "code" && strings.TrimSpace(c.source()) == s {
			return c
		}
	}
	t.Fatalf("no code cell is %q", s)
	return nil
}

// nbRead parses a notebook file.
func nbRead(t *testing.T, path string) *nbNotebook {
	t.Helper()
	data, err := os.ReadFile(path)
	if err != nil {
		t.Fatal(err)
	}
	var nb nbNotebook
	if err := json.Unmarshal(data, &nb); err != nil {
		t.Fatalf("%s: %v", path, err)
	}
	return &nb
}

// nbKernels lists the running `govalent kernel` processes of this test binary: pid -> command line.
func nbKernels() map[int]string {
	found := map[int]string{}
	dirs, _ := filepath.Glob("/proc/[0-9]*")
	for _, d := range dirs {
		raw, err := os.ReadFile(filepath.Join(d, "cmdline"))
		if err != nil || len(raw) == 0 { // gone, or a zombie: it has exited
			continue
		}
		argv := strings.Split(strings.TrimRight(string(raw), "\x00"), "\x00")
		if len(argv) >= 2 && argv[0] == binary && argv[1] == "kernel" {
			pid, _ := strconv.Atoi(filepath.Base(d))
			found[pid] = strings.Join(argv, " ")
		}
	}
	// a process the kernel starts has the kernel's command line between its fork and its exec
	for pid := range found {
		if _, child := found[parentPid(pid)]; child {
			delete(found, pid)
		}
	}
	return found
}

// parentPid is the parent of process pid (from /proc/pid/stat), or 0.
func parentPid(pid int) int {
	raw, err := os.ReadFile(fmt.Sprintf("/proc/%d/stat", pid))
	if err != nil {
		return 0
	}
	// pid (comm) state ppid ...: comm may hold spaces and parentheses
	fields := strings.Fields(string(raw[bytes.LastIndexByte(raw, ')')+1:]))
	if len(fields) < 2 {
		return 0
	}
	ppid, _ := strconv.Atoi(fields[1])
	return ppid
}

// nbRunResult is what one nbconvert run left.
type nbRunResult struct {
	nb       *nbNotebook
	elapsed  time.Duration
	kernels  map[int]string // kernel processes seen while nbconvert ran
	leftOver map[int]string // kernel processes still running after it exited
}

// nbRun executes a notebook of examples/ (or at an absolute path) with nbconvert against the dispatcher at url, with extra environment
// variables, and returns the executed notebook. It fails the test if nbconvert fails (a cell raised an error)
// or if any output is an error.
func nbRun(t *testing.T, url, name string, extraEnv ...string) *nbRunResult {
	t.Helper()
	return nbRunCellTimeout(t, url, name, 2*time.Minute, extraEnv...)
}

// nbRunCellTimeout is nbRun with a cell given cellTimeout to run.
func nbRunCellTimeout(t *testing.T, url, name string, cellTimeout time.Duration, extraEnv ...string) *nbRunResult {
	t.Helper()
	src := name
	if !filepath.IsAbs(src) {
		src = filepath.Join(nbExamples, name)
	}
	src, err := filepath.Abs(src)
	if err != nil {
		t.Fatal(err)
	}
	out := filepath.Join(t.TempDir(), "out.ipynb")
	cmd := exec.Command("/usr/bin/jupyter", "nbconvert", "--to", "notebook", "--execute",
		fmt.Sprintf("--ExecutePreprocessor.timeout=%d", int(cellTimeout.Seconds())), "--output", out, src)
	cmd.Env = append(jupyterEnv(t), "GOVALENT_DISPATCHER="+url, "GOVALENT_CONFIG="+filepath.Join(t.TempDir(), "none.toml"))
	cmd.Env = append(cmd.Env, extraEnv...)

	before := nbKernels()
	r := &nbRunResult{kernels: map[int]string{}}
	stop := make(chan struct{})
	var wg sync.WaitGroup // r.kernels is read after wg.Wait
	wg.Add(1)
	go func() { // watch for the kernel process nbconvert starts
		defer wg.Done()
		tick := time.NewTicker(20 * time.Millisecond)
		defer tick.Stop()
		for {
			for pid, line := range nbKernels() {
				if _, old := before[pid]; !old {
					r.kernels[pid] = line
				}
			}
			select {
			case <-stop:
				return
			case <-tick.C:
			}
		}
	}()
	start := time.Now()
	combined, err := cmd.CombinedOutput()
	r.elapsed = time.Since(start)
	close(stop)
	wg.Wait()
	if err != nil {
		t.Fatalf("nbconvert --execute %s: %v\n%s", name, err, combined)
	}
	r.leftOver = map[int]string{}
	for pid, line := range nbKernels() {
		if _, seen := r.kernels[pid]; seen {
			r.leftOver[pid] = line
		}
	}
	t.Logf("%s ran in %v", name, r.elapsed.Round(time.Millisecond))

	r.nb = nbRead(t, out)
	for _, c := range r.nb.Cells {
		if c.CellType != "code" {
			continue
		}
		if c.ExecutionCount == nil {
			t.Errorf("%s: cell %q was not executed", name, c.source())
		}
		for _, o := range c.outputs("error") {
			t.Errorf("%s: cell %q failed: %s: %s\n%s", name, c.source(), o.Ename, o.Evalue, strings.Join(o.Traceback, "\n"))
		}
		if s := c.stream("stderr"); s != "" {
			t.Logf("%s: cell %q wrote to stderr: %s", name, c.source(), s)
		}
	}
	if t.Failed() {
		t.FailNow()
	}
	return r
}

var nbProgressRe = regexp.MustCompile(`^dispatch ([0-9a-f-]{36}): (\d+)/(\d+) nodes done(?:, .*)? — ([A-Z_]+)$`)

// nbProgress checks that the cell has exactly one progress display (updates replace it in place), for a
// dispatch of total nodes, and returns the dispatch id, how many nodes it says are done and the status it
// shows. Lines after the first are the dispatch's notes (the first run of a program says that it waits for its
// native build).
func nbProgress(t *testing.T, c *nbCell, total int) (id string, done int, status string) {
	t.Helper()
	ds := c.outputs("display_data")
	if len(ds) != 1 {
		t.Fatalf("cell %q: %d display_data outputs, want one progress display: %+v", c.source(), len(ds), c.Outputs)
	}
	plain, html := nbText(ds[0].Data["text/plain"]), nbText(ds[0].Data["text/html"])
	first, _, _ := strings.Cut(plain, "\n")
	m := nbProgressRe.FindStringSubmatch(first)
	if m == nil {
		t.Fatalf("cell %q: progress text/plain %q is not `dispatch ID: D/N nodes done — STATUS`", c.source(), plain)
	}
	id = m[1]
	done, _ = strconv.Atoi(m[2])
	n, _ := strconv.Atoi(m[3])
	if n != total || done > n {
		t.Errorf("cell %q: progress %q, want a dispatch of %d nodes", c.source(), plain, total)
	}
	if !strings.Contains(html, id) || !strings.Contains(html, fmt.Sprintf("%d/%d nodes done", done, total)) || !strings.Contains(html, m[4]) {
		t.Errorf("cell %q: progress text/html does not match its text/plain %q:\n%s", c.source(), plain, nbClip(html))
	}
	return id, done, m[4]
}

var nbIDRe = regexp.MustCompile(`[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}`)

// nbIDAfter returns the id in the line of stdout that starts with prefix.
func nbIDAfter(t *testing.T, c *nbCell, prefix string) string {
	t.Helper()
	for _, line := range strings.Split(c.stream("stdout"), "\n") {
		if rest, ok := strings.CutPrefix(line, prefix); ok {
			if id := nbIDRe.FindString(rest); id != "" {
				return id
			}
		}
	}
	t.Fatalf("cell %q: no line %q followed by a dispatch id in stdout %q", c.source(), prefix, c.stream("stdout"))
	return ""
}

// nbWantResult checks a cell whose value is a *ct.Result: text/plain and text/html show the dispatch, its
// status, its value (none when value is "") and node counts that start with nodes.
func nbWantResult(t *testing.T, c *nbCell, id, name string, status ct.Status, value string, nodes string) (plain, html string) {
	t.Helper()
	plain, html = c.result(t)
	head := fmt.Sprintf("dispatch %s (%s): %s\n", id, name, status)
	if !strings.HasPrefix(plain, head) || !strings.Contains(plain, "\nnodes ("+nodes) {
		t.Errorf("cell %q: text/plain does not start %q or lacks nodes (%s):\n%s", c.source(), head, nodes, plain)
	}
	if value != "" && !strings.Contains(plain, "\nresult: "+value+"\n") {
		t.Errorf("cell %q: text/plain lacks result: %s:\n%s", c.source(), value, plain)
	}
	if value == "" && strings.Contains(plain, "\nresult: ") {
		t.Errorf("cell %q: text/plain has a result, want none yet:\n%s", c.source(), plain)
	}
	for _, want := range []string{">" + string(status) + "</span>", "<b>" + name + "</b>", id, " nodes: " + nodes} {
		if !strings.Contains(html, want) {
			t.Errorf("cell %q: text/html lacks %q:\n%s", c.source(), want, nbClip(html))
		}
	}
	if value != "" && !regexp.MustCompile(`result</div><pre[^>]*>`+regexp.QuoteMeta(value)+`</pre>`).MatchString(html) {
		t.Errorf("cell %q: text/html does not show the result %s:\n%s", c.source(), value, nbClip(html))
	}
	return plain, html
}

// The example notebooks are saved clean, as nbformat 4, for the govalent kernel.
func TestNotebookExamplesAreClean(t *testing.T) {
	for _, name := range []string{"workflow.ipynb", "redefine.ipynb", "outlive_dispatch.ipynb", "outlive_fetch.ipynb"} {
		nb := nbRead(t, filepath.Join(nbExamples, name))
		ks, li := nb.Metadata.Kernelspec, nb.Metadata.LanguageInfo
		if nb.NBFormat != 4 || ks.Name != "govalent" || ks.DisplayName != "Go (govalent)" || ks.Language != "go" || li.Name != "go" || li.FileExtension != ".go" {
			t.Errorf("%s: nbformat %d, metadata %+v", name, nb.NBFormat, nb.Metadata)
		}
		code, markdown := 0, 0
		for _, c := range nb.Cells {
			switch c.CellType {
			case "code":
				code++
				if len(c.Outputs) != 0 || c.ExecutionCount != nil {
					t.Errorf("%s: cell %q is saved with outputs", name, c.source())
				}
			case "markdown":
				markdown++
			}
		}
		if code == 0 || markdown == 0 {
			t.Errorf("%s: %d code cells and %d markdown cells", name, code, markdown)
		}
	}
}

// workflow.ipynb: functions, electrons and the lattice in separate cells, a dispatch, a wait, the rendered
// result and a check.
func TestNotebookWorkflow(t *testing.T) {
	url := nbDispatcher(t)
	nb := nbRun(t, url, "workflow.ipynb").nb

	funcs := nb.cell(t, "func Add(a, b int) int")
	if got := funcs.stream("stdout"); got != "Add(2, 3) = 5 and Square(4) = 16 run here, in the kernel\n" {
		t.Errorf("functions cell stdout %q", got)
	}
	for _, s := range []string{"var add = ct.Electron(Add)", "var pipeline = ct.Lattice("} {
		if c := nb.cell(t, s); len(c.Outputs) != 0 {
			t.Errorf("declaration cell %q has outputs: %+v", s, c.Outputs)
		}
	}

	dispatch := nb.cell(t, "ct.Dispatch(pipeline, 10)")
	id := nbIDAfter(t, dispatch, "dispatched ")
	// The cell ends as soon as the dispatch is made, and with it the live display: it shows the state at
	// that moment.
	progressID, done, status := nbProgress(t, dispatch, 23)
	if progressID != id {
		t.Errorf("the progress display is for %s, the cell dispatched %s", progressID, id)
	}
	if !(status == string(ct.StatusRunning) || status == string(ct.StatusCompleted) && done == 23) {
		t.Errorf("progress display of the dispatch cell: %d/23 done, %s", done, status)
	}

	if got := nb.cell(t, "ct.GetResult(id, true)").stream("stdout"); got != "status: COMPLETED\n" {
		t.Errorf("wait cell stdout %q", got)
	}
	nbWantResult(t, nb.cellIs(t, "res"), id, "sum_of_squares", ct.StatusCompleted, "770", "23 completed")
	if got := nb.cell(t, "res.Result != 770").stream("stdout"); got != "checked: 23 nodes completed, result 770\n" {
		t.Errorf("check cell stdout %q", got)
	}

	res, err := ct.NewClient(url).GetResult(id, false)
	if err != nil || res.Status != ct.StatusCompleted || res.Result != 770 {
		t.Errorf("the dispatcher has %s: %+v, %v", id, res, err)
	}
}

// redefine.ipynb: a later cell redefines a function; the next dispatch runs the new body, the earlier one keeps
// its result. Both dispatch cells wait, so their progress displays run to the end.
func TestNotebookRedefine(t *testing.T) {
	url := nbDispatcher(t)
	nb := nbRun(t, url, "redefine.ipynb").nb

	var ids []string
	for _, r := range []struct{ name, value, outputs string }{
		{"A", "306", "<code>101</code>,<code>102</code>,<code>103</code>"},
		{"B", "140", "<code>10</code>,<code>40</code>,<code>90</code>"},
	} {
		cell := nb.cell(t, "id"+r.name+", err := ct.Dispatch(mapSum, []int{1, 2, 3})")
		id, done, status := nbProgress(t, cell, 5)
		if done != 5 || status != string(ct.StatusCompleted) {
			t.Errorf("dispatch %s: the progress display ends at %d/5 nodes done, %s; want 5/5, COMPLETED", r.name, done, status)
		}
		if got, want := cell.stream("stdout"), "result "+r.name+": "+r.value+"\n"; got != want {
			t.Errorf("dispatch %s: stdout %q, want %q", r.name, got, want)
		}
		_, html := nbWantResult(t, nb.cellIs(t, "res"+r.name), id, "map_sum", ct.StatusCompleted, r.value, "5 completed")
		// the Transform nodes' outputs, in the node table: what the function of the moment computed
		for _, out := range strings.Split(r.outputs, ",") {
			if !strings.Contains(html, out) {
				t.Errorf("dispatch %s: the node table lacks the Transform output %s:\n%s", r.name, out, nbClip(html))
			}
		}
		ids = append(ids, id)
	}
	if ids[0] == ids[1] {
		t.Fatalf("both dispatches are %s", ids[0])
	}
	if got := nb.cell(t, "func Transform(x int) int { return 10 * x * x }").stream("stdout"); got != "Transform(3) is now 90\n" {
		t.Errorf("redefinition cell stdout %q", got)
	}
	if got := nb.cell(t, "againA, err := ct.GetResult(idA, false)").stream("stdout"); got != "A: 306 B: 140\nchecked: the redefinition changed the next dispatch only\n" {
		t.Errorf("final cell stdout %q", got)
	}

	client := ct.NewClient(url)
	for i, want := range []int{306, 140} {
		res, err := client.GetResult(ids[i], false)
		if err != nil || res.Status != ct.StatusCompleted || res.Result != want {
			t.Errorf("the dispatcher has %s: %+v, %v; want COMPLETED %d", ids[i], res, err, want)
		}
	}
}

// outlive_dispatch.ipynb dispatches a workflow of about 20 s and ends; nbconvert shuts its kernel down. The
// workflow keeps running on the dispatcher, and outlive_fetch.ipynb, in a fresh kernel, finds it RUNNING with
// partial results, then waits for it to complete.
func TestNotebookOutlivesItsKernel(t *testing.T) {
	url := nbDispatcher(t)
	idFile := filepath.Join(t.TempDir(), "dispatch_id.txt")
	start := time.Now()

	first := nbRun(t, url, "outlive_dispatch.ipynb", "GOVALENT_ID_FILE="+idFile)
	if len(first.kernels) != 1 {
		t.Errorf("saw %d govalent kernel processes while the first notebook ran, want 1: %v", len(first.kernels), first.kernels)
	}
	if len(first.leftOver) != 0 {
		t.Fatalf("the first notebook's kernel is still running after nbconvert exited: %v", first.leftOver)
	}
	data, err := os.ReadFile(idFile)
	if err != nil {
		t.Fatalf("the first notebook did not save the dispatch id: %v", err)
	}
	id := strings.TrimSpace(string(data))
	if !nbIDRe.MatchString(id) || len(id) != 36 {
		t.Fatalf("saved id %q", data)
	}
	dispatch := first.nb.cell(t, "ct.Dispatch(slowSum, 10)")
	if got, want := dispatch.stream("stdout"), "dispatched "+id+"\nsaved its id to "+idFile+"\n"; got != want {
		t.Errorf("dispatch cell stdout %q, want %q", got, want)
	}
	progressID, done, status := nbProgress(t, dispatch, 23)
	if progressID != id || status != string(ct.StatusRunning) || done == 23 {
		t.Errorf("the progress display shows %s at %d/23 nodes done, %s; want %s, RUNNING", progressID, done, status, id)
	}

	// the kernel is gone; the dispatch is not
	res, err := ct.NewClient(url).GetResult(id, false)
	if err != nil {
		t.Fatal(err)
	}
	if res.Status != ct.StatusRunning {
		t.Fatalf("after the kernel exited, the dispatch is %s, want RUNNING: %+v", res.Status, res)
	}
	t.Logf("%v after the dispatch notebook started: its kernel is gone, the dispatch is %s (%d of %d nodes completed)",
		time.Since(start).Round(time.Millisecond), res.Status, nbCount(res, ct.StatusCompleted), len(res.Nodes))

	second := nbRun(t, url, "outlive_fetch.ipynb", "GOVALENT_ID_FILE="+idFile)
	nb := second.nb
	if got := nb.cell(t, "os.ReadFile(idFile)").stream("stdout"); got != "dispatch id: "+id+"\n" {
		t.Errorf("the second notebook read %q", got)
	}

	partialCell := nb.cell(t, "partial, err := ct.GetResult(id, false)")
	lines := strings.Split(strings.TrimSuffix(partialCell.stream("stdout"), "\n"), "\n")
	if len(lines) < 2 || lines[0] != "node 0 Seed: COMPLETED, output [1,2,3,4,5,6,7,8,9,10]" {
		t.Fatalf("partial cell stdout: %q", lines)
	}
	m := regexp.MustCompile(`^partial: RUNNING, (\d+) of 23 nodes completed$`).FindStringSubmatch(lines[len(lines)-1])
	if m == nil {
		t.Fatalf("partial cell stdout ends %q", lines[len(lines)-1])
	}
	if n, _ := strconv.Atoi(m[1]); n != len(lines)-1 || n == 23 {
		t.Errorf("partial cell: %s nodes completed, %d listed", m[1], len(lines)-1)
	}
	plain, _ := nbWantResult(t, nb.cellIs(t, "partial"), id, "slow_sum_of_squares", ct.StatusRunning, "", m[1]+" completed, ")
	if !strings.Contains(plain, "running for ") {
		t.Errorf("the partial result does not say it is running:\n%s", plain)
	}

	if got := nb.cell(t, "final, err := ct.GetResult(id, true)").stream("stdout"); got != "final: COMPLETED 385\n" {
		t.Errorf("final cell stdout %q", got)
	}
	nbWantResult(t, nb.cellIs(t, "final"), id, "slow_sum_of_squares", ct.StatusCompleted, "385", "23 completed")
	if len(second.leftOver) != 0 {
		t.Errorf("the second notebook's kernel is still running after nbconvert exited: %v", second.leftOver)
	}
	if slices.Equal(nbPids(first.kernels), nbPids(second.kernels)) {
		t.Errorf("both notebooks ran in the same kernel process: %v", first.kernels)
	}
	t.Logf("the pair took %v", time.Since(start).Round(time.Millisecond))
}

func nbCount(r *ct.Result, s ct.Status) int {
	n := 0
	for _, node := range r.Nodes {
		if node.Status == s {
			n++
		}
	}
	return n
}

func nbPids(m map[int]string) []int {
	var keys []int
	for k := range m {
		keys = append(keys, k)
	}
	slices.Sort(keys)
	return keys
}

// nbClip shortens HTML for a failure message.
func nbClip(s string) string {
	if len(s) > 3000 {
		return s[:3000] + fmt.Sprintf("… (%d more bytes)", len(s)-3000)
	}
	return s
}

// With GOVALENT_AUTOSTART=1 and no dispatcher answering, the kernel's first ct.Dispatch starts one (`govalent
// start`, on the port GOVALENT_DISPATCHER names) and the notebook runs as usual.
func TestNotebookAutostartsADispatcher(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	port := ln.Addr().(*net.TCPAddr).Port
	ln.Close()
	dataDir := t.TempDir()
	t.Cleanup(func() { exec.Command(binary, "stop", "--data-dir", dataDir).Run() })
	url := fmt.Sprintf("http://127.0.0.1:%d", port)
	r := nbRun(t, url, "redefine.ipynb", "GOVALENT_AUTOSTART=1", "GOVALENT_DATA_DIR="+dataDir)
	if !strings.Contains(r.nb.Cells[len(r.nb.Cells)-1].stream("stdout"), "A: 306 B: 140") {
		t.Fatalf("last cell: %q", r.nb.Cells[len(r.nb.Cells)-1].stream("stdout"))
	}
	if _, err := os.Stat(filepath.Join(dataDir, "govalent.pid")); err != nil {
		t.Fatalf("no dispatcher was started in %s: %v", dataDir, err)
	}
}
