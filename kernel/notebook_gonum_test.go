package kernel_test

import (
	"bytes"
	"encoding/base64"
	"encoding/json"
	"image/png"
	"strings"
	"testing"
	"time"
)

// gonum.ipynb: gonum and gonum/plot got with %go get (from the Go module proxy, or GOPROXY), linear algebra in
// cells (an evaluator built with them), a lattice whose electrons use them (built natively with the session's
// go.mod: the workers could not interpret them), the PNG an electron drew, and a plot drawn in a cell.
func TestNotebookGonum(t *testing.T) {
	url := nbDispatcher(t)
	// a cold machine compiles gonum and plot into an evaluator: minutes on two cores
	nb := nbRunCellTimeout(t, url, "gonum.ipynb", 15*time.Minute).nb

	if got := nb.cell(t, "%go get gonum.org").stream("stdout"); !strings.Contains(got, "added gonum.org/v1/gonum v0.17.0") || !strings.Contains(got, "added gonum.org/v1/plot v0.17.0") {
		t.Errorf("%%go get printed %q", got)
	}
	algebra := nb.cell(t, "mat.NewDense(2, 2")
	if got, want := algebra.stream("stdout"), "det(a) = 10.0\ninverse:\n⎡ 0.30  -0.10⎤\n⎣-0.20   0.40⎦\neigenvalues: [(5+0i) (2+0i)]\n"; got != want {
		t.Errorf("linear algebra in a cell printed %q, want %q", got, want)
	}
	if got := algebra.stream("stderr"); !strings.Contains(got, "built an evaluator with gonum.org/v1/gonum/mat") && !strings.Contains(got, "gonum.org/v1/gonum/mat") {
		t.Logf("the first gonum cell's stderr: %q (an evaluator from an earlier run's cache says nothing)", got)
	}
	if got := nb.cell(t, "ct.Dispatch(analysis").stream("stdout"); got != "stats [0.0013 0.6215], fit [0.3239 -0.6485]\n" {
		t.Errorf("the workflow's results: %q", got)
	}
	checkPNG := func(name string, c *nbCell, w, h int) {
		t.Helper()
		rs := c.outputs("execute_result")
		if len(rs) != 1 {
			t.Fatalf("%s: %d execute_results: %+v", name, len(rs), c.Outputs)
		}
		var b64 string
		if err := json.Unmarshal(rs[0].Data["image/png"], &b64); err != nil {
			t.Fatalf("%s: no image/png: %v (%s)", name, err, rs[0].Data["text/plain"])
		}
		data, err := base64.StdEncoding.DecodeString(strings.TrimSpace(b64))
		if err != nil {
			t.Fatal(err)
		}
		img, err := png.Decode(bytes.NewReader(data))
		if err != nil {
			t.Fatalf("%s: %v", name, err)
		}
		if b := img.Bounds(); b.Dx() != w || b.Dy() != h {
			t.Errorf("%s: a %v image, want %dx%d", name, b, w, h)
		}
		if plain := nbText(rs[0].Data["text/plain"]); len(plain) > 100 {
			t.Errorf("%s: text/plain of %d characters: %.100s...", name, len(plain), plain)
		}
	}
	checkPNG("the electron's plot", nb.cell(t, `out["plot"]`), 480, 288)     // 5x3 inches at 96 dpi
	checkPNG("the cell's plot", nb.cell(t, "drawn in the kernel"), 576, 384) // display's 6x4 inches
}
