package quantum

import (
	"encoding/json"
	"math"
	"reflect"
	"strings"
	"testing"
)

func TestCircuitMistakes(t *testing.T) {
	for _, tc := range []struct {
		c    *Circuit
		want string
	}{
		{New(0), "at least one qubit"},
		{New(2).H(2), "gate h: qubit 2 is out of range (the circuit has 2)"},
		{New(2).CX(1, 1), "gate cx: qubit 1 used twice"},
		{New(2).Gate("cx", []int{0}), "gate cx takes 2 qubits, got 1"},
		{New(1).Gate("rx", []int{0}), "gate rx takes 1 angles, got 0"},
		{New(1).RX(0, "half"), "angle 0 is a string"},
		{New(1).RX(0, math.NaN()), "not finite"},
		{New(1).RX(0, Param("x y")), `"x y" cannot name a parameter`},
		{New(1).RX(0, Param("pi")), `"pi" cannot name a parameter`},
		{New(1).RX(0, Param("h")), `"h" cannot name a parameter`},
		{New(1).Gate("foo", []int{0}), `unknown gate "foo"`},
		{New(2).Measure(0).H(0), "gate h on qubit 0 after it was measured"},
		{New(2).Measure(0, 0), "qubit 0 is measured twice"},
		{New(2).Measure(3), "measure: qubit 3 is out of range"},
		// The first mistake is the one reported.
		{New(1).H(5).X(7), "qubit 5"},
	} {
		err := tc.c.Err()
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("error %v, want %q", err, tc.want)
		}
		if _, err2 := tc.c.ToQASM(); err2 != err {
			t.Errorf("ToQASM error %v, want %v", err2, err)
		}
		if _, err2 := tc.c.Job(10); err2 != err {
			t.Errorf("Job error %v, want %v", err2, err)
		}
	}
}

func TestOpsNormalForm(t *testing.T) {
	c := New(3).CCX(0, 1, 2).Ctrl([]int{2}, "crz", []int{0, 1}, Param("a").Times(2).Plus(1)).CSwap(0, 1, 2).Measure()
	ops, err := c.Ops(map[string]float64{"a": 0.25})
	if err != nil {
		t.Fatal(err)
	}
	want := []Op{
		{Gate: "x", Qubits: []int{0, 1, 2}, Controls: 2},
		{Gate: "rz", Qubits: []int{2, 0, 1}, Controls: 2, Params: []float64{1.5}},
		{Gate: "swap", Qubits: []int{0, 1, 2}, Controls: 1},
	}
	if !reflect.DeepEqual(ops, want) {
		t.Fatalf("ops %v, want %v", ops, want)
	}
	if _, err := c.Ops(nil); err == nil || !strings.Contains(err.Error(), `no value for input parameter "a"`) {
		t.Fatalf("unbound parameter: %v", err)
	}
	if !reflect.DeepEqual(c.Params(), []string{"a"}) || !reflect.DeepEqual(c.Measured(), []int{0, 1, 2}) {
		t.Fatalf("params %v measured %v", c.Params(), c.Measured())
	}
}

func TestToQASM(t *testing.T) {
	src, err := New(3).H(0).Ctrl([]int{1, 2}, "rx", []int{0}, Param("w").Times(-0.5).Plus(-1)).CRY(0, 1, 2).Measure(2).ToQASM()
	if err != nil {
		t.Fatal(err)
	}
	want := `OPENQASM 3.0;
input float w;
qubit[3] q;
bit[1] b;
h q[0];
ctrl(2) @ rx(-0.5*w - 1.0) q[1], q[2], q[0];
ctrl @ ry(2.0) q[0], q[1];
b[0] = measure q[2];
`
	if src != want {
		t.Fatalf("got\n%s\nwant\n%s", src, want)
	}
}

func TestObservables(t *testing.T) {
	for in, want := range map[string]string{"Z0 Z1": "Z0 Z1", "x2*z0": "Z0 X2", "z0 @ y3": "Z0 Y3", "I": "I", "I0 Z1": "Z1"} {
		ps, err := ParseObservable(in)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if got := FormatObservable(ps); got != want {
			t.Errorf("%q -> %q, want %q", in, got, want)
		}
	}
	for in, want := range map[string]string{"": "empty", "Z": "needs a qubit index", "Q1": "not X, Y, Z or I", "Z0 X0": "qubit 0 appears twice", "Z-1": "needs a qubit index"} {
		if _, err := ParseObservable(in); err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("%q: error %v, want %q", in, err, want)
		}
	}
}

func TestJob(t *testing.T) {
	j, err := New(1).H(0).Job(100, "Z0", "X0")
	if err != nil || j.Shots != 100 || !reflect.DeepEqual(j.Observables, []string{"Z0", "X0"}) || !strings.Contains(j.QASM, "h q[0];") {
		t.Fatalf("job %+v, %v", j, err)
	}
	// A job travels as JSON between the electron and the executor.
	j.Inputs = map[string]float64{"a": 1}
	b, _ := json.Marshal(j)
	var back Job
	if err := json.Unmarshal(b, &back); err != nil || !reflect.DeepEqual(back, j) {
		t.Fatalf("JSON round trip: %+v, %v", back, err)
	}
	bad := Job{QASM: " ", Shots: -1, Observables: []string{"W1"}, Inputs: map[string]float64{"x": math.Inf(1)}}
	err = bad.Validate()
	for _, want := range []string{"no OpenQASM program", "shots must be from 0 to 1000000", "not X, Y, Z or I", `input "x" is not finite`} {
		if err == nil || !strings.Contains(err.Error(), want) {
			t.Errorf("Validate: %v, want %q", err, want)
		}
	}
}

// A circuit an electron returns travels as its OpenQASM text; a broken one cannot be encoded.
func TestCircuitJSON(t *testing.T) {
	c := New(1).X(0)
	b, err := json.Marshal(c)
	src, _ := c.ToQASM()
	var got string
	if err != nil || json.Unmarshal(b, &got) != nil || got != src {
		t.Fatalf("encoded %s, %v", b, err)
	}
	if _, err := json.Marshal(New(1).H(4)); err == nil || !strings.Contains(err.Error(), "qubit 4 is out of range") {
		t.Fatalf("broken circuit: %v", err)
	}
}

func TestMostLikely(t *testing.T) {
	r := Result{Probabilities: map[string]float64{"01": 0.25, "10": 0.375, "11": 0.375}}
	if got := r.MostLikely(); got != "10" {
		t.Fatalf("MostLikely %q", got)
	}
	if got := (Result{}).MostLikely(); got != "" {
		t.Fatalf("MostLikely of nothing %q", got)
	}
}
