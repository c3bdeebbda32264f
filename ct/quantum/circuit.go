// Package quantum builds quantum circuits for govalent's quantum executors.
//
// A quantum electron is an ordinary electron that returns a Job (a circuit as OpenQASM 3 text, shots, a seed,
// the observables to evaluate and the values of its input parameters), a *Circuit, or OpenQASM text (the last
// two run with the shots and observables of the executor's settings, e.g. ct.With("shots", 100)); an electron
// with ct.Executor("qsim") or ct.Executor("braket") runs, and the executor then runs the job on the local
// state-vector simulator or as an Amazon Braket quantum task. The node's output is a Result: counts keyed by
// big-endian bitstrings (the first character is the first measured qubit), probabilities, the measured qubits
// and the expectation values of the observables.
//
//	c := quantum.New(2).H(0).CX(0, 1).RY(1, quantum.Param("theta")).Measure()
//	job, err := c.Job(1000, "Z0 Z1")
//	job.Inputs = map[string]float64{"theta": 0.3}
//
// The package has no dependencies beyond the standard library, so notebook cells can import it.
package quantum

import (
	"errors"
	"fmt"
	"math"
	"sort"
	"strconv"
	"strings"
)

// Angle is a gate angle: a constant, or Coef*Param + Value where Param is an input parameter of the circuit
// (an OpenQASM `input float`), bound when the job runs.
type Angle struct {
	Value float64 `json:"value,omitempty"`
	Param string  `json:"param,omitempty"`
	Coef  float64 `json:"coef,omitempty"`
}

// Param is the input parameter called name, as an angle.
func Param(name string) Angle { return Angle{Param: name, Coef: 1} }

// Times scales an angle: Param("a").Times(2) is 2*a.
func (a Angle) Times(k float64) Angle {
	return Angle{Value: a.Value * k, Param: a.Param, Coef: a.Coef * k}
}

// Plus adds a constant: Param("a").Plus(math.Pi) is a + π.
func (a Angle) Plus(v float64) Angle { a.Value += v; return a }

func (a Angle) bind(inputs map[string]float64) (float64, error) {
	if a.Param == "" {
		return a.Value, nil
	}
	v, ok := inputs[a.Param]
	if !ok {
		return 0, fmt.Errorf("no value for input parameter %q", a.Param)
	}
	return a.Coef*v + a.Value, nil
}

func (a Angle) qasm() string {
	if a.Param == "" {
		return fmtFloat(a.Value)
	}
	s := a.Param
	if a.Coef != 1 {
		s = fmtFloat(a.Coef) + "*" + a.Param
	}
	switch {
	case a.Value > 0:
		s += " + " + fmtFloat(a.Value)
	case a.Value < 0:
		s += " - " + fmtFloat(-a.Value)
	}
	return s
}

// fmtFloat writes the shortest text that reads back as exactly v.
func fmtFloat(v float64) string {
	s := strconv.FormatFloat(v, 'g', -1, 64)
	if !strings.ContainsAny(s, ".eEn") { // keep it a float literal; "n" covers NaN and Inf, rejected earlier
		s += ".0"
	}
	return s
}

type gateOp struct {
	gate     GateInfo
	qubits   []int // modifier controls, then the gate's own qubits
	controls int   // modifier controls (ctrl @)
	angles   []Angle
}

// Circuit is a sequence of gates on NumQubits qubits followed by measurements. Methods return the circuit so
// that calls chain; the first mistake (a qubit out of range, a repeated qubit, a wrong number of angles) is
// kept and reported by Err, Ops, ToQASM and Job.
type Circuit struct {
	n        int
	ops      []gateOp
	measured []int
	params   []string
	err      error
}

// New is an empty circuit on n qubits.
func New(n int) *Circuit {
	c := &Circuit{n: n}
	if n < 1 {
		c.err = fmt.Errorf("a circuit needs at least one qubit, not %d", n)
	}
	return c
}

// NumQubits is the number of qubits.
func (c *Circuit) NumQubits() int { return c.n }

// Err is the first mistake made building the circuit.
func (c *Circuit) Err() error { return c.err }

// Params lists the input parameters the angles use, in order of first use.
func (c *Circuit) Params() []string { return append([]string(nil), c.params...) }

// Measured lists the measured qubits in order of measurement; none means every qubit is measured.
func (c *Circuit) Measured() []int { return append([]int(nil), c.measured...) }

func (c *Circuit) fail(format string, args ...any) *Circuit {
	if c.err == nil {
		c.err = fmt.Errorf(format, args...)
	}
	return c
}

// Gate appends a gate of the standard set by name (or OpenQASM alias) on qubits (its controls first) with
// angles, each a float64, an int or an Angle.
func (c *Circuit) Gate(name string, qubits []int, angles ...any) *Circuit {
	return c.Ctrl(nil, name, qubits, angles...)
}

// Ctrl appends gate name on qubits controlled by the extra qubits controls (OpenQASM's ctrl @ modifier):
// Ctrl([]int{0, 1}, "rz", []int{2}, 0.5) is a doubly controlled rz.
func (c *Circuit) Ctrl(controls []int, name string, qubits []int, angles ...any) *Circuit {
	if c.err != nil {
		return c
	}
	g, ok := LookupGate(name)
	if !ok {
		return c.fail("unknown gate %q", name)
	}
	if len(qubits) != g.Qubits() {
		return c.fail("gate %s takes %d qubits, got %d", name, g.Qubits(), len(qubits))
	}
	if len(angles) != g.Params {
		return c.fail("gate %s takes %d angles, got %d", name, g.Params, len(angles))
	}
	all := append(append([]int(nil), controls...), qubits...)
	used := map[int]bool{}
	for _, q := range all {
		if q < 0 || q >= c.n {
			return c.fail("gate %s: qubit %d is out of range (the circuit has %d)", name, q, c.n)
		}
		if used[q] {
			return c.fail("gate %s: qubit %d used twice", name, q)
		}
		if c.isMeasured(q) {
			return c.fail("gate %s on qubit %d after it was measured: measurements must come last", name, q)
		}
		used[q] = true
	}
	op := gateOp{gate: g, qubits: all, controls: len(controls)}
	for i, a := range angles {
		var ang Angle
		switch v := a.(type) {
		case float64:
			ang = Angle{Value: v}
		case int:
			ang = Angle{Value: float64(v)}
		case Angle:
			ang = v
		default:
			return c.fail("gate %s: angle %d is a %T; use a float64 or a quantum.Angle", name, i, a)
		}
		if math.IsNaN(ang.Value) || math.IsInf(ang.Value, 0) || math.IsNaN(ang.Coef) || math.IsInf(ang.Coef, 0) {
			return c.fail("gate %s: angle %d is not finite", name, i)
		}
		if ang.Param != "" {
			if !isIdent(ang.Param) {
				return c.fail("gate %s: %q cannot name a parameter (not an identifier, or an OpenQASM name)", name, ang.Param)
			}
			if !contains(c.params, ang.Param) {
				c.params = append(c.params, ang.Param)
			}
		}
		op.angles = append(op.angles, ang)
	}
	c.ops = append(c.ops, op)
	return c
}

func (c *Circuit) isMeasured(q int) bool { return contains(c.measured, q) }

func contains[T comparable](xs []T, x T) bool {
	for _, y := range xs {
		if y == x {
			return true
		}
	}
	return false
}

func isIdent(s string) bool {
	for i, r := range s {
		if !(r == '_' || r >= 'a' && r <= 'z' || r >= 'A' && r <= 'Z' || i > 0 && r >= '0' && r <= '9') {
			return false
		}
	}
	_, gate := LookupGate(s)
	return s != "" && !gate && !reserved[s]
}

// reserved are OpenQASM words a parameter cannot be called: keywords, constants and functions.
var reserved = map[string]bool{"pi": true, "tau": true, "euler": true, "input": true, "float": true, "angle": true,
	"qubit": true, "bit": true, "qreg": true, "creg": true, "gate": true, "measure": true, "barrier": true, "reset": true,
	"ctrl": true, "inv": true, "pow": true, "negctrl": true, "include": true, "OPENQASM": true, "q": true, "b": true,
	"sin": true, "cos": true, "tan": true, "arcsin": true, "arccos": true, "arctan": true, "exp": true, "log": true, "sqrt": true}

// Measure measures qubits at the end of the circuit, in this order (which is the order of the characters of
// the result's bitstrings); with none, every qubit not yet measured, in ascending order.
func (c *Circuit) Measure(qubits ...int) *Circuit {
	if c.err != nil {
		return c
	}
	if len(qubits) == 0 {
		for q := 0; q < c.n; q++ {
			if !c.isMeasured(q) {
				qubits = append(qubits, q)
			}
		}
	}
	for _, q := range qubits {
		if q < 0 || q >= c.n {
			return c.fail("measure: qubit %d is out of range (the circuit has %d)", q, c.n)
		}
		if c.isMeasured(q) {
			return c.fail("measure: qubit %d is measured twice", q)
		}
		c.measured = append(c.measured, q)
	}
	return c
}

// H, X, Y, Z, S, Sdg, T, Tdg apply the single-qubit Clifford+T gates.
func (c *Circuit) H(q int) *Circuit   { return c.Gate("h", []int{q}) }
func (c *Circuit) X(q int) *Circuit   { return c.Gate("x", []int{q}) }
func (c *Circuit) Y(q int) *Circuit   { return c.Gate("y", []int{q}) }
func (c *Circuit) Z(q int) *Circuit   { return c.Gate("z", []int{q}) }
func (c *Circuit) S(q int) *Circuit   { return c.Gate("s", []int{q}) }
func (c *Circuit) Sdg(q int) *Circuit { return c.Gate("sdg", []int{q}) }
func (c *Circuit) T(q int) *Circuit   { return c.Gate("t", []int{q}) }
func (c *Circuit) Tdg(q int) *Circuit { return c.Gate("tdg", []int{q}) }

// RX, RY, RZ rotate about an axis; Phase multiplies |1> by e^{iθ}; U is OpenQASM's U(θ, φ, λ). Angles are a
// float64, an int or an Angle (an input parameter).
func (c *Circuit) RX(q int, theta any) *Circuit    { return c.Gate("rx", []int{q}, theta) }
func (c *Circuit) RY(q int, theta any) *Circuit    { return c.Gate("ry", []int{q}, theta) }
func (c *Circuit) RZ(q int, theta any) *Circuit    { return c.Gate("rz", []int{q}, theta) }
func (c *Circuit) Phase(q int, theta any) *Circuit { return c.Gate("phase", []int{q}, theta) }
func (c *Circuit) U(q int, theta, phi, lambda any) *Circuit {
	return c.Gate("u", []int{q}, theta, phi, lambda)
}

// CX, CY, CZ, CPhase, CRX, CRY, CRZ are controlled by their first qubit; Swap exchanges two qubits; CCX is
// the Toffoli gate and CSwap the Fredkin gate.
func (c *Circuit) CX(ctl, tgt int) *Circuit { return c.Gate("cx", []int{ctl, tgt}) }
func (c *Circuit) CY(ctl, tgt int) *Circuit { return c.Gate("cy", []int{ctl, tgt}) }
func (c *Circuit) CZ(ctl, tgt int) *Circuit { return c.Gate("cz", []int{ctl, tgt}) }
func (c *Circuit) CPhase(ctl, tgt int, theta any) *Circuit {
	return c.Gate("cphase", []int{ctl, tgt}, theta)
}
func (c *Circuit) CRX(ctl, tgt int, theta any) *Circuit { return c.Gate("crx", []int{ctl, tgt}, theta) }
func (c *Circuit) CRY(ctl, tgt int, theta any) *Circuit { return c.Gate("cry", []int{ctl, tgt}, theta) }
func (c *Circuit) CRZ(ctl, tgt int, theta any) *Circuit { return c.Gate("crz", []int{ctl, tgt}, theta) }
func (c *Circuit) Swap(a, b int) *Circuit               { return c.Gate("swap", []int{a, b}) }
func (c *Circuit) CCX(c1, c2, tgt int) *Circuit         { return c.Gate("ccx", []int{c1, c2, tgt}) }
func (c *Circuit) CSwap(ctl, a, b int) *Circuit         { return c.Gate("cswap", []int{ctl, a, b}) }

// Ops binds the input parameters and returns the gates in the simulators' normal form.
func (c *Circuit) Ops(inputs map[string]float64) ([]Op, error) {
	if c.err != nil {
		return nil, c.err
	}
	ops := make([]Op, 0, len(c.ops))
	for _, g := range c.ops {
		op := Op{Gate: g.gate.Base, Qubits: append([]int(nil), g.qubits...), Controls: g.controls + g.gate.Controls}
		for _, a := range g.angles {
			v, err := a.bind(inputs)
			if err != nil {
				return nil, fmt.Errorf("gate %s: %w", g.gate.Name, err)
			}
			op.Params = append(op.Params, v)
		}
		ops = append(ops, op)
	}
	return ops, nil
}

// ToQASM writes the circuit as an OpenQASM 3 program in Braket's gate set: one register q, a bit register b
// for the measurements, and an `input float` declaration per parameter.
func (c *Circuit) ToQASM() (string, error) {
	if c.err != nil {
		return "", c.err
	}
	var b strings.Builder
	b.WriteString("OPENQASM 3.0;\n")
	for _, p := range c.params {
		fmt.Fprintf(&b, "input float %s;\n", p)
	}
	fmt.Fprintf(&b, "qubit[%d] q;\n", c.n)
	if len(c.measured) > 0 {
		fmt.Fprintf(&b, "bit[%d] b;\n", len(c.measured))
	}
	for _, g := range c.ops {
		name, controls := g.gate.Braket, g.controls
		if name == "" { // no Braket gate: the base gate under ctrl @
			name, controls = g.gate.Base, controls+g.gate.Controls
		}
		if name == "u" {
			name = "U"
		} else if name == "phase" {
			name = "phaseshift"
		}
		switch {
		case controls == 1:
			b.WriteString("ctrl @ ")
		case controls > 1:
			fmt.Fprintf(&b, "ctrl(%d) @ ", controls)
		}
		b.WriteString(name)
		if len(g.angles) > 0 {
			as := make([]string, len(g.angles))
			for i, a := range g.angles {
				as[i] = a.qasm()
			}
			b.WriteString("(" + strings.Join(as, ", ") + ")")
		}
		qs := make([]string, len(g.qubits))
		for i, q := range g.qubits {
			qs[i] = fmt.Sprintf("q[%d]", q)
		}
		b.WriteString(" " + strings.Join(qs, ", ") + ";\n")
	}
	for i, q := range c.measured {
		fmt.Fprintf(&b, "b[%d] = measure q[%d];\n", i, q)
	}
	return b.String(), nil
}

// MarshalText writes the circuit as its OpenQASM text (in JSON too, as a string), so that an electron may
// return a *Circuit: the executor runs it like OpenQASM text, with the shots and observables of its settings.
func (c *Circuit) MarshalText() ([]byte, error) {
	src, err := c.ToQASM()
	if err != nil {
		return nil, err
	}
	return []byte(src), nil
}

// UnmarshalText refuses: a circuit travels as OpenQASM text, which an electron takes as a string.
func (c *Circuit) UnmarshalText([]byte) error {
	return errors.New("quantum: a Circuit cannot be decoded; take its OpenQASM text as a string")
}

// Job is what a quantum electron returns and a quantum executor runs.
type Job struct {
	QASM  string `json:"qasm"`
	Shots int    `json:"shots"` // 0: exact probabilities (qsim), or result types only (Braket)
	// Seed makes qsim's sampling reproducible; 0 picks a random seed.
	Seed int64 `json:"seed,omitempty"`
	// Observables are Pauli strings ("Z0 Z1", "X0") whose expectation values the result reports.
	Observables []string `json:"observables,omitempty"`
	// Inputs are the values of the program's input float parameters.
	Inputs map[string]float64 `json:"inputs,omitempty"`
}

// Job turns the circuit into a job with shots and observables.
func (c *Circuit) Job(shots int, observables ...string) (Job, error) {
	src, err := c.ToQASM()
	if err != nil {
		return Job{}, err
	}
	j := Job{QASM: src, Shots: shots, Observables: observables}
	return j, j.Validate()
}

// MaxShots bounds a job's shots (Braket's devices take at most 100,000; the local simulator samples a million
// in about a second).
const MaxShots = 1_000_000

// Validate checks what can be checked without parsing the program.
func (j Job) Validate() error {
	var errs []error
	if strings.TrimSpace(j.QASM) == "" {
		errs = append(errs, errors.New("the job has no OpenQASM program"))
	}
	if j.Shots < 0 || j.Shots > MaxShots {
		errs = append(errs, fmt.Errorf("shots must be from 0 to %d, not %d", MaxShots, j.Shots))
	}
	for _, o := range j.Observables {
		if _, err := ParseObservable(o); err != nil {
			errs = append(errs, err)
		}
	}
	for k, v := range j.Inputs {
		if math.IsNaN(v) || math.IsInf(v, 0) {
			errs = append(errs, fmt.Errorf("input %q is not finite", k))
		}
	}
	return errors.Join(errs...)
}

// Result is the output of a quantum node.
type Result struct {
	// Counts of each outcome, keyed by bitstring: character i is the value of MeasuredQubits[i]. Empty when
	// Shots is 0.
	Counts map[string]int `json:"counts,omitempty"`
	// Probabilities of the outcomes: exact when Shots is 0, else the observed frequencies. Outcomes with
	// probability below 1e-15 are left out.
	Probabilities  map[string]float64 `json:"probabilities"`
	MeasuredQubits []int              `json:"measured_qubits"`
	// Expectations of the job's observables, keyed as the job wrote them: exact on qsim, estimated from
	// the shots on a device that samples.
	Expectations map[string]float64 `json:"expectations,omitempty"`
	Shots        int                `json:"shots"`
	Seed         int64              `json:"seed,omitempty"`
	Device       string             `json:"device"`             // "qsim", or the Braket device ARN
	TaskARN      string             `json:"task_arn,omitempty"` // Braket
}

// MostLikely is the outcome with the highest probability (the smallest bitstring among equals).
func (r Result) MostLikely() string {
	keys := make([]string, 0, len(r.Probabilities))
	for k := range r.Probabilities {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	best := ""
	for _, k := range keys {
		if best == "" || r.Probabilities[k] > r.Probabilities[best] {
			best = k
		}
	}
	return best
}
