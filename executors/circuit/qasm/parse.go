// Package qasm parses the OpenQASM 3 subset that Amazon Braket accepts for gate-model programs: qubit and bit
// declarations (also OpenQASM 2's qreg and creg), the standard gates in Braket's and stdgates.inc's names,
// gate definitions, the ctrl @ and inv @ modifiers, measurement at the end of the program, input float
// parameters, angle expressions, comments, barriers, and Braket's result-type pragmas for expectation values
// and probabilities. Errors name the line and column.
//
// Parse flattens the program: registers become one qubit index space (in declaration order), gate
// definitions are inlined, broadcasts over registers are expanded. Bind evaluates the angles for given
// inputs and gives the ops in ct/quantum's normal form.
package qasm

import (
	"fmt"
	"math"
	"strconv"
	"strings"

	"github.com/govalent/govalent/ct/quantum"
)

// MaxQubits bounds the qubits a program may declare; MaxOps bounds the gates after inlining, so that a small
// program cannot expand to an unbounded one. ParseLimited takes lower bounds.
const (
	MaxQubits = 1024
	MaxOps    = 1 << 20
)

// Limits bound what a program may declare and expand to: its qubits, and its gates once definitions are
// inlined and broadcasts expanded.
type Limits struct {
	Qubits, Gates int
}

// QubitsError is a program that declares more qubits than its Limits allow.
type QubitsError struct {
	Pos           Pos
	Qubits, Limit int // Qubits: declared so far, counting the declaration that went over
}

func (e *QubitsError) Error() string {
	return fmt.Sprintf("%s: the program declares %d qubits, more than the %d allowed", e.Pos, e.Qubits, e.Limit)
}

// Program is a parsed, flattened program.
type Program struct {
	NumQubits int
	Inputs    []string // input parameters, in declaration order
	Ops       []Op
	Measured  []int        // measured qubits in order of measurement; empty: none measured explicitly
	Results   []ResultType // from #pragma braket result lines
	Registers []Register   // qubit registers, in declaration order
}

// Register is a qubit register: qubits Start to Start+Size-1 of the program.
type Register struct {
	Name        string
	Start, Size int
}

// QubitRef is how the program names qubit i, e.g. "q[3]".
func (prog *Program) QubitRef(i int) string {
	for _, r := range prog.Registers {
		if i >= r.Start && i < r.Start+r.Size {
			return fmt.Sprintf("%s[%d]", r.Name, i-r.Start)
		}
	}
	return fmt.Sprintf("$%d", i)
}

// Op is a gate with unevaluated angles; Gate is a base gate of ct/quantum (controls first in Qubits).
type Op struct {
	Gate     string
	Qubits   []int
	Controls int
	Params   []Expr
	Pos      Pos
}

// ResultType is a Braket result type requested by a pragma.
type ResultType struct {
	Type       string          // "expectation" or "probability"
	Observable []quantum.Pauli // expectation: the Pauli factors (none is the identity)
	Qubits     []int           // probability: the qubits (none: all)
	Pos        Pos
}

type register struct {
	start, size int
}

type gateDef struct {
	params []string
	qubits []string
	body   []gateCall
}

// gateCall is a call inside a gate body, on the gate's qubit parameters.
type gateCall struct {
	ctrl   int
	inv    bool
	name   string
	args   []Expr
	qubits []string
	pos    Pos
}

type parser struct {
	toks     []token
	i        int
	prog     Program
	qregs    map[string]register
	cregs    map[string]register
	gates    map[string]*gateDef
	names    map[string]bool // every declared name
	measured map[int]bool
	limits   Limits
}

// Parse reads an OpenQASM 3 program of up to MaxQubits qubits and MaxOps gates.
func Parse(src string) (*Program, error) {
	return ParseLimited(src, Limits{Qubits: MaxQubits, Gates: MaxOps})
}

// ParseLimited reads an OpenQASM 3 program within lim (each capped by MaxQubits and MaxOps). Declarations
// beyond lim.Qubits fail as they are read, with a *QubitsError, before any gate is expanded.
func ParseLimited(src string, lim Limits) (*Program, error) {
	lim.Qubits, lim.Gates = min(lim.Qubits, MaxQubits), min(lim.Gates, MaxOps)
	toks, err := lex(src)
	if err != nil {
		return nil, err
	}
	p := &parser{toks: toks, qregs: map[string]register{}, cregs: map[string]register{}, gates: map[string]*gateDef{},
		names: map[string]bool{}, measured: map[int]bool{}, limits: lim}
	if t := p.peek(); t.kind == tIdent && t.text == "OPENQASM" {
		p.next()
		v := p.next()
		if v.kind != tInt && v.kind != tFloat || !strings.HasPrefix(v.text, "3") && !strings.HasPrefix(v.text, "2") {
			return nil, errorf(v.pos, "expected the OpenQASM version (3), found %s", v)
		}
		if err := p.expect(";"); err != nil {
			return nil, err
		}
	}
	for p.peek().kind != tEOF {
		if err := p.statement(); err != nil {
			return nil, err
		}
	}
	if p.prog.NumQubits == 0 {
		return nil, errorf(p.peek().pos, "the program declares no qubits")
	}
	return &p.prog, nil
}

func (p *parser) peek() token { return p.toks[p.i] }

func (p *parser) next() token {
	t := p.toks[p.i]
	if t.kind != tEOF {
		p.i++
	}
	return t
}

func (p *parser) is(punct string) bool {
	t := p.peek()
	return t.kind == tPunct && t.text == punct
}

func (p *parser) expect(punct string) error {
	t := p.next()
	if t.kind != tPunct || t.text != punct {
		return errorf(t.pos, "expected %q, found %s", punct, t)
	}
	return nil
}

func (p *parser) ident(what string) (token, error) {
	t := p.next()
	if t.kind != tIdent {
		return t, errorf(t.pos, "expected %s, found %s", what, t)
	}
	return t, nil
}

// newName reserves a name for a declaration.
func (p *parser) newName(t token) error {
	if p.names[t.text] || keywords[t.text] {
		return errorf(t.pos, "%q is already declared", t.text)
	}
	if _, ok := constants[t.text]; ok {
		return errorf(t.pos, "%q is a built-in constant", t.text)
	}
	if _, ok := functions[t.text]; ok {
		return errorf(t.pos, "%q is a built-in function", t.text)
	}
	if _, ok := quantum.LookupGate(t.text); ok {
		return errorf(t.pos, "%q is a built-in gate", t.text)
	}
	p.names[t.text] = true
	return nil
}

var keywords = map[string]bool{"OPENQASM": true, "include": true, "qubit": true, "qreg": true, "bit": true, "creg": true,
	"input": true, "gate": true, "measure": true, "barrier": true, "ctrl": true, "negctrl": true, "inv": true, "pow": true,
	"float": true, "angle": true, "reset": true}

// size reads an optional "[n]" register size.
func (p *parser) size() (int, bool, error) {
	if !p.is("[") {
		return 1, false, nil
	}
	p.next()
	t := p.next()
	if t.kind != tInt {
		return 0, false, errorf(t.pos, "expected a register size, found %s", t)
	}
	n, err := strconv.Atoi(strings.ReplaceAll(t.text, "_", ""))
	if err != nil || n < 1 || n > MaxQubits {
		return 0, false, errorf(t.pos, "register size %s is not between 1 and %d", t.text, MaxQubits)
	}
	return n, true, p.expect("]")
}

func (p *parser) statement() error {
	t := p.peek()
	if t.kind == tPragma {
		p.next()
		return p.pragma(t)
	}
	if t.kind != tIdent {
		return errorf(t.pos, "expected a statement, found %s", t)
	}
	switch t.text {
	case "OPENQASM":
		return errorf(t.pos, "the OPENQASM version must be the first statement")
	case "include":
		p.next()
		s := p.next()
		if s.kind != tString {
			return errorf(s.pos, "expected a file name, found %s", s)
		}
		if s.text != `"stdgates.inc"` {
			return errorf(s.pos, "cannot include %s: only \"stdgates.inc\" (whose gates are built in)", s.text)
		}
		return p.expect(";")
	case "qubit", "bit":
		p.next()
		n, _, err := p.size()
		if err != nil {
			return err
		}
		name, err := p.ident("a register name")
		if err != nil {
			return err
		}
		if err := p.declare(t.text == "qubit", name, n); err != nil {
			return err
		}
		if t.text == "bit" && p.is("=") {
			p.next()
			if m, err := p.ident("measure"); err != nil || m.text != "measure" {
				return errorf(m.pos, "expected measure, found %s", m)
			}
			if err := p.measure(n); err != nil {
				return err
			}
		}
		return p.expect(";")
	case "qreg", "creg":
		p.next()
		name, err := p.ident("a register name")
		if err != nil {
			return err
		}
		n, _, err := p.size()
		if err != nil {
			return err
		}
		if err := p.declare(t.text == "qreg", name, n); err != nil {
			return err
		}
		return p.expect(";")
	case "input":
		p.next()
		ty, err := p.ident("a type")
		if err != nil {
			return err
		}
		if ty.text != "float" && ty.text != "angle" {
			return errorf(ty.pos, "input parameters must be float or angle, not %s", ty.text)
		}
		if _, _, err := p.size(); err != nil { // float[64]: the width is irrelevant, angles are float64
			return err
		}
		name, err := p.ident("a parameter name")
		if err != nil {
			return err
		}
		if err := p.newName(name); err != nil {
			return err
		}
		p.prog.Inputs = append(p.prog.Inputs, name.text)
		return p.expect(";")
	case "gate":
		return p.gateDefinition()
	case "measure":
		p.next()
		if err := p.measure(0); err != nil {
			return err
		}
		return p.expect(";")
	case "barrier":
		p.next()
		for !p.is(";") {
			if _, err := p.qarg(); err != nil {
				return err
			}
			if !p.is(";") {
				if err := p.expect(","); err != nil {
					return err
				}
			}
		}
		return p.expect(";")
	case "reset", "if", "for", "while", "def", "const", "let", "box", "delay", "output", "int", "uint", "bool",
		"complex", "duration", "stretch", "return", "end", "defcal", "cal", "extern", "switch":
		return errorf(t.pos, "%s is not supported (this subset has declarations, gates, gate definitions, measure and input parameters)", t.text)
	}
	if _, ok := p.cregs[t.text]; ok {
		return p.assignment()
	}
	return p.topCall()
}

func (p *parser) declare(quantumReg bool, name token, n int) error {
	if err := p.newName(name); err != nil {
		return err
	}
	if quantumReg {
		if p.prog.NumQubits+n > p.limits.Qubits {
			return &QubitsError{Pos: name.pos, Qubits: p.prog.NumQubits + n, Limit: p.limits.Qubits}
		}
		p.qregs[name.text] = register{p.prog.NumQubits, n}
		p.prog.Registers = append(p.prog.Registers, Register{name.text, p.prog.NumQubits, n})
		p.prog.NumQubits += n
	} else {
		p.cregs[name.text] = register{0, n}
	}
	return nil
}

// assignment is "b = measure q;" or "b[i] = measure q[j];".
func (p *parser) assignment() error {
	width, err := p.bits()
	if err != nil {
		return err
	}
	if err := p.expect("="); err != nil {
		return err
	}
	m := p.next()
	if m.kind != tIdent || m.text != "measure" {
		return errorf(m.pos, "only measurements can be assigned to bits, found %s", m)
	}
	if err := p.measure(width); err != nil {
		return err
	}
	return p.expect(";")
}

// bits reads a bit operand, a register or one of its bits, and returns its width.
func (p *parser) bits() (int, error) {
	b, err := p.ident("a bit register")
	if err != nil {
		return 0, err
	}
	reg, ok := p.cregs[b.text]
	if !ok {
		return 0, errorf(b.pos, "%s is not a bit register", b.text)
	}
	if !p.is("[") {
		return reg.size, nil
	}
	p.next()
	idx := p.next()
	if k, err := strconv.Atoi(idx.text); idx.kind != tInt || err != nil || k >= reg.size {
		return 0, errorf(idx.pos, "expected an index of %s (size %d), found %s", b.text, reg.size, idx)
	}
	return 1, p.expect("]")
}

// measure reads the qubits after "measure" and, in OpenQASM 2's form, "-> bits". width is the size of the
// bits assigned (0: none); it must match the qubits'.
func (p *parser) measure(width int) error {
	pos := p.peek().pos
	qs, err := p.qarg()
	if err != nil {
		return err
	}
	if width == 0 && p.is("->") {
		p.next()
		if width, err = p.bits(); err != nil {
			return err
		}
	}
	if width > 0 && width != len(qs) {
		return errorf(pos, "%d bits cannot hold the measurement of %d qubits", width, len(qs))
	}
	for _, q := range qs {
		if p.measured[q] {
			return errorf(pos, "qubit %d is measured twice", q)
		}
		p.measured[q] = true
		p.prog.Measured = append(p.prog.Measured, q)
	}
	return nil
}

// qarg reads a qubit operand: a register, or one of its qubits.
func (p *parser) qarg() ([]int, error) {
	name, err := p.ident("a qubit")
	if err != nil {
		return nil, err
	}
	reg, ok := p.qregs[name.text]
	if !ok {
		return nil, errorf(name.pos, "%s is not a qubit register", name.text)
	}
	if !p.is("[") {
		qs := make([]int, reg.size)
		for i := range qs {
			qs[i] = reg.start + i
		}
		return qs, nil
	}
	p.next()
	idx := p.next()
	k, err := strconv.Atoi(idx.text)
	if idx.kind != tInt || err != nil || k >= reg.size {
		return nil, errorf(idx.pos, "expected an index of %s (size %d), found %s", name.text, reg.size, idx)
	}
	return []int{reg.start + k}, p.expect("]")
}

// modifiers reads "ctrl @", "ctrl(n) @" and "inv @" before a gate name.
func (p *parser) modifiers() (ctrl int, inv bool, err error) {
	for {
		t := p.peek()
		if t.kind != tIdent {
			return ctrl, inv, nil
		}
		switch t.text {
		case "ctrl":
			p.next()
			n := 1
			if p.is("(") {
				p.next()
				c := p.next()
				if n, err = strconv.Atoi(c.text); c.kind != tInt || err != nil || n < 1 || n > MaxQubits {
					return 0, false, errorf(c.pos, "expected a number of controls, found %s", c)
				}
				if err := p.expect(")"); err != nil {
					return 0, false, err
				}
			}
			ctrl += n
		case "inv":
			p.next()
			inv = !inv
		case "negctrl", "pow":
			return 0, false, errorf(t.pos, "the %s modifier is not supported (ctrl and inv are)", t.text)
		default:
			return ctrl, inv, nil
		}
		if err := p.expect("@"); err != nil {
			return 0, false, err
		}
	}
}

// callHead reads modifiers, the gate name and its angles; scope says which identifiers angles may use.
func (p *parser) callHead(scope map[string]bool) (gateCall, error) {
	var c gateCall
	var err error
	if c.ctrl, c.inv, err = p.modifiers(); err != nil {
		return c, err
	}
	name, err := p.ident("a gate")
	if err != nil {
		return c, err
	}
	c.name, c.pos = name.text, name.pos
	if _, ok := quantum.LookupGate(c.name); !ok && p.gates[c.name] == nil {
		return c, errorf(name.pos, "unknown gate %s", c.name)
	}
	if p.is("(") {
		p.next()
		for !p.is(")") {
			e, err := p.expr(scope)
			if err != nil {
				return c, err
			}
			c.args = append(c.args, e)
			if !p.is(")") {
				if err := p.expect(","); err != nil {
					return c, err
				}
			}
		}
		p.next()
	}
	return c, nil
}

func (p *parser) inputScope() map[string]bool {
	s := map[string]bool{}
	for _, in := range p.prog.Inputs {
		s[in] = true
	}
	return s
}

// topCall is a gate applied to qubits of the program's registers, broadcast over whole registers.
func (p *parser) topCall() error {
	c, err := p.callHead(p.inputScope())
	if err != nil {
		return err
	}
	var args [][]int
	width := 1
	for {
		pos := p.peek().pos
		qs, err := p.qarg()
		if err != nil {
			return err
		}
		if len(qs) > 1 {
			if width > 1 && len(qs) != width {
				return errorf(pos, "registers of different sizes (%d and %d) in one gate", width, len(qs))
			}
			width = len(qs)
		}
		args = append(args, qs)
		if p.is(";") {
			break
		}
		if err := p.expect(","); err != nil {
			return err
		}
	}
	p.next()
	for k := 0; k < width; k++ {
		qs := make([]int, len(args))
		for j, a := range args {
			qs[j] = a[0]
			if len(a) > 1 {
				qs[j] = a[k]
			}
		}
		if err := p.apply(c.name, c.ctrl, c.inv, c.args, qs, c.pos); err != nil {
			return err
		}
	}
	return nil
}

// apply appends gate name (a built-in, or a definition, inlined) with ctrl extra controls, inverted if inv.
func (p *parser) apply(name string, ctrl int, inv bool, args []Expr, qs []int, pos Pos) error {
	nq, np := 0, 0
	g, builtin := quantum.LookupGate(name)
	def := p.gates[name]
	if builtin {
		nq, np = g.Qubits(), g.Params
	} else {
		nq, np = len(def.qubits), len(def.params)
	}
	if len(qs) != ctrl+nq {
		return errorf(pos, "%s takes %d qubits, got %d", name, ctrl+nq, len(qs))
	}
	if len(args) != np {
		return errorf(pos, "%s takes %d angles, got %d", name, np, len(args))
	}
	for i, q := range qs {
		if p.measured[q] {
			return errorf(pos, "gate %s on qubit %d after it was measured: measurements must come last", name, q)
		}
		for _, r := range qs[:i] {
			if r == q {
				return errorf(pos, "%s uses qubit %d twice", name, q)
			}
		}
	}
	if builtin {
		if len(p.prog.Ops) >= p.limits.Gates {
			return errorf(pos, "the program has more than %d gates once gate definitions are expanded", p.limits.Gates)
		}
		op := Op{Gate: g.Base, Qubits: qs, Controls: ctrl + g.Controls, Params: args, Pos: pos}
		if inv {
			invert(&op)
		}
		p.prog.Ops = append(p.prog.Ops, op)
		return nil
	}
	bind := map[string]Expr{}
	for i, name := range def.params {
		bind[name] = args[i]
	}
	qubit := map[string]int{}
	for i, name := range def.qubits {
		qubit[name] = qs[ctrl+i]
	}
	for k := range def.body {
		c := def.body[k]
		if inv {
			c = def.body[len(def.body)-1-k]
		}
		inner := append([]int(nil), qs[:ctrl]...)
		for _, name := range c.qubits {
			inner = append(inner, qubit[name])
		}
		sub := make([]Expr, len(c.args))
		for i, a := range c.args {
			sub[i] = subst(a, bind)
		}
		if err := p.apply(c.name, ctrl+c.ctrl, inv != c.inv, sub, inner, c.pos); err != nil {
			return err
		}
	}
	return nil
}

// invert turns a base gate into its inverse.
func invert(op *Op) {
	switch op.Gate {
	case "s", "t":
		op.Gate += "dg"
	case "sdg", "tdg":
		op.Gate = op.Gate[:1]
	case "rx", "ry", "rz", "phase":
		op.Params = []Expr{neg{op.Params[0]}}
	case "u": // U(θ,φ,λ)† = U(-θ,-λ,-φ)
		op.Params = []Expr{neg{op.Params[0]}, neg{op.Params[2]}, neg{op.Params[1]}}
	}
}

// gateDefinition reads "gate name(params) qubits { calls }".
func (p *parser) gateDefinition() error {
	p.next()
	name, err := p.ident("a gate name")
	if err != nil {
		return err
	}
	if err := p.newName(name); err != nil {
		return err
	}
	def := &gateDef{}
	scope := map[string]bool{}
	param := func(list *[]string) error {
		t, err := p.ident("a parameter name")
		if err != nil {
			return err
		}
		if scope[t.text] {
			return errorf(t.pos, "%s is declared twice", t.text)
		}
		scope[t.text] = true
		*list = append(*list, t.text)
		return nil
	}
	if p.is("(") {
		p.next()
		for !p.is(")") {
			if err := param(&def.params); err != nil {
				return err
			}
			if !p.is(")") {
				if err := p.expect(","); err != nil {
					return err
				}
			}
		}
		p.next()
	}
	angles := map[string]bool{}
	for _, a := range def.params {
		angles[a] = true
	}
	for !p.is("{") {
		if err := param(&def.qubits); err != nil {
			return err
		}
		if !p.is("{") {
			if err := p.expect(","); err != nil {
				return err
			}
		}
	}
	if len(def.qubits) == 0 {
		return errorf(name.pos, "gate %s has no qubits", name.text)
	}
	p.next()
	for !p.is("}") {
		if p.peek().kind == tEOF {
			return errorf(p.peek().pos, "gate %s: expected \"}\"", name.text)
		}
		c, err := p.callHead(angles)
		if err != nil {
			return err
		}
		for {
			q, err := p.ident("a qubit")
			if err != nil {
				return err
			}
			if !scope[q.text] || angles[q.text] {
				return errorf(q.pos, "%s is not a qubit of gate %s", q.text, name.text)
			}
			c.qubits = append(c.qubits, q.text)
			if p.is(";") {
				break
			}
			if err := p.expect(","); err != nil {
				return err
			}
		}
		p.next()
		if err := p.checkCall(c); err != nil {
			return err
		}
		def.body = append(def.body, c)
	}
	p.next()
	p.gates[name.text] = def
	return nil
}

// checkCall checks the operand counts of a call in a gate body when it is defined, not first when it is used.
func (p *parser) checkCall(c gateCall) error {
	nq, np := 0, 0
	if g, ok := quantum.LookupGate(c.name); ok {
		nq, np = g.Qubits(), g.Params
	} else {
		nq, np = len(p.gates[c.name].qubits), len(p.gates[c.name].params)
	}
	if len(c.qubits) != c.ctrl+nq || len(c.args) != np {
		return errorf(c.pos, "%s takes %d angles and %d qubits, got %d and %d", c.name, np, c.ctrl+nq, len(c.args), len(c.qubits))
	}
	for i, q := range c.qubits {
		for _, r := range c.qubits[:i] {
			if q == r {
				return errorf(c.pos, "%s uses qubit %s twice", c.name, q)
			}
		}
	}
	return nil
}

// expr parses an angle expression with the usual precedence: + -, then * /, then unary -, then ** (right
// associative).
func (p *parser) expr(scope map[string]bool) (Expr, error) {
	return p.binaryExpr(scope, 0)
}

var precedence = [][]string{{"+", "-"}, {"*", "/"}}

func (p *parser) binaryExpr(scope map[string]bool, level int) (Expr, error) {
	if level == len(precedence) {
		return p.unary(scope)
	}
	x, err := p.binaryExpr(scope, level+1)
	if err != nil {
		return nil, err
	}
	for {
		t := p.peek()
		if t.kind != tPunct || (t.text != precedence[level][0] && t.text != precedence[level][1]) {
			return x, nil
		}
		p.next()
		y, err := p.binaryExpr(scope, level+1)
		if err != nil {
			return nil, err
		}
		x = binary{t.text, x, y}
	}
}

func (p *parser) unary(scope map[string]bool) (Expr, error) {
	if p.is("-") {
		p.next()
		x, err := p.unary(scope)
		return neg{x}, err
	}
	if p.is("+") {
		p.next()
		return p.unary(scope)
	}
	x, err := p.primary(scope)
	if err != nil {
		return nil, err
	}
	if p.is("**") {
		p.next()
		y, err := p.unary(scope)
		if err != nil {
			return nil, err
		}
		return binary{"**", x, y}, nil
	}
	return x, nil
}

func (p *parser) primary(scope map[string]bool) (Expr, error) {
	t := p.next()
	switch t.kind {
	case tInt, tFloat:
		v, err := parseNumber(t)
		if err != nil {
			return nil, err
		}
		return num(v), nil
	case tIdent:
		if v, ok := constants[t.text]; ok {
			return num(v), nil
		}
		if fn, ok := functions[t.text]; ok {
			if err := p.expect("("); err != nil {
				return nil, err
			}
			x, err := p.expr(scope)
			if err != nil {
				return nil, err
			}
			return call{fn, x}, p.expect(")")
		}
		if !scope[t.text] {
			return nil, errorf(t.pos, "unknown identifier %s in an angle", t.text)
		}
		return ref{t.text, t.pos}, nil
	case tPunct:
		if t.text == "(" {
			x, err := p.expr(scope)
			if err != nil {
				return nil, err
			}
			return x, p.expect(")")
		}
	}
	return nil, errorf(t.pos, "expected an angle, found %s", t)
}

// pragma reads Braket's result-type pragmas: "braket result expectation z(q[0]) @ x(q[1])" and "braket result
// probability [qubits | all]".
func (p *parser) pragma(t token) error {
	toks, err := lex(t.text)
	if err != nil {
		return errorf(t.pos, "in #pragma: %v", err)
	}
	for i := range toks { // positions in the pragma's own text, moved to the line it is on
		toks[i].pos = Pos{t.pos.Line, t.pos.Col + len("#pragma") + toks[i].pos.Col - 1}
	}
	words := func(n int) string {
		var ws []string
		for _, w := range toks[:min(n, len(toks))] {
			ws = append(ws, w.text)
		}
		return strings.Join(ws, " ")
	}
	sub := &parser{toks: toks, qregs: p.qregs, measured: map[int]bool{}}
	rt := ResultType{Pos: t.pos}
	switch words(3) {
	case "braket result expectation":
		sub.i = 3
		rt.Type = "expectation"
		used := map[int]bool{}
		for {
			o, err := sub.ident("an observable (x, y, z or i)")
			if err != nil {
				return err
			}
			op := strings.ToUpper(o.text)
			if op != "X" && op != "Y" && op != "Z" && op != "I" {
				return errorf(o.pos, "observable %s is not supported (x, y, z, i and their @ products are)", o.text)
			}
			if err := sub.expect("("); err != nil {
				return err
			}
			qpos := sub.peek().pos
			qs, err := sub.qarg()
			if err != nil {
				return err
			}
			if len(qs) != 1 {
				return errorf(qpos, "an observable factor acts on one qubit")
			}
			if used[qs[0]] {
				return errorf(qpos, "qubit %d appears twice in the observable", qs[0])
			}
			used[qs[0]] = true
			if err := sub.expect(")"); err != nil {
				return err
			}
			if op != "I" {
				rt.Observable = append(rt.Observable, quantum.Pauli{Op: op[0], Qubit: qs[0]})
			}
			if !sub.is("@") {
				break
			}
			sub.next()
		}
	case "braket result probability":
		sub.i = 3
		rt.Type = "probability"
		if t := sub.peek(); t.kind == tIdent && t.text == "all" {
			sub.next()
			break
		}
		for sub.peek().kind != tEOF {
			qs, err := sub.qarg()
			if err != nil {
				return err
			}
			rt.Qubits = append(rt.Qubits, qs...)
			if sub.peek().kind != tEOF {
				if err := sub.expect(","); err != nil {
					return err
				}
			}
		}
	default:
		return errorf(t.pos, "unsupported pragma %q (braket result expectation and probability are supported)", t.text)
	}
	if end := sub.peek(); end.kind != tEOF {
		return errorf(end.pos, "unexpected %s at the end of the pragma", end)
	}
	p.prog.Results = append(p.prog.Results, rt)
	return nil
}

// Bind evaluates the angles with the given input values; every declared input needs a value and every value
// a declared input.
func (prog *Program) Bind(inputs map[string]float64) ([]quantum.Op, error) {
	declared := map[string]bool{}
	for _, in := range prog.Inputs {
		declared[in] = true
		if _, ok := inputs[in]; !ok {
			return nil, fmt.Errorf("no value for input parameter %q", in)
		}
	}
	for k := range inputs {
		if !declared[k] {
			return nil, fmt.Errorf("input %q is not a parameter of the program (it declares %v)", k, prog.Inputs)
		}
	}
	ops := make([]quantum.Op, len(prog.Ops))
	for i, op := range prog.Ops {
		ops[i] = quantum.Op{Gate: op.Gate, Qubits: op.Qubits, Controls: op.Controls}
		for _, e := range op.Params {
			v, err := e.eval(inputs)
			if err != nil {
				return nil, err
			}
			if math.IsNaN(v) || math.IsInf(v, 0) {
				return nil, errorf(op.Pos, "angle of %s is %v", op.Gate, v)
			}
			ops[i].Params = append(ops[i].Params, v)
		}
	}
	return ops, nil
}
