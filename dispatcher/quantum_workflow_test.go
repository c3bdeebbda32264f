package dispatcher_test

import (
	"encoding/json"
	"math"
	"strings"
	"testing"

	"github.com/govalent/govalent/ct"
	qc "github.com/govalent/govalent/ct/quantum"
)

// A hybrid workflow in notebook cells: a classical electron proposes angles, circuit electrons evaluate an
// expectation value on qsim (one node each), and a classical electron picks the best angle.
func TestQuantumVariationalWorkflow(t *testing.T) {
	e := newEnv(t)
	e.cell(`import (
	"math"

	"github.com/govalent/govalent/ct/quantum"
)

func Propose(n int) []float64 {
	out := make([]float64, n)
	for i := range out {
		out[i] = math.Pi * float64(i) / float64(n-1)
	}
	return out
}

// Energy is <Z1> after RX(theta) on qubit 0 and a CNOT: cos(theta), lowest at pi.
func Energy(theta float64) (quantum.Job, error) {
	j, err := quantum.New(2).RX(0, quantum.Param("theta")).CX(0, 1).Measure().Job(0, "Z1")
	j.Inputs = map[string]float64{"theta": theta}
	return j, err
}

func Best(angles []float64, results []quantum.Result) float64 {
	best := 0
	for i, r := range results {
		if r.Expectations["Z1"] < results[best].Expectations["Z1"] {
			best = i
		}
	}
	return angles[best]
}

var propose = ct.Electron(Propose)
var energy = ct.Electron(Energy, ct.Executor("qsim"))
var best = ct.Electron(Best)

var vqe = ct.Lattice(func(n int) ct.Future {
	angles := propose(n)
	var results []ct.Future
	for i := 0; i < n; i++ {
		results = append(results, energy(angles.Index(i)))
	}
	return best(angles, results)
})

res, err := ct.DispatchSync(vqe, 5)
if err != nil {
	panic(err)
}`)
	res := e.result("res")
	if res.Status != ct.StatusCompleted {
		t.Fatalf("dispatch %s: %s", res.Status, res.Error)
	}
	if v, ok := res.Result.(float64); !ok || math.Abs(v-math.Pi) > 1e-12 {
		t.Fatalf("best angle %v, want pi", res.Result)
	}
	circuits := 0
	for _, n := range res.Nodes {
		if n.Executor != "qsim" {
			continue
		}
		circuits++
		r, err := nodeResult(n.Output)
		if err != nil {
			t.Fatalf("node %d output %v: %v", n.NodeID, n.Output, err)
		}
		if r.Device != "qsim" || len(r.Probabilities) == 0 || len(r.Expectations) != 1 {
			t.Fatalf("node %d result %+v", n.NodeID, r)
		}
	}
	if circuits != 5 {
		t.Fatalf("%d circuit nodes ran on qsim, want 5", circuits)
	}
}

// A circuit electron whose OpenQASM is wrong fails its node with the line and column; the others complete.
func TestQuantumBadProgramFailsItsNode(t *testing.T) {
	e := newEnv(t)
	e.cell(`func Good() string { return "OPENQASM 3;\nqubit q;\nx q;\n" }
func Bad() string { return "OPENQASM 3;\nqubit q;\nrx(theta) q;\n" }

var good = ct.Electron(Good, ct.Executor("qsim"), ct.With("shots", 10))
var bad = ct.Electron(Bad, ct.Executor("qsim"))

var both = ct.Lattice(func() []ct.Future { return []ct.Future{good(), bad()} })

res, err := ct.DispatchSync(both)
if err != nil {
	panic(err)
}`)
	res := e.result("res")
	if res.Status != ct.StatusFailed {
		t.Fatalf("status %s", res.Status)
	}
	var failed, completed int
	for _, n := range res.Nodes {
		switch {
		case n.Status == ct.StatusFailed && strings.Contains(n.Error, "3:4: unknown identifier theta"):
			failed++
		case n.Status == ct.StatusCompleted && n.Executor == "qsim":
			if r, err := nodeResult(n.Output); err != nil || r.Counts["1"] != 10 {
				t.Fatalf("good node: %v %v", n.Output, err)
			}
			completed++
		}
	}
	if failed != 1 || completed != 1 {
		t.Fatalf("failed %d completed %d: %+v", failed, completed, res.Nodes)
	}
}

// nodeResult reads a quantum node's output (decoded into plain Go values by ct) as a quantum.Result.
func nodeResult(out any) (qc.Result, error) {
	var r qc.Result
	b, err := json.Marshal(out)
	if err == nil {
		err = json.Unmarshal(b, &r)
	}
	return r, err
}
