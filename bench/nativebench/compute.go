// Compute-bound electrons for bench/native_run.sh: naive recursive Fib(30) and a 200x200 float64 matrix
// product. This file is both a cell file, run with `govalent run bench/nativebench/compute.go` against a running
// dispatcher, and the package that compute_test.go benchmarks with `go test -bench`, so both measure the same
// funcs.
//
// It dispatches the electron $FUNC (fib30 or matmul200) once with a small argument to warm up (the native
// build of its program, the worker processes), then once timed, and prints one line:
//
//	compute tier=TIER func=fib30 node_s=... wall_s=... result=...
//
// node_s is the electron node's EndTime - StartTime in the result (the worker's time for the call); wall_s is
// ct.Dispatch to ct.GetResult returning. TIER comes from $TIER and only labels the line.
package main

import (
	"fmt"
	"os"
	"time"

	ct "github.com/govalent/govalent/ct"
)

// Fib is the naive recursive Fibonacci number.
func Fib(n int) int {
	if n < 2 {
		return n
	}
	return Fib(n-1) + Fib(n-2)
}

// MatMul multiplies two n×n matrices of float64 (filled with small repeating values) in i-k-j order and
// returns the sum of the product's elements. Filling them is O(n²) against the product's O(n³).
func MatMul(n int) float64 {
	a, b, c := make([]float64, n*n), make([]float64, n*n), make([]float64, n*n)
	for i := range a {
		a[i] = float64(i%7) - 3
		b[i] = float64(i%5) * 0.5
	}
	for i := 0; i < n; i++ {
		for k := 0; k < n; k++ {
			aik := a[i*n+k]
			for j := 0; j < n; j++ {
				c[i*n+j] += aik * b[k*n+j]
			}
		}
	}
	sum := 0.0
	for _, v := range c {
		sum += v
	}
	return sum
}

var fib = ct.Electron(Fib)
var matmul = ct.Electron(MatMul)

var fibFlow = ct.Lattice(func(n int) ct.Future { return fib(n) })
var matmulFlow = ct.Lattice(func(n int) ct.Future { return matmul(n) })

func main() {
	flows := map[string]struct {
		flow       *ct.Workflow
		warm, size int
	}{"fib30": {fibFlow, 10, 30}, "matmul200": {matmulFlow, 10, 200}}
	name := os.Getenv("FUNC")
	c, ok := flows[name]
	if !ok {
		panic(fmt.Sprintf("FUNC=%q: want fib30 or matmul200", name))
	}
	timed(c.flow, c.warm)
	node, wall, result := timed(c.flow, c.size)
	fmt.Printf("compute tier=%s func=%s node_s=%.6f wall_s=%.3f result=%v\n", os.Getenv("TIER"), name, node, wall, result)
}

// timed dispatches flow(arg), waits for it to complete, and returns its electron's run time, the wall time
// and the electron's result.
func timed(flow *ct.Workflow, arg int) (node, wall float64, result any) {
	t0 := time.Now()
	res, err := ct.DispatchSync(flow, arg)
	if err != nil {
		panic(err)
	}
	wall = time.Since(t0).Seconds()
	if res.Status != ct.StatusCompleted {
		panic(fmt.Sprintf("dispatch %s: %s: %s", res.DispatchID, res.Status, res.Error))
	}
	for _, n := range res.Nodes {
		if n.Kind == ct.KindElectron {
			return n.EndTime.Sub(*n.StartTime).Seconds(), wall, res.Result
		}
	}
	panic(fmt.Sprintf("dispatch %s has no electron node", res.DispatchID))
}
