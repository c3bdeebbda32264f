package qasm

import (
	"math"
	"strconv"
	"strings"
)

// Expr is an angle expression: numbers, pi, tau, euler, input parameters, + - * / ** and a few functions.
type Expr interface {
	eval(inputs map[string]float64) (float64, error)
}

type num float64

func (n num) eval(map[string]float64) (float64, error) { return float64(n), nil }

// ref is an input parameter, looked up when the program is bound.
type ref struct {
	name string
	pos  Pos
}

func (r ref) eval(in map[string]float64) (float64, error) {
	v, ok := in[r.name]
	if !ok {
		return 0, errorf(r.pos, "no value for input parameter %q", r.name)
	}
	return v, nil
}

type neg struct{ x Expr }

func (n neg) eval(in map[string]float64) (float64, error) {
	v, err := n.x.eval(in)
	return -v, err
}

type binary struct {
	op   string
	x, y Expr
}

func (b binary) eval(in map[string]float64) (float64, error) {
	x, err := b.x.eval(in)
	if err != nil {
		return 0, err
	}
	y, err := b.y.eval(in)
	if err != nil {
		return 0, err
	}
	switch b.op {
	case "+":
		return x + y, nil
	case "-":
		return x - y, nil
	case "*":
		return x * y, nil
	case "/":
		return x / y, nil
	default: // "**"
		return math.Pow(x, y), nil
	}
}

type call struct {
	fn func(float64) float64
	x  Expr
}

func (c call) eval(in map[string]float64) (float64, error) {
	v, err := c.x.eval(in)
	return c.fn(v), err
}

var functions = map[string]func(float64) float64{
	"sin": math.Sin, "cos": math.Cos, "tan": math.Tan, "arcsin": math.Asin, "arccos": math.Acos,
	"arctan": math.Atan, "exp": math.Exp, "log": math.Log, "sqrt": math.Sqrt,
}

var constants = map[string]float64{"pi": math.Pi, "π": math.Pi, "tau": 2 * math.Pi, "τ": 2 * math.Pi,
	"euler": math.E, "ℇ": math.E}

// subst replaces the gate parameters of a gate body by the arguments of a call.
func subst(e Expr, args map[string]Expr) Expr {
	switch e := e.(type) {
	case ref:
		if a, ok := args[e.name]; ok {
			return a
		}
		return e
	case neg:
		return neg{subst(e.x, args)}
	case binary:
		return binary{e.op, subst(e.x, args), subst(e.y, args)}
	case call:
		return call{e.fn, subst(e.x, args)}
	}
	return e
}

// parseNumber reads an integer or float literal (underscores allowed between digits).
func parseNumber(t token) (float64, error) {
	v, err := strconv.ParseFloat(strings.ReplaceAll(t.text, "_", ""), 64)
	if err != nil {
		return 0, errorf(t.pos, "bad number %s", t.text)
	}
	return v, nil
}
