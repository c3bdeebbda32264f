package qasm

import (
	"errors"
	"math"
	"reflect"
	"strconv"
	"strings"
	"testing"

	"github.com/govalent/govalent/ct/quantum"
)

func bind(t *testing.T, src string, inputs map[string]float64) (*Program, []quantum.Op) {
	t.Helper()
	prog, err := Parse(src)
	if err != nil {
		t.Fatalf("%v\n%s", err, src)
	}
	ops, err := prog.Bind(inputs)
	if err != nil {
		t.Fatal(err)
	}
	return prog, ops
}

// TestRoundTrip exports every gate of the circuit API, with constant, parametric and controlled forms, and
// parses it back to the same ops.
func TestRoundTrip(t *testing.T) {
	th := quantum.Param("theta")
	c := quantum.New(4).
		H(0).X(1).Y(2).Z(3).S(0).Sdg(1).T(2).Tdg(3).
		RX(0, 0.1).RY(1, -2.5e-7).RZ(2, th).Phase(3, th.Times(-2).Plus(math.Pi)).U(0, 1, th.Plus(-0.25), 3).
		CX(0, 1).CY(1, 2).CZ(2, 3).CPhase(3, 0, 0.7).CRX(0, 2, th).CRY(1, 3, 1.0/3).CRZ(2, 0, -1).
		Swap(0, 3).CCX(0, 1, 2).CSwap(3, 1, 0).
		Gate("ch", []int{1, 0}).Gate("cu", []int{2, 3}, 0.1, 0.2, th).Gate("i", []int{1}).
		Ctrl([]int{3}, "rz", []int{0}, th.Times(0.5)).Ctrl([]int{0, 1}, "cx", []int{2, 3}).Ctrl([]int{2}, "swap", []int{0, 1}).
		Measure(3, 1)
	src, err := c.ToQASM()
	if err != nil {
		t.Fatal(err)
	}
	in := map[string]float64{"theta": 0.37}
	want, err := c.Ops(in)
	if err != nil {
		t.Fatal(err)
	}
	prog, got := bind(t, src, in)
	if !reflect.DeepEqual(got, want) {
		t.Fatalf("round trip differs\n%s\ngot  %v\nwant %v", src, got, want)
	}
	if !reflect.DeepEqual(prog.Measured, []int{3, 1}) || !reflect.DeepEqual(prog.Inputs, []string{"theta"}) || prog.NumQubits != 4 {
		t.Fatalf("measured %v inputs %v qubits %d", prog.Measured, prog.Inputs, prog.NumQubits)
	}
	for _, braket := range []string{"cnot q[0], q[1];", "si q[1];", "ti q[3];", "phaseshift(", "ccnot ", "U(", "ctrl @ rx(theta) q[0], q[2];", "b[0] = measure q[3];"} {
		if !strings.Contains(src, braket) {
			t.Errorf("export lacks %q:\n%s", braket, src)
		}
	}
}

func TestGateDefinitionsAndModifiers(t *testing.T) {
	src := `OPENQASM 3.0;
include "stdgates.inc";
/* a block
   comment */
input float[64] a;
qreg r[2];
qubit[2] q;
creg c[2];
gate rot(x, y) u { rz(x) u; ry(y / 2) u; }
gate bell p, t { h p; cnot p, t; }
gate both(x) p, t { bell p, t; rot(x, -x) t; }
both(a * 2) r[0], q[1];
inv @ both(pi) r[1], q[0];
ctrl @ rot(1, 2) q[0], r[0];
h q;           // broadcast over the register
cx r, q;       // pairwise
barrier r, q[0];
measure r -> c;
#pragma braket result expectation z(r[0]) @ x(q[1])
#pragma braket result probability all
`
	prog, ops := bind(t, src, map[string]float64{"a": 0.5})
	a2 := 1.0
	want := []quantum.Op{
		{Gate: "h", Qubits: []int{0}},
		{Gate: "x", Qubits: []int{0, 3}, Controls: 1},
		{Gate: "rz", Qubits: []int{3}, Params: []float64{a2}},
		{Gate: "ry", Qubits: []int{3}, Params: []float64{-a2 / 2}},
		// inverse: reversed, angles negated
		{Gate: "ry", Qubits: []int{2}, Params: []float64{math.Pi / 2}},
		{Gate: "rz", Qubits: []int{2}, Params: []float64{-math.Pi}},
		{Gate: "x", Qubits: []int{1, 2}, Controls: 1},
		{Gate: "h", Qubits: []int{1}},
		{Gate: "rz", Qubits: []int{2, 0}, Controls: 1, Params: []float64{1}},
		{Gate: "ry", Qubits: []int{2, 0}, Controls: 1, Params: []float64{1}},
		{Gate: "h", Qubits: []int{2}},
		{Gate: "h", Qubits: []int{3}},
		{Gate: "x", Qubits: []int{0, 2}, Controls: 1},
		{Gate: "x", Qubits: []int{1, 3}, Controls: 1},
	}
	if !reflect.DeepEqual(ops, want) {
		t.Fatalf("ops\ngot  %v\nwant %v", ops, want)
	}
	if !reflect.DeepEqual(prog.Measured, []int{0, 1}) {
		t.Fatalf("measured %v", prog.Measured)
	}
	wantRT := []ResultType{
		{Type: "expectation", Observable: []quantum.Pauli{{Op: 'Z', Qubit: 0}, {Op: 'X', Qubit: 3}}, Pos: Pos{19, 1}},
		{Type: "probability", Pos: Pos{20, 1}},
	}
	if !reflect.DeepEqual(prog.Results, wantRT) {
		t.Fatalf("result types %+v", prog.Results)
	}
	if prog.QubitRef(3) != "q[1]" || prog.QubitRef(1) != "r[1]" {
		t.Fatalf("qubit refs %s %s", prog.QubitRef(3), prog.QubitRef(1))
	}
}

func TestExpressions(t *testing.T) {
	_, ops := bind(t, `input angle th; qubit q;
rx(-pi/4 + 2*th**2) q; ry(sin(th) * cos(0) - sqrt(4)) q; rz(tau - π + euler) q; phaseshift(1_000.5e-3) q; U(.5, -(1), +2) q;`,
		map[string]float64{"th": 3})
	got := []float64{ops[0].Params[0], ops[1].Params[0], ops[2].Params[0], ops[3].Params[0]}
	want := []float64{-math.Pi/4 + 18, math.Sin(3) - 2, math.Pi + math.E, 1.0005}
	for i := range want {
		if math.Abs(got[i]-want[i]) > 1e-12 {
			t.Errorf("angle %d = %v, want %v", i, got[i], want[i])
		}
	}
	if !reflect.DeepEqual(ops[4].Params, []float64{0.5, -1, 2}) {
		t.Errorf("U angles %v", ops[4].Params)
	}
}

// TestErrors: bad programs get an error at the right line and column.
func TestErrors(t *testing.T) {
	for _, tc := range []struct{ src, want string }{
		{"qubit q;\nfoo q;", "2:1: unknown gate foo"},
		{"qubit q;\nh q[1];", "2:5: expected an index of q (size 1)"},
		{"qubit[2] q;\ncx q[0], q[0];", "2:1: cx uses qubit 0 twice"},
		{"qubit q;\nrx q;", "2:1: rx takes 1 angles, got 0"},
		{"qubit q;\nrx(th) q;", "2:4: unknown identifier th in an angle"},
		{"qubit q;\nh q", "2:4: expected \",\", found end of program"},
		{"qubit q;\nbit b;\nb = measure q;\nh q;", "4:1: gate h on qubit 0 after it was measured"},
		{"qubit q;\nmeasure q;\nmeasure q;", "3:9: qubit 0 is measured twice"},
		{"qubit[2] q;\nbit[3] b;\nb = measure q;", "3:13: 3 bits cannot hold the measurement of 2 qubits"},
		{"qubit[2] q;\nbit[2] c;\nmeasure q -> c[0];", "3:9: 1 bits cannot hold the measurement of 2 qubits"},
		{"qubit q;\nbit[2] c;\nmeasure q -> c[2];", "3:16: expected an index of c (size 2), found \"2\""},
		{"qubit q;\nmeasure q -> d;", "2:14: d is not a bit register"},
		{"qubit[2] q;\nbit[2] c = measure q[0];", "2:20: 2 bits cannot hold the measurement of 1 qubits"},
		{"qubit q;\nqubit q;", "2:7: \"q\" is already declared"},
		{"qubit[0] q;", "1:7: register size 0 is not between 1 and 1024"},
		{"qubit[2000] q;", "1:7: register size 2000 is not between"},
		{"qubit q;\n  negctrl @ x q;", "2:3: the negctrl modifier is not supported"},
		{"qubit q;\nreset q;", "2:1: reset is not supported"},
		{"include \"other.inc\";", "1:9: cannot include \"other.inc\""},
		{"qubit q;\n/* open", "2:1: comment not closed"},
		{"qubit q;\nh q; $", "2:6: unexpected character '$'"},
		{"qubit q;\n#pragma braket verbatim", "2:1: unsupported pragma"},
		{"qubit q;\n#pragma braket result expectation h(q[0])", "2:35: observable h is not supported"},
		{"qubit q;\n#pragma braket result expectation z(q[0]) @ z(q[0])", "2:47: qubit 0 appears twice"},
		{"qubit q;\ngate g a { h b; }", "2:14: b is not a qubit of gate g"},
		{"qubit q;\ngate g a { g a; }", "2:12: unknown gate g"},
		{"qubit q;\ngate g(x) a { rx a; }", "2:15: rx takes 1 angles and 1 qubits, got 0 and 1"},
		{"qubit[2] q;\nqubit[3] r;\ncx q, r;", "3:7: registers of different sizes (2 and 3)"},
		{"bit b;", "1:7: the program declares no qubits"},
		{"qubit q;\nOPENQASM 3;", "2:1: the OPENQASM version must be the first statement"},
		{"input int n;", "1:7: input parameters must be float or angle"},
		{"qubit h;", "1:7: \"h\" is a built-in gate"},
		{"input float sin;", "1:13: \"sin\" is a built-in function"},
		{"qubit q;\n\"x\"", "2:1: expected a statement, found string \"x\""},
		{"qubit q;\nh q;\xff", "2:5: invalid UTF-8"},
	} {
		_, err := Parse(tc.src)
		if err == nil || !strings.Contains(err.Error(), tc.want) {
			t.Errorf("%q:\n got %v\nwant %q", tc.src, err, tc.want)
		}
	}
}

func TestBindErrors(t *testing.T) {
	prog, err := Parse("input float a;\nqubit q;\nrx(1/(a-a)) q;")
	if err != nil {
		t.Fatal(err)
	}
	if _, err := prog.Bind(nil); err == nil || !strings.Contains(err.Error(), `no value for input parameter "a"`) {
		t.Errorf("missing input: %v", err)
	}
	if _, err := prog.Bind(map[string]float64{"a": 1, "b": 2}); err == nil || !strings.Contains(err.Error(), `input "b" is not a parameter`) {
		t.Errorf("extra input: %v", err)
	}
	if _, err := prog.Bind(map[string]float64{"a": 1}); err == nil || !strings.Contains(err.Error(), "3:1: angle of rx is +Inf") {
		t.Errorf("NaN angle: %v", err)
	}
}

// TestExpansionBound: nested definitions that double at each level stop at MaxOps instead of exhausting
// memory.
func TestExpansionBound(t *testing.T) {
	src := "qubit q;\ngate g0 a { h a; h a; }\n"
	for i := 1; i <= 25; i++ {
		src += "gate g" + strconv.Itoa(i) + " a { g" + strconv.Itoa(i-1) + " a; g" + strconv.Itoa(i-1) + " a; }\n"
	}
	src += "g25 q;\n"
	if _, err := Parse(src); err == nil || !strings.Contains(err.Error(), "more than 1048576 gates") {
		t.Fatalf("expansion: %v", err)
	}
}

// FuzzParse: no input makes the parser panic or hang, errors carry a position inside the source, and a
// program that parses binds or fails cleanly.
func FuzzParse(f *testing.F) {
	for _, s := range []string{
		"OPENQASM 3;\nqubit[2] q;\nh q[0];\ncnot q[0], q[1];\nbit[2] b;\nb = measure q;",
		"OPENQASM 3.0;\ninput float t;\nqubit q;\nrx(2*t + pi/2) q;\n#pragma braket result expectation z(q[0])",
		"qreg q[3];\ncreg c[3];\ngate g(a) x, y { ctrl @ rz(a) x, y; inv @ s y; }\ng(0.5) q[0], q[2];\nmeasure q -> c;",
		"qubit[2] q; ctrl(1) @ U(1, 2, 3) q[0], q[1]; /* c */ // d\n#pragma braket result probability q[0], q[1]",
		"qubit q;\nrx(sin(cos(1)) ** -2) q;",
		"gate",
		"qubit[",
		"#pragma",
	} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		prog, err := Parse(src)
		if err != nil {
			var pe *Error
			if !errors.As(err, &pe) {
				t.Fatalf("error without a position: %v", err)
			}
			lines := strings.Count(src, "\n") + 1
			if pe.Pos.Line < 1 || pe.Pos.Line > lines || pe.Pos.Col < 1 {
				t.Fatalf("error at %v outside the source (%d lines): %v", pe.Pos, lines, err)
			}
			return
		}
		in := map[string]float64{}
		for _, name := range prog.Inputs {
			in[name] = 0.5
		}
		ops, err := prog.Bind(in)
		if err != nil {
			return
		}
		for _, op := range ops {
			if len(op.Qubits) == 0 || op.Controls > len(op.Qubits) {
				t.Fatalf("malformed op %+v", op)
			}
			for _, q := range op.Qubits {
				if q < 0 || q >= prog.NumQubits {
					t.Fatalf("op %+v outside %d qubits", op, prog.NumQubits)
				}
			}
		}
	})
}
