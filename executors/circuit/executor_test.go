package circuit_test

import (
	"encoding/json"
	"fmt"
	"io"
	"log/slog"
	"math"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/govalent/govalent/ct/codec"
	qc "github.com/govalent/govalent/ct/quantum"
	"github.com/govalent/govalent/executors"
	"github.com/govalent/govalent/executors/circuit"
	"github.com/govalent/govalent/executors/process"
	"github.com/govalent/govalent/internal/testkit/wait"
	"github.com/govalent/govalent/internal/testkit/workerbin"
)

var workerBin string

func TestMain(m *testing.M) { workerbin.Main(m, &workerBin) }

// program holds the electrons the tests run; the worker processes interpret it, importing ct/quantum like a
// notebook cell would.
const program = `package main

import (
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/govalent/govalent/ct/quantum"
)

func Bell(shots int) (quantum.Job, error) {
	j, err := quantum.New(2).H(0).CX(0, 1).Measure().Job(shots, "Z0 Z1", "X0")
	j.Seed = 11
	return j, err
}

func Ansatz(theta float64) (quantum.Job, error) {
	j, err := quantum.New(1).RY(0, quantum.Param("theta")).Job(0, "Z0")
	j.Inputs = map[string]float64{"theta": theta}
	return j, err
}

func Text() string { return "OPENQASM 3;\nqubit[2] q;\nx q[1];\n" }

func Circ() *quantum.Circuit { return quantum.New(2).X(0).Measure(1, 0) }

func BadCirc() *quantum.Circuit { return quantum.New(1).H(3) }

func BadQASM() string { return "qubit q;\nh q;\nfoo q;\n" }

func NotAJob() int { return 7 }

func Fails() (quantum.Job, error) { return quantum.Job{}, errors.New("no circuit today") }

func Sleep(ms int) string { time.Sleep(time.Duration(ms) * time.Millisecond); return "qubit q;" }

// Long is a 20-qubit program of many gates: about a millisecond each, minutes in all.
func Long(gates int) string {
	var b strings.Builder
	b.WriteString("qubit[20] q;\n")
	for i := 0; i < gates; i++ {
		fmt.Fprintf(&b, "rx(0.1) q[%d];\n", i%20)
	}
	fmt.Println("program built")
	return b.String()
}
`

var seq atomic.Int64

func task(entry string, args ...string) *executors.Task {
	t := &executors.Task{ID: fmt.Sprintf("t%d", seq.Add(1)), Kind: executors.KindElectron, Entry: entry, ProgramHash: "q1", Program: program}
	for _, a := range args {
		t.Args = append(t.Args, []byte(a))
	}
	return t
}

func quiet() *slog.Logger { return slog.New(slog.NewTextHandler(io.Discard, nil)) }

func pool(t *testing.T) executors.Executor {
	p := process.NewPool(process.Config{Name: "pool", Size: 2, Reuse: true,
		Command: []string{workerBin, "worker", "--pipe"}, Logger: quiet()})
	t.Cleanup(func() { p.Close() })
	return p
}

func qsimExec(t *testing.T, defaults map[string]any) *circuit.Runner {
	e, err := circuit.NewQsim("qsim", pool(t), defaults, quiet())
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { e.Close() })
	return e
}

// submit starts tk and returns a channel with its outcome.
func submit(e executors.Executor, tk *executors.Task) <-chan executors.Outcome {
	ch := make(chan executors.Outcome, 2)
	e.Submit(tk, func(o executors.Outcome) { ch <- o })
	return ch
}

func outcome(t *testing.T, ch <-chan executors.Outcome) executors.Outcome {
	t.Helper()
	select {
	case o := <-ch:
		return o
	case <-time.After(2 * time.Minute):
		t.Fatal("no outcome")
	}
	return executors.Outcome{}
}

func result(t *testing.T, o executors.Outcome) qc.Result {
	t.Helper()
	if o.Error != "" || o.Cancelled {
		t.Fatalf("outcome: error %q cancelled %v", o.Error, o.Cancelled)
	}
	var r qc.Result
	if err := codec.Unmarshal(o.Output, &r); err != nil {
		t.Fatal(err)
	}
	return r
}

func TestQsimJobs(t *testing.T) {
	e := qsimExec(t, map[string]any{"shots": 50, "seed": 3})
	bell, ansatz, text := submit(e, task("Bell", "500")), submit(e, task("Ansatz", "1.2")), submit(e, task("Text"))

	r := result(t, outcome(t, bell))
	if r.Counts["00"]+r.Counts["11"] != 500 || len(r.Counts) != 2 || r.Seed != 11 || r.Device != "qsim" {
		t.Fatalf("Bell: %+v", r)
	}
	if r.Expectations["Z0 Z1"] != 1 && math.Abs(r.Expectations["Z0 Z1"]-1) > 1e-12 || math.Abs(r.Expectations["X0"]) > 1e-12 {
		t.Fatalf("Bell expectations %v", r.Expectations)
	}
	r = result(t, outcome(t, ansatz))
	if math.Abs(r.Expectations["Z0"]-math.Cos(1.2)) > 1e-12 || math.Abs(r.Probabilities["1"]-math.Pow(math.Sin(0.6), 2)) > 1e-12 {
		t.Fatalf("Ansatz: %+v", r)
	}
	// OpenQASM text runs with the configured shots and seed.
	r = result(t, outcome(t, text))
	if r.Counts["01"] != 50 || r.Seed != 3 || r.Shots != 50 {
		t.Fatalf("Text: %+v", r)
	}
	// The electron's own settings win over the configuration.
	tk := task("Text")
	tk.Settings = map[string]json.RawMessage{"shots": json.RawMessage("7")}
	if r := result(t, outcome(t, submit(e, tk))); r.Counts["01"] != 7 {
		t.Fatalf("shots from ct.With: %+v", r)
	}
	// A circuit runs like OpenQASM text, with the observables of the settings.
	tk = task("Circ")
	tk.Settings = map[string]json.RawMessage{"observables": json.RawMessage(`["Z0", "Z1"]`)}
	if r := result(t, outcome(t, submit(e, tk))); r.Counts["01"] != 50 || r.Expectations["Z0"] != -1 || r.Expectations["Z1"] != 1 {
		t.Fatalf("circuit: %+v", r)
	}
	if s := e.Stats(); s.Done != 5 || s.Busy != 0 || s.Queued != 0 {
		t.Fatalf("stats %+v", s)
	}
}

func TestQsimErrors(t *testing.T) {
	e := qsimExec(t, nil)
	for _, tc := range []struct {
		tk   *executors.Task
		want string
	}{
		{task("BadQASM"), "OpenQASM: 3:1: unknown gate foo"},
		{task("NotAJob"), "must return a quantum.Job or an OpenQASM program as a string; it returned 7"},
		{task("Fails"), "no circuit today"},
		{task("BadCirc"), "qubit 3 is out of range"},
		{task("Nope"), "cannot find Nope"},
		{func() *executors.Task {
			tk := task("Text")
			tk.Settings = map[string]json.RawMessage{"shot": json.RawMessage("7")}
			return tk
		}(), `unknown field "shot"`},
		{func() *executors.Task {
			tk := task("Text")
			tk.Settings = map[string]json.RawMessage{"observables": json.RawMessage(`["Z7"]`)}
			return tk
		}(), `observable "Z7": qsim: observable on qubit 7 of 2`},
		{func() *executors.Task {
			tk := task("Long", "1")
			tk.Settings = map[string]json.RawMessage{"max_qubits": json.RawMessage("10")}
			return tk
		}(), "the program has 20 qubits; this simulator is limited to 10"},
	} {
		o := outcome(t, submit(e, tc.tk))
		if !strings.Contains(o.Error, tc.want) || o.Output != nil {
			t.Errorf("%s: error %q, want %q", tc.tk.Entry, o.Error, tc.want)
		}
	}
	if _, err := circuit.NewQsim("qsim", pool(t), map[string]any{"max_qubits": 0}, quiet()); err == nil {
		t.Error("a bad configured setting should fail at start")
	}
}

// The simulations run in the dispatcher's process, so an electron cannot raise their memory: max_qubits
// above the configured one (26 here, the default, within the default 4 GiB) fails the node with what the
// state would need, before anything is allocated; the executor goes on running jobs that fit.
func TestQsimMemoryIsTheOperators(t *testing.T) {
	e := qsimExec(t, nil)
	with := func(entry, key, value string) *executors.Task {
		tk := task(entry)
		tk.Settings = map[string]json.RawMessage{key: json.RawMessage(value)}
		return tk
	}
	for _, tc := range []struct {
		tk   *executors.Task
		want string
	}{
		{with("Text", "max_qubits", "30"), "max_qubits 30 is not from 1 to the 26 configured in [executors.qsim] (a 30-qubit state needs 24 GiB; the memory budget of executor qsim (memory in [executors.qsim]) is 4 GiB)"},
		{with("Text", "max_qubits", "40"), "a 40-qubit state needs 24 TiB"},
		{with("Text", "max_qubits", "64"), "a 64-qubit state needs 384 EiB"},
		{with("Text", "max_qubits", "-3"), "max_qubits -3 is not from 1 to the 26"},
		{with("Text", "memory", `"64GiB"`), "setting memory is the operator's ([executors.qsim] in the config file); an electron cannot set it"},
		{with("Text", "max_gates", "1000000"), "setting max_gates is the operator's"},
	} {
		o := outcome(t, submit(e, tc.tk))
		if !strings.Contains(o.Error, tc.want) || o.Output != nil {
			t.Errorf("%s: error %q, want %q", tc.tk.Settings, o.Error, tc.want)
		}
	}
	// Lowering max_qubits is the electron's to do, and a job within the limits runs.
	if r := result(t, outcome(t, submit(e, with("Text", "max_qubits", "2")))); r.Counts["01"] != 1000 {
		t.Fatalf("within the limits: %+v", r)
	}
	// A smaller configured budget: a job it cannot hold fails with what it needs, others run.
	small := qsimExec(t, map[string]any{"memory": "24MiB", "max_qubits": 20, "max_gates": 1000})
	o := outcome(t, submit(small, task("Long", "10")))
	if !strings.Contains(o.Error, "this job (a 20-qubit state: 24 MiB;") || !strings.Contains(o.Error, "the memory budget of executor qsim (memory in [executors.qsim]) is 24 MiB") {
		t.Fatalf("a job beyond the budget: %q", o.Error)
	}
	if r := result(t, outcome(t, submit(small, task("Bell", "100")))); r.Counts["00"]+r.Counts["11"] != 100 {
		t.Fatalf("a job within the budget: %+v", r)
	}
	for _, bad := range []map[string]any{
		{"max_qubits": 30},                     // 24 GiB in 4 GiB
		{"memory": "1GiB", "max_qubits": 26},   // 1.5 GiB in 1 GiB
		{"max_qubits": 33, "memory": "100TiB"}, // beyond the simulator
		{"memory": "lots"},
		{"memory": -1},
		{"max_gates": 0},
	} {
		if _, err := circuit.NewQsim("qsim", pool(t), bad, quiet()); err == nil {
			t.Errorf("configuration %v: accepted", bad)
		}
	}
}

func TestQsimCancel(t *testing.T) {
	e := qsimExec(t, nil)
	// While the electron's code runs on the inner executor.
	tk := task("Sleep", "30000")
	ch := submit(e, tk)
	wait.For(t, "the electron to start", time.Minute, func() bool { return e.Stats().Queued == 1 })
	time.Sleep(100 * time.Millisecond)
	e.Cancel(tk.ID)
	if o := outcome(t, ch); !o.Cancelled {
		t.Fatalf("cancel in the first phase: %+v", o)
	}
	// While the simulator runs.
	tk = task("Long", "200000")
	ch = submit(e, tk)
	wait.For(t, "the simulation to start", time.Minute, func() bool { return e.Stats().Busy == 1 })
	e.Cancel(tk.ID)
	if o := outcome(t, ch); !o.Cancelled || o.Output != nil || o.Stdout != "program built\n" {
		t.Fatalf("cancel in the second phase: %+v", o)
	}
	// A time limit covers the simulation too: the electron's code finished (its output is kept), the
	// simulation did not.
	tk = task("Long", "200000")
	tk.TimeLimit = 3 * time.Second
	if o := outcome(t, submit(e, tk)); o.Error != "time limit of 3s exceeded" || o.Stdout != "program built\n" {
		t.Fatalf("time limit: %+v", o)
	}
}
