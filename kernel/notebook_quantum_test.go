package kernel_test

import (
	"math"
	"path/filepath"
	"strings"
	"testing"

	"github.com/govalent/govalent/ct"
)

// variational.ipynb: a hybrid workflow whose circuit electrons run on qsim, executed headless; the notebook is
// saved clean, prints its OpenQASM, and finds the best angle (pi).
func TestNotebookVariational(t *testing.T) {
	nb := nbRead(t, filepath.Join(nbExamples, "variational.ipynb"))
	if ks := nb.Metadata.Kernelspec; nb.NBFormat != 4 || ks.Name != "govalent" || ks.Language != "go" {
		t.Errorf("variational.ipynb metadata %+v", nb.Metadata)
	}
	for _, c := range nb.Cells {
		if c.CellType == "code" && (len(c.Outputs) != 0 || c.ExecutionCount != nil) {
			t.Errorf("cell %q is saved with outputs", c.source())
		}
	}

	url := nbDispatcher(t)
	nb = nbRun(t, url, "variational.ipynb").nb
	qasm := nb.cell(t, "func Energy(theta float64)").stream("stdout")
	for _, want := range []string{"OPENQASM 3.0;", "input float theta;", "qubit[2] q;", "rx(theta) q[0];", "cnot q[0], q[1];", "b[1] = measure q[1];"} {
		if !strings.Contains(qasm, want) {
			t.Errorf("the circuit cell printed %q, without %q", qasm, want)
		}
	}
	id := nbIDAfter(t, nb.cell(t, "ct.Dispatch(vqe, 9)"), "dispatched ")
	if got := nb.cell(t, "ct.GetResult(id, true)").stream("stdout"); got != "status: COMPLETED\n" {
		t.Errorf("wait cell stdout %q", got)
	}
	nbWantResult(t, nb.cellIs(t, "res"), id, "variational", ct.StatusCompleted, "3.141592653589793", "21 completed")
	want := "best angle 3.1416 over 9 circuits; last circuit: <Z1> = -1.0000, most likely 11 (p = 1.0000)\n"
	if got := nb.cell(t, "circuits != 9").stream("stdout"); got != want {
		t.Errorf("check cell stdout %q, want %q", got, want)
	}
	res, err := ct.NewClient(url).GetResult(id, false)
	if v, ok := res.Result.(float64); err != nil || !ok || math.Abs(v-math.Pi) > 1e-9 {
		t.Errorf("the dispatcher has %s: %v, %v", id, res.Result, err)
	}
}
